"""The one exception type for mistakes a user can fix (bad flags, paths, columns), and the
one check that many flags share."""

from typing import Any


class ZipfitError(Exception):
    """A user-facing error: the message names the flag, file or column at fault.

    The CLI prints it on one line and exits 2; anything else is a bug and keeps its traceback.
    Messages often quote a library's error, so whitespace is folded to keep them one line.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


def require_positive_int(flag: str, value: Any) -> None:
    """A positive integer, or a ZipfitError naming the flag."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ZipfitError(f"{flag}: must be a positive integer, got {value!r}")
