"""ZIP-FIT data selection (compression-based alignment to a target set) as a Ray job."""

from zipfit_ray.config import SelectConfig
from zipfit_ray.errors import ZipfitError
from zipfit_ray.kernel.alignment import alignment, prepare_targets, score

__all__ = ["SelectConfig", "ZipfitError", "alignment", "prepare_targets", "run_select", "score"]


def run_select(config: SelectConfig) -> dict:
    """Run a selection job on Ray (zipfit_ray.job.select.run_select); imports Ray only now."""
    from zipfit_ray.job.select import run_select as run

    return run(config)
