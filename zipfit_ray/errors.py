"""The one exception type for mistakes a user can fix (bad flags, paths, columns)."""


class ZipfitError(Exception):
    """A user-facing error: the message names the flag, file or column at fault.

    The CLI prints it on one line and exits 2; anything else is a bug and keeps its traceback.
    """
