"""The job's Cluster run in this process: the driver steps (cuts, quotas, mixtures) over
score files on disk, without Ray, to test them against plain loops on many random cases."""

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from zipfit_ray.job.runtime import RayCluster


class LocalCluster(RayCluster):
    """RayCluster whose tasks are plain calls, one after the other."""

    def __init__(self, storage_options: dict[str, Any] | None = None) -> None:
        self.limit = 1
        self.storage_options = storage_options or {}

    def _run(
        self, function: Callable[..., Any], keyed: Iterable[tuple[Any, Any]], common: tuple
    ) -> Iterator[tuple[Any, Any]]:
        return ((key, function(item, *common)) for key, item in keyed)
