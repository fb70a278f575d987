import numpy as np

from zipfit_ray.selection import histograms


def test_length_bins_double_and_the_last_is_open_ended():
    edges = histograms.LENGTH_EDGES
    counts = histograms.length_histogram([0, 31, 32, 63, 64, 5000, 2**23 - 1, 2**23, 2**30])
    assert counts.sum() == 9 and len(counts) == len(edges)
    assert counts[0] == 2 and counts[1] == 2 and counts[2] == 1  # [0, 32) [32, 64) [64, 128)
    assert counts[np.searchsorted(edges, 5000, side="right") - 1] == 1  # [4096, 8192)
    assert counts[-2] == 1 and counts[-1] == 2  # [4 MiB, 8 MiB), then 8 MiB and up


def test_length_histograms_add_up_across_shards():
    lengths = np.random.default_rng(0).integers(0, 100_000, 1000)
    parts = [histograms.length_histogram(lengths[i : i + 137]) for i in range(0, 1000, 137)]
    assert (sum(parts) == histograms.length_histogram(lengths)).all()
