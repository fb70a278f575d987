"""Nothing lost: an --out that is, holds or lies in an input is refused before anything is
listed or written, and a job removes or replaces only files its record says it wrote.
Every test checks that every pool file's bytes are unchanged afterwards."""

import json
import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import s3fs

from zipfit_ray import SelectConfig, ZipfitError, run_select
from zipfit_ray.cli import main
from zipfit_ray.job.select import run_reselect
from zipfit_ray.storage import locations, outputs

BUCKET = "zipfit-out-dir"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def pool(tmp_path, corpus):
    """The corpus's pool, named as Spark and Hive name files (part-00000.parquet, ...)."""
    folder = tmp_path / "data" / "pool"
    folder.mkdir(parents=True)
    for i, path in enumerate(sorted(corpus.pool_dir.glob("*.parquet"))):
        shutil.copy(path, folder / f"part-{i:05d}.parquet")
    (tmp_path / "link").symlink_to(folder)
    return folder


def select(pool_uris, out, capsys, *flags):
    """(exit code, last line on stderr) of `zipfit-ray select`, run in this process."""
    code = main(["select", "--pool", *pool_uris, "--targets", "unused.jsonl", "--k", "5",
                 "--out", out, *flags])  # fmt: skip
    return code, capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "out, relation",
    [
        ("{pool}", "is the same place as"),
        ("{pool}/", "is the same place as"),
        ("{pool}/../pool", "is the same place as"),
        ("file://{pool}", "is the same place as"),
        ("{tmp}/link", "is the same place as"),  # a symlink to the pool
        ("{tmp}/data", "contains"),
        ("{tmp}", "contains"),
        ("{pool}/selected", "lies inside"),
        ("{tmp}/link/selected/", "lies inside"),
    ],
)
def test_an_out_that_is_in_or_holds_the_pool_is_refused(pool, tmp_path, capsys, out, relation):
    before = snapshot(pool)
    out = out.format(pool=pool, tmp=tmp_path)
    for flags in ([], ["--overwrite"]):  # --overwrite does not lift it
        code, error = select([str(pool)], out, capsys, *flags)
        assert code == 2
        assert error == (
            f"zipfit-ray: error: --out: {out} {relation} --pool {pool}; writing there could "
            "replace or remove the input's files: choose an --out outside it"
        )
    assert snapshot(pool) == before


def test_an_out_under_a_globs_base_or_holding_a_pool_file_is_refused(pool, tmp_path, capsys):
    before = snapshot(pool)
    glob = f"{pool}/part-*.parquet"
    assert select([glob], str(pool / "selected"), capsys)[1].endswith(
        f"lies inside --pool {glob}; writing there could replace or remove the input's files: "
        "choose an --out outside it"
    )
    one_file = str(pool / "part-00001.parquet")
    assert f"contains --pool {one_file}" in select([one_file], str(pool), capsys)[1]
    assert snapshot(pool) == before


def test_the_refusal_comes_before_anything_is_listed(tmp_path, capsys):
    code, error = select([str(tmp_path / "absent")], str(tmp_path / "absent" / "out"), capsys)
    assert code == 2 and "lies inside --pool" in error  # not "no such file or directory"
    assert not (tmp_path / "absent").exists()


def test_locations_are_compared_as_stores_and_normalized_paths(tmp_path):
    s3 = locations.location("s3://bucket/pool/")
    assert locations.location("s3a://bucket//pool") == s3
    assert locations.location("s3://bucket/x/../pool") == s3
    assert locations.location("simplecache::s3://bucket/pool") == s3
    assert locations.location("s3://bucket/pool/*.parquet") == s3
    assert locations.location("gs://bucket/pool") != s3  # another store, same path
    assert locations.location("hf://datasets/org/repo@main/data") == locations.location(
        "hf://datasets/org/repo/data"
    )
    assert locations.location("file://" + str(tmp_path)) == locations.location(str(tmp_path))
    locations.check_apart("s3://bucket/selected", "--out", ["s3://bucket/pool/"], "--pool")
    with pytest.raises(ZipfitError, match=r"--out: s3://bucket contains --pool s3a://bucket/"):
        locations.check_apart("s3://bucket", "--out", ["s3a://bucket/pool/*.pq"], "--pool")


def test_foreign_files_in_out_are_refused_and_kept(ray_session, corpus, pool, tmp_path):
    before = snapshot(pool)
    out = tmp_path / "out"
    out.mkdir()
    (out / "part-00000.parquet").write_bytes(b"someone else's data")
    config = dict(pool=(str(pool),), targets=str(corpus.targets_path), out=str(out), k=5)
    for overwrite in (False, True):
        with pytest.raises(ZipfitError, match=r"holds no record of a zipfit-ray run"):
            run_select(SelectConfig.from_flags(**config, overwrite=overwrite))
    (out / "part-00000.parquet").unlink()
    run_select(SelectConfig.from_flags(**config))  # an empty folder is taken
    (out / "part-00007.parquet").write_bytes(b"someone else's data")
    with pytest.raises(ZipfitError, match=r"did not write \(part-00007\.parquet\)"):
        run_select(SelectConfig.from_flags(**config, overwrite=True))
    assert (out / "part-00007.parquet").read_bytes() == b"someone else's data"
    assert pq.read_table(out / "part-00000.parquet").num_rows == 5  # the result is intact
    assert snapshot(pool) == before


def test_a_result_from_before_the_record_is_recognised_by_its_summary(
    ray_session, corpus, pool, tmp_path
):
    out = tmp_path / "out"
    config = dict(pool=(str(pool),), targets=str(corpus.targets_path), out=str(out))
    run_select(SelectConfig.from_flags(**config, k=30, part_rows=10))
    (out / outputs.RECORD).unlink()  # as an earlier version left it
    run_select(SelectConfig.from_flags(**config, k=5, overwrite=True))
    assert sorted(p.name for p in out.glob("part-*")) == ["part-00000.parquet"]


def test_reselect_refuses_an_out_in_the_pool_or_in_the_scores(ray_session, corpus, pool, tmp_path):
    before = snapshot(pool)
    scores = tmp_path / "scored"
    run_select(
        SelectConfig.from_flags(
            pool=(str(pool),), targets=str(corpus.targets_path), out=str(scores), k=5,
            all_scores=True,
        )
    )  # fmt: skip
    for out, message in (
        (pool / "re", f"--out: {pool / 're'} lies inside --pool {pool}"),
        (scores / "scores" / "re", f"lies inside --scores {scores}"),
        (scores, f"--out: {scores} is the same place as --scores {scores}"),
    ):
        with pytest.raises(ZipfitError, match=re.escape(message)):
            run_reselect(str(scores), {"out": str(out), "k": 3, "overwrite": True})
    assert snapshot(pool) == before


def test_compare_and_estimate_write_only_where_nothing_is_theirs(pool, corpus, tmp_path, capsys):
    before = snapshot(pool)
    targets = str(corpus.targets_path)
    code = main(["compare-datasets", "--datasets", str(pool), "--targets", targets,
                 "--out", str(pool / "compare.json")])  # fmt: skip
    assert code == 2 and f"--out: {pool / 'compare.json'} lies inside --datasets" in (
        capsys.readouterr().err
    )
    code = main(["estimate", "--pool", f"{pool}/*.parquet", "--targets", targets, "--k", "5",
                 "--json", str(pool / "e.json")])  # fmt: skip
    assert code == 2 and "--json: " in capsys.readouterr().err
    theirs = tmp_path / "notes.json"
    theirs.write_text('{"mine": true}')
    with pytest.raises(ZipfitError, match=r"notes\.json exists and zipfit-ray did not write it"):
        outputs.write_owned_json(str(theirs), {"a": 1}, "--out", {})
    assert json.loads(theirs.read_text()) == {"mine": True}
    ours = tmp_path / "compare.json"
    outputs.write_owned_json(str(ours), {"a": 1}, "--out", {})
    outputs.write_owned_json(str(ours), {"a": 2}, "--out", {})  # its own file: replaced
    assert json.loads(ours.read_text()) == {"a": 2, "written_by": "zipfit-ray"}
    assert snapshot(pool) == before


def test_make_sample_never_writes_over_a_pool(pool, capsys):
    before = snapshot(pool)
    assert main(["make-sample", "--out", str(pool.parent), "--rows", "50"]) == 2
    assert f"--out: {pool} exists already" in capsys.readouterr().err
    assert snapshot(pool) == before


@pytest.fixture
def s3_pool(s3_options, pool):
    fs = s3fs.S3FileSystem(**s3_options)
    if not fs.exists(BUCKET):
        fs.mkdir(BUCKET)
    fs.put(str(pool) + "/", f"{BUCKET}/data/pool/", recursive=True)
    yield fs
    fs.rm(BUCKET, recursive=True)


def s3_snapshot(fs) -> dict[str, bytes]:
    return {path: fs.cat(path) for path in fs.find(f"{BUCKET}/data/pool", refresh=True)}


def test_on_s3_an_out_at_in_or_over_the_pool_is_refused(ray_session, corpus, s3_pool, s3_options):
    fs = s3_pool
    before = s3_snapshot(fs)
    pool = f"s3://{BUCKET}/data/pool"
    for out in (pool, pool + "/", f"s3a://{BUCKET}//data/pool", f"s3://{BUCKET}/data/x/../pool",
                f"s3://{BUCKET}/data", f"s3://{BUCKET}", f"{pool}/selected"):  # fmt: skip
        with pytest.raises(ZipfitError, match=rf"--out: {out} .* --pool {pool}; writing there"):
            SelectConfig.from_flags(pool=(pool,), targets="t", out=out, k=5, overwrite=True)
    out = f"s3://{BUCKET}/out"
    fs.pipe(f"{BUCKET}/out/part-00000.parquet", b"someone else's data")
    config = SelectConfig.from_flags(
        pool=(pool,), targets=str(corpus.targets_path), out=out, k=5, storage_options=s3_options
    )
    with pytest.raises(ZipfitError, match="holds no record of a zipfit-ray run"):
        run_select(config)
    assert fs.cat(f"{BUCKET}/out/part-00000.parquet") == b"someone else's data"
    assert s3_snapshot(fs) == before
