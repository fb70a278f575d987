"""Ray itself, and all of the job that imports it: start or join Ray, ask it for its CPUs,
run plain functions as tasks with a bounded number in flight, and the Cluster a mode's
steps run on (modes.base)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np
import ray

from zipfit_ray.errors import ZipfitError
from zipfit_ray.job import worker
from zipfit_ray.selection import cut, order
from zipfit_ray.selection.amounts import Amount

T = TypeVar("T")
TASK_RETRIES = 3  # Ray reruns a task whose worker or node died this often


def run_on_ray(address: str | None, num_cpus: int | None, work: Callable[[], T]) -> T:
    """Run ``work()`` on Ray: the one already initialized in this process, else the cluster
    at ``address``, else a new local one (stopped again after). User errors raised in tasks
    come back as ZipfitError."""
    started_ray = not ray.is_initialized()
    if started_ray:
        # "local" starts a new Ray even where `ray start` left one running on this machine
        if address:
            ray.init(address=address)
        else:  # no dashboard: ~1 s less to start; progress is on stderr
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False)
    try:
        return work()
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, ZipfitError):
            raise ZipfitError(str(exc.cause)) from None
        raise
    finally:
        if started_ray:
            ray.shutdown()


def cluster_cpus() -> int:
    return int(ray.cluster_resources().get("CPU", 1))


def in_flight_limit(max_in_flight: int | None) -> int:
    """Tasks queued at once: enough to keep every CPU busy, few enough to bound memory."""
    return max_in_flight or max(2, 2 * cluster_cpus())


def bounded(submitted: Iterator[tuple[Any, ray.ObjectRef]], limit: int) -> Iterator[tuple]:
    """(key, result) of tasks submitted lazily, at most ``limit`` at a time, as they
    finish."""
    in_flight: dict[ray.ObjectRef, Any] = {}
    for key, ref in submitted:
        in_flight[ref] = key
        if len(in_flight) >= limit:
            done, _ = ray.wait(list(in_flight), num_returns=1)
            yield in_flight.pop(done[0]), ray.get(done[0])
    while in_flight:
        done, _ = ray.wait(list(in_flight), num_returns=1)
        yield in_flight.pop(done[0]), ray.get(done[0])


@ray.remote(max_retries=TASK_RETRIES)
def call(function: Callable[..., Any], *args: Any) -> Any:
    """Every task of the job: a plain function (job.worker, a mode's step), run remotely."""
    return function(*args)


@dataclass(frozen=True)
class ActorHandle:
    """A Ray actor as modes.base.Handle; picklable, so tasks can hold it."""

    actor: Any

    def call(self, method: str, *args: Any) -> Any:
        return ray.get(getattr(self.actor, method).remote(*args))

    def send(self, method: str, *args: Any) -> None:
        getattr(self.actor, method).remote(*args)


class RayCluster:
    """modes.base.Cluster on the Ray this process runs on: plain functions run as tasks,
    at most ``max_in_flight`` at a time, their results streamed back as they finish (so the
    driver adds them up instead of holding one per shard)."""

    def __init__(
        self, max_in_flight: int | None, storage_options: dict[str, Any], task_cpus: int = 1
    ) -> None:
        self.limit = in_flight_limit(max_in_flight)  # asks the cluster once, not per task
        self.storage_options = storage_options
        self.task_cpus = task_cpus  # each task's CPUs (evaluate's training runs use threads)

    def put(self, value: Any) -> ray.ObjectRef:
        return value if isinstance(value, ray.ObjectRef) else ray.put(value)

    def map(
        self, function: Callable[..., Any], items: Iterable[Any], *common: Any
    ) -> Iterator[tuple[Any, Any]]:
        """(item, function(item, *common)) for every item, in the order tasks finish."""
        return self._run(function, ((item, item) for item in items), common)

    def map_in_order(
        self, function: Callable[..., Any], items: Sequence[Any], *common: Any
    ) -> list:
        """[function(item, *common) for item in items], run as tasks."""
        found = dict(self._run(function, enumerate(items), common))
        return [found[i] for i in range(len(items))]

    def _run(
        self, function: Callable[..., Any], keyed: Iterable[tuple[Any, Any]], common: tuple
    ) -> Iterator[tuple[Any, Any]]:
        """(key, function(item, *common)) for every (key, item), as tasks finish."""
        refs = [self.put(c) for c in common]  # each put once, not once per task
        task = call.options(name=function.__name__, num_cpus=self.task_cpus)
        submitted = ((key, task.remote(function, item, *refs)) for key, item in keyed)
        return bounded(submitted, self.limit)

    def shared(self, cls: type, *args: Any) -> ActorHandle:
        return ActorHandle(ray.remote(num_cpus=0)(cls).remote(*args))

    def cut(
        self,
        rule: Amount,
        rows: np.ndarray,
        tokens: np.ndarray,
        saved: list[str],
        key: order.OrderKey = "score",
        where: cut.Where | None = None,
    ) -> cut.Boundary:
        """cut.find over shards' saved scores (those ``where`` lets through): they count
        windows and hand over the boundary's neighbourhood; the driver only adds up."""
        options = self.storage_options

        def count(windows: list[cut.Window]) -> cut.Counts:
            total = None
            for _, counted in self.map(worker.count_windows, saved, windows, options, key, where):
                total = counted if total is None else cut.add(total, counted)
            return total

        def gather(window: cut.Window) -> np.ndarray:
            found = self.map(worker.gather_window, saved, window, options, key, where)
            return order.concatenate(entries for _, entries in found)

        return replace(cut.find(rule, rows, tokens, count, gather), key=key)

    def cut_each(
        self,
        amounts: dict[str, Amount],
        histograms: dict[str, tuple[np.ndarray, np.ndarray]],
        saved: list[str],
    ) -> dict[str, cut.Boundary]:
        """Each field's cut (its order: that saved field, then row id) by its amount, all in
        lockstep (cut.find_each): every round is one pass over the shards, whatever the
        number of fields. ``histograms``: each field's rows and tokens per bin."""
        options = self.storage_options

        def count(asked: dict[str, list[cut.Window]]) -> dict[str, cut.Counts]:
            totals: dict[str, cut.Counts] = {}
            for _, counted in self.map(worker.count_windows_each, saved, asked, options):
                for key, found in counted.items():
                    totals[key] = cut.add(totals[key], found) if key in totals else found
            return totals

        def gather(asked: dict[str, cut.Window]) -> dict[str, np.ndarray]:
            parts: dict[str, list[np.ndarray]] = {key: [] for key in asked}
            for _, found in self.map(worker.gather_each, saved, asked, options):
                for key, entries in found.items():
                    parts[key].append(entries)
            return {key: order.concatenate(entries) for key, entries in parts.items()}

        searches = {key: cut.search(amounts[key], *histograms[key]) for key in amounts}
        found = cut.find_each(searches, count, gather)
        return {key: replace(boundary, key=key) for key, boundary in found.items()}
