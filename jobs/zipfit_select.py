"""Entrypoint for `ray job submit --working-dir . -- python jobs/zipfit_select.py select ...`.

Takes the same arguments as the `zipfit-ray` CLI (so does `python -m zipfit_ray`); under
`ray job submit` RAY_ADDRESS is set, so the job joins the cluster it was submitted to, and
the working directory is on the driver's PYTHONPATH, so the package imports from it.
"""

import sys

from zipfit_ray.cli import main

if __name__ == "__main__":
    sys.exit(main())
