"""Token counts for selection by token budget.

By default an approximation with no model: one token per word and per punctuation mark
(Unicode-aware), which is close to what subword tokenizers give on English prose and code,
and cheap next to the compressions. With a Hugging Face `tokenizer.json` (read from a local
or fsspec path, never downloaded), the counts are that tokenizer's, exactly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from zipfit_ray.errors import ZipfitError

WORD_OR_MARK = re.compile(r"\w+|[^\w\s]")


def approximate_tokens(text: bytes) -> int:
    return len(WORD_OR_MARK.findall(text.decode("utf-8", errors="replace")))


class TokenCounter:
    """Counts tokens of byte strings; built in each task from the tokenizer's JSON text."""

    def __init__(self, tokenizer_json: str | None = None) -> None:
        self._tokenizer = None
        if tokenizer_json is not None:
            try:
                from tokenizers import Tokenizer
            except ImportError as exc:
                raise ZipfitError(
                    "--tokenizer: needs the `tokenizers` package "
                    "(pip install 'zipfit-ray[tokenizers]')"
                ) from exc
            try:
                self._tokenizer = Tokenizer.from_str(tokenizer_json)
            except Exception as exc:  # the library raises plain Exception on bad JSON
                raise ZipfitError(f"--tokenizer: not a tokenizer.json file ({exc})") from exc

    def count(self, texts: Sequence[bytes]) -> np.ndarray:
        if self._tokenizer is None:
            return np.fromiter((approximate_tokens(t) for t in texts), np.int64, len(texts))
        decoded = [t.decode("utf-8", errors="replace") for t in texts]
        encodings = self._tokenizer.encode_batch(decoded, add_special_tokens=False)
        return np.fromiter((len(e.ids) for e in encodings), np.int64, len(texts))
