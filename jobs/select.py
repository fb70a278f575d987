"""Entrypoint for `ray job submit --working-dir . -- python jobs/select.py select ...`.

Takes the same arguments as the `zipfit-ray` CLI; under `ray job submit` RAY_ADDRESS is set,
so the job joins the cluster it was submitted to.
"""

import sys
from pathlib import Path

# Python puts this script's folder first on sys.path, where this file would shadow the
# standard library's `select` module; the repository root is what belongs there.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from zipfit_ray.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
