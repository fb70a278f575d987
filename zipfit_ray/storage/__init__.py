"""Every byte the job reads or writes goes through this package, one module per concern:

- ``files``: fsspec filesystems, atomic writes, listing and removing;
- ``pool``: a pool's files planned into shards, a unit's texts, selected rows written out;
- ``formats``: what a pool file format is (PoolFormat), one module per format:
  ``parquet`` (footers, row groups; also the job's saved scores) and ``jsonl`` (JSON
  lines, plain or compressed);
- ``targets``: the target set's file;
- ``locations``: an output never in, at or over an input;
- ``outputs``: the names under --out, and the record of what the job wrote there;
- ``columns``: the columns a selection adds to the pool's.

The names below are what the rest of the job uses.
"""

from zipfit_ray.storage.files import (
    arrow_filesystem,
    exists,
    filesystem,
    join,
    list_names,
    make_dirs,
    move,
    read_bytes,
    remove,
    write_atomic,
    write_json,
)
from zipfit_ray.storage.formats import FilePlan, Piece, PoolFormat
from zipfit_ray.storage.parquet import (
    FOOTER_SAMPLE_BYTES,
    column_bytes,
    conform,
    field_values,
    first_row,
    read_footer,
    read_scores,
    write_scores,
)
from zipfit_ray.storage.pool import (
    ROW_BITS,
    PoolScan,
    Shard,
    combine,
    cut_shards,
    format_of,
    iter_piece_texts,
    list_pool_files,
    output_schema,
    pack_row_id,
    plan_files,
    read_texts,
    scan_pool,
    unpack_row_id,
    write_part,
)
from zipfit_ray.storage.targets import read_eval_sets, read_target_sets, read_targets

__all__ = [
    "FOOTER_SAMPLE_BYTES",
    "ROW_BITS",
    "FilePlan",
    "Piece",
    "PoolFormat",
    "PoolScan",
    "Shard",
    "arrow_filesystem",
    "column_bytes",
    "combine",
    "conform",
    "cut_shards",
    "exists",
    "field_values",
    "filesystem",
    "first_row",
    "format_of",
    "iter_piece_texts",
    "join",
    "list_names",
    "list_pool_files",
    "make_dirs",
    "move",
    "output_schema",
    "pack_row_id",
    "plan_files",
    "read_bytes",
    "read_eval_sets",
    "read_footer",
    "read_scores",
    "read_target_sets",
    "read_targets",
    "read_texts",
    "remove",
    "scan_pool",
    "unpack_row_id",
    "write_atomic",
    "write_json",
    "write_part",
    "write_scores",
]
