"""The ways of scoring a pool: exact ZIP-FIT, and approximations that compress less and
say so in their names. Each is one module with one Mode subclass (see base.py), registered
here; nothing outside this package compares mode names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zipfit_ray.errors import ZipfitError
from zipfit_ray.modes.base import Mode
from zipfit_ray.modes.cascade import Cascade
from zipfit_ray.modes.early_exit import EarlyExit
from zipfit_ray.modes.exact import Exact
from zipfit_ray.modes.prefilter import Prefilter

if TYPE_CHECKING:
    from zipfit_ray.config import SelectConfig

MODES: dict[str, type[Mode]] = {mode.name: mode for mode in (Exact, EarlyExit, Cascade, Prefilter)}
DEFAULT = Exact.name


def get(name: str) -> type[Mode]:
    if name not in MODES:
        raise ZipfitError(f"--mode: choose from {tuple(MODES)}, got {name!r}")
    return MODES[name]


def create(config: SelectConfig) -> Mode:
    """The chosen mode, for one job."""
    return get(config.scoring.mode)(config)
