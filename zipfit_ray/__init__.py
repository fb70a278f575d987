"""ZIP-FIT data selection (compression-based alignment to a target set) as a Ray job."""

from zipfit_ray.alignment import alignment, prepare_targets, score
from zipfit_ray.config import SelectConfig
from zipfit_ray.errors import ZipfitError

__all__ = ["SelectConfig", "ZipfitError", "alignment", "prepare_targets", "run_select", "score"]


def run_select(config: SelectConfig) -> dict:
    """Run a selection job on Ray (see zipfit_ray.job.run_select); imports Ray only when called."""
    from zipfit_ray.job import run_select as run

    return run(config)
