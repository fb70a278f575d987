"""A toy pool where the right data is unmistakable: in-domain rows are short Python
functions written from one template, the rest strings of a few letters (another
alphabet). A model trained on the in-domain rows reads held-out functions far better than
one trained on a random sample of the pool, after a few dozen steps of a tiny model."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zipfit_ray.evaluation import ModelSettings, TrainingSettings

POOL_ROWS = 400
IN_DOMAIN_EVERY = 5  # one row in five
TINY = TrainingSettings(
    steps=40,
    batch_size=16,
    evaluations=2,
    model=ModelSettings(layers=1, width=32, heads=2, context=32),
)


def function_text(rng: random.Random) -> str:
    n = rng.randrange(1000)
    return "".join(f"def add_{n + k}(x):\n    return x + {n + k}\n\n" for k in range(3))


def noise_text(rng: random.Random) -> str:
    return "".join(rng.choice("qwxzjkvbp ") for _ in range(rng.randrange(60, 200)))


@dataclass(frozen=True)
class Toy:
    pool: Path  # a directory of Parquet files (text, label)
    test: Path  # held-out functions, JSONL
    selection: Path  # a select-like --out: the in-domain rows with a zipfit_score
    in_domain: list[str]  # the pool's in-domain texts, in pool order
    noise: list[str]


@pytest.fixture(scope="session")
def toy(tmp_path_factory) -> Toy:
    rng = random.Random(0)
    rows = [
        (function_text(rng), "in") if i % IN_DOMAIN_EVERY == 0 else (noise_text(rng), "out")
        for i in range(POOL_ROWS)
    ]
    root = tmp_path_factory.mktemp("toy")
    (root / "pool").mkdir()
    table = pa.table({"text": [t for t, _ in rows], "label": [label for _, label in rows]})
    for i in range(2):
        half = table.slice(i * POOL_ROWS // 2, POOL_ROWS // 2)
        pq.write_table(half, root / "pool" / f"part-{i}.parquet", row_group_size=50)
    in_domain = [t for t, label in rows if label == "in"]
    (root / "selection").mkdir()
    scores = [rng.random() for _ in in_domain]
    pq.write_table(
        pa.table({"text": in_domain, "zipfit_score": scores}),
        root / "selection" / "part-00000.parquet",
    )
    test = root / "test.jsonl"
    test.write_text("".join(json.dumps({"text": function_text(rng)}) + "\n" for _ in range(20)))
    noise = [t for t, label in rows if label == "out"]
    return Toy(root / "pool", test, root / "selection", in_domain, noise)
