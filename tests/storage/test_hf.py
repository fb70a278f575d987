"""hf:// pools through huggingface_hub's fsspec filesystem, offline: a stand-in Hub on
127.0.0.1 (tests/fake_hub.py) serves a dataset repo of Parquet and JSONL files."""

import gzip
import shutil

import pyarrow.parquet as pq
import pytest

from tests.conftest import write_jsonl
from tests.storage.fake_hub import FakeHub
from zipfit_ray import SelectConfig, run_select, storage

pytest.importorskip("huggingface_hub")


@pytest.fixture(scope="module")
def hub(tmp_path_factory, corpus):
    """The corpus as the dataset repo org/pool: FineWeb-like Parquet files under
    data/CC-MAIN-*/, and one of them as gzipped JSONL."""
    root = tmp_path_factory.mktemp("hub")
    names = sorted(p.name for p in corpus.pool_dir.glob("*.parquet"))
    for i, name in enumerate(names):
        folder = root / "org" / "pool" / "data" / f"CC-MAIN-{i // 2}"
        folder.mkdir(parents=True, exist_ok=True)
        if i == len(names) - 1:
            rows = pq.read_table(corpus.pool_dir / name).to_pylist()
            write_jsonl(folder / "part-9.jsonl.gz", rows, gzip.compress)
        else:
            shutil.copy(corpus.pool_dir / name, folder / name)
    with FakeHub(root) as served:
        yield served


def test_a_pool_on_the_hub_selects_what_the_same_files_select_locally(
    ray_session, corpus, hub, tmp_path
):
    options = {"endpoint": hub.endpoint, "token": False}
    files = storage.list_pool_files(["hf://datasets/org/pool/data"], options)
    assert files[0] == "hf://datasets/org/pool/data/CC-MAIN-0/part-0.parquet"
    assert files[-1].endswith("CC-MAIN-1/part-9.jsonl.gz") and len(files) == 4
    common = dict(targets=str(corpus.targets_path), compressor="zlib", k=30)
    run_select(
        SelectConfig.from_flags(pool=(str(corpus.pool_dir),), out=str(tmp_path / "local"), **common)
    )
    summary = run_select(
        SelectConfig.from_flags(
            pool=("hf://datasets/org/pool/data/*/*",),
            out=str(tmp_path / "hub"),
            storage_options=options,
            **common,
        )
    )
    assert summary["rows_read"] == len(corpus.texts)

    def read(out):
        return pq.ParquetDataset(sorted(out.glob("part-*.parquet"))).read()

    local, from_hub = read(tmp_path / "local"), read(tmp_path / "hub")
    assert from_hub.select(local.column_names).equals(local)
