"""Labelled pools for measuring selection quality, made from text already on the machine.

Two target domains, each held out from its own source: Python functions from the standard
library (code; targets from one module in ten) and the docstrings of SymPy, a math library
(mathematical prose with formulas; targets from one module in five; SymPy comes with the
dev environment). Distractors come from several languages and kinds of prose, whichever the
machine has: English documentation (the standard library's docstrings: prose about code),
license texts, C headers, Perl, Tcl, CMake and JavaScript; and, closer to the domains,
Markdown with code blocks (the installed packages' descriptions), Java with its Javadoc
(a JDK's src.zip) and mathematical prose that is not SymPy's (mpmath's docstrings).

Two pools, because length bias only shows in one of them:
- ``natural``: in-domain rows are whole functions, distractors 30-line chunks of up to
  4,000 characters, so in-domain rows are shorter and short length is itself a signal;
- ``matched``: every distractor row is cut to a length drawn from the in-domain rows'
  lengths, so length says nothing and only content can tell the rows apart.

Nothing is downloaded and nothing is written: every pool is rebuilt from the same files
with the same seed.
"""

from __future__ import annotations

import glob
import importlib.util
import random
import sysconfig
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zipfit_ray.demo import (
    MAX_CHARS,
    MIN_CHARS,
    documentation_prose,
    is_held_out,
    python_functions,
    python_sources,
)

DOMAINS = ("python", "math")
POOLS = ("natural", "matched")
IN_DOMAIN_SHARE = 0.10  # of the pool, per domain
LINES_PER_CHUNK = 30
DISTRACTOR_FILES = {  # kind -> (root, glob)
    "licenses": ("/usr/share/common-licenses", "*"),
    "c": ("/usr/include", "*.h"),
    "perl": ("/usr/share/perl", "*.pm"),
    "tcl": ("/usr/share/tcltk", "*.tcl"),
    "cmake": ("/usr/share/cmake-3.25/Modules", "*.cmake"),
    "javascript": ("/usr/lib/node_modules/npm", "*.js"),
}


@dataclass(frozen=True)
class LabelledPool:
    name: str
    texts: list[bytes]
    labels: np.ndarray  # the row's domain ("python", "math") or "other"
    kinds: np.ndarray  # where each row came from (python, math, prose, perl, ...)

    def lengths(self) -> np.ndarray:
        return np.fromiter((len(t) for t in self.texts), np.int64, len(self.texts))


def _package_docstrings(name: str) -> list[tuple[str, str]]:
    """(module, docstring) of an installed package's long docstrings; [] if it is absent."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return []
    root = Path(spec.origin).parent
    return documentation_prose(root, python_sources(root))


def _sympy_docstrings() -> tuple[list[str], list[str]]:
    """(pool docstrings, held-out target docstrings) of SymPy, split by module."""
    docs = _package_docstrings("sympy")
    if not docs:
        raise SystemExit("the math domain needs SymPy: pip install sympy (or '.[dev]')")
    held = [text for module, text in docs if zlib.crc32(module.encode()) % 5 == 0]
    kept = [text for module, text in docs if zlib.crc32(module.encode()) % 5 != 0]
    return kept, held


def _file_chunks(root: str, pattern: str) -> list[str]:
    """Whole files of one distractor kind (cut into rows later)."""
    base = Path(root)
    if not base.is_dir():
        return []
    texts = []
    for path in sorted(base.rglob(pattern)):
        if path.is_file() and "test" not in path.name:
            text = path.read_text(encoding="utf-8", errors="replace")
            if len(text) >= MIN_CHARS:
                texts.append(text)
    return texts


def _package_descriptions() -> list[str]:
    """The long descriptions of the installed packages (Markdown or reStructuredText, with
    code blocks): the body of each METADATA file."""
    found = []
    for path in sorted(glob.glob(f"{sysconfig.get_paths()['purelib']}/*.dist-info/METADATA")):
        body = Path(path).read_text(encoding="utf-8", errors="replace").partition("\n\n")[2]
        if len(body) >= MIN_CHARS:
            found.append(body)
    return found


def _javadoc_sources() -> list[str]:
    """java.util's sources from the first JDK src.zip on the machine: code with its docs."""
    for path in sorted(glob.glob("/usr/lib/jvm/*/lib/src.zip")):
        if Path(path).is_file():
            with zipfile.ZipFile(path) as archive:
                names = [
                    n
                    for n in archive.namelist()
                    if n.startswith("java.base/java/util/") and n.endswith(".java")
                ]
                return [archive.read(n).decode("utf-8", errors="replace") for n in sorted(names)]
    return []


def _sources() -> tuple[dict[str, tuple[list[str], list[str]]], dict[str, list[str]]]:
    """In-domain (pool texts, held-out targets) per domain; distractor documents per kind."""
    paths = sysconfig.get_paths()
    stdlib = Path(paths["stdlib"])
    modules = python_sources(stdlib)
    functions = python_functions(modules)
    domains = {
        "python": (
            [text for module, text in functions if not is_held_out(module)],
            [text for module, text in functions if is_held_out(module)],
        ),
        "math": _sympy_docstrings(),
    }
    documents = {"prose": [text for _, text in documentation_prose(stdlib, modules)]}
    for kind, (root, pattern) in DISTRACTOR_FILES.items():
        documents[kind] = _file_chunks(root, pattern)
    documents["markdown"] = _package_descriptions()
    documents["java"] = _javadoc_sources()
    documents["math-prose"] = [text for _, text in _package_docstrings("mpmath")]
    return domains, {kind: docs for kind, docs in documents.items() if docs}


def _line_chunks(document: str) -> list[str]:
    lines = document.splitlines()
    chunks = (
        "\n".join(lines[start : start + LINES_PER_CHUNK])
        for start in range(0, len(lines), LINES_PER_CHUNK)
    )
    return [chunk[:MAX_CHARS] for chunk in chunks if len(chunk) >= MIN_CHARS]


def _window(document: str, length: int, rng: random.Random) -> str:
    """About ``length`` characters of ``document``, starting at a random line."""
    start = document.rfind("\n", 0, rng.randrange(max(1, len(document) - length + 1))) + 1
    return document[start : start + length]


def build_pools(rows: int, num_targets: int, seed: int = 0):
    """({pool name: LabelledPool}, {domain: targets as bytes}). The first targets of each
    domain's list are also its smaller target set (the harness takes prefixes)."""
    domains, documents = _sources()
    rng = random.Random(seed)
    per_domain = int(rows * IN_DOMAIN_SHARE)
    in_domain = {d: rng.sample(pool, per_domain) for d, (pool, _) in domains.items()}
    targets = {
        d: [t.encode() for t in rng.sample(held, min(num_targets, len(held)))]
        for d, (_, held) in domains.items()
    }
    in_domain_rows = [(text, d, d) for d, texts in in_domain.items() for text in texts]
    lengths = [len(text) for text, _, _ in in_domain_rows]
    kinds = sorted(documents)
    per_kind = (rows - len(in_domain_rows)) // len(kinds)

    natural, matched = list(in_domain_rows), list(in_domain_rows)
    for kind in kinds:
        chunks = [c for doc in documents[kind] for c in _line_chunks(doc)]
        natural += [(text, "other", kind) for text in rng.choices(chunks, k=per_kind)]
        long_enough = [doc for doc in documents[kind] if len(doc) >= MIN_CHARS]
        for _ in range(per_kind):
            length = rng.choice(lengths)
            candidates = [doc for doc in rng.choices(long_enough, k=8) if len(doc) >= length]
            document = candidates[0] if candidates else max(long_enough, key=len)
            matched.append((_window(document, length, rng), "other", kind))

    pools = {}
    for name, chosen in (("natural", natural), ("matched", matched)):
        rng.shuffle(chosen)
        pools[name] = LabelledPool(
            name,
            [text.encode() for text, _, _ in chosen],
            np.array([label for _, label, _ in chosen]),
            np.array([kind for _, _, kind in chosen]),
        )
    return pools, targets
