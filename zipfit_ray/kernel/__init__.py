"""The kernel: C(s) for every compressor backend (with its optional C loop, ``_native.c``)
and ZIP-FIT's alignment of many candidates to prepared targets. No Ray, no files."""
