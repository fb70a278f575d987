"""`python -m zipfit_ray ...`: the `zipfit-ray` command."""

import sys

from zipfit_ray.cli import main

sys.exit(main())
