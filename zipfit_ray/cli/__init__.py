"""`zipfit-ray`: flags -> SelectConfig -> job; user mistakes become one line and exit code 2."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from zipfit_ray.cli.commands import config_from_args
from zipfit_ray.cli.parser import build_parser
from zipfit_ray.errors import ZipfitError

__all__ = ["build_parser", "config_from_args", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except ZipfitError as exc:
        if args.debug:
            raise
        print(f"zipfit-ray: error: {exc}", file=sys.stderr)
        return 2
    return 0
