"""`zipfit-ray`: flags -> SelectConfig -> job; user mistakes become one line and exit code 2."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from subprocess import list2cmdline

from zipfit_ray.cli.commands import config_from_args
from zipfit_ray.cli.parser import build_parser
from zipfit_ray.errors import ZipfitError

__all__ = ["build_parser", "config_from_args", "main"]
REDACTED = "<redacted>"  # in place of --storage-options in what Ray records


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with _command_line_kept_from_ray(getattr(args, "storage_options", "{}")):
            args.run(args)
    except ZipfitError as exc:
        if args.debug:
            raise
        print(f"zipfit-ray: error: {exc}", file=sys.stderr)
        return 2
    return 0


@contextmanager
def _command_line_kept_from_ray(storage_options: str) -> Iterator[None]:
    """Ray records a driver's command line as its job's entrypoint (`ray list jobs`, the
    dashboard): the --storage-options given (credentials) are left out of it."""
    if storage_options.strip() in ("", "{}"):
        yield
        return
    import ray._private.utils as ray_utils

    original = getattr(ray_utils, "get_entrypoint_name", None)
    if original is None:  # another Ray: tests/test_secrets.py says whether it still leaks
        yield
        return

    def entrypoint() -> str:  # what Ray would record: this process's command line
        return list2cmdline([a.replace(storage_options, REDACTED) for a in sys.orig_argv])

    ray_utils.get_entrypoint_name = entrypoint  # read by ray.init when it connects
    try:
        yield
    finally:
        ray_utils.get_entrypoint_name = original
