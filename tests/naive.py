"""The paper's formula as a plain loop over the reference compressor calls: the yardstick."""

from zipfit_ray.kernel.backends import reference_joint_size, reference_size


def naive_alignment(
    x: bytes, targets: list[bytes], compressor: str, level: int, joint: str = "concat"
) -> float:
    def c(s: bytes) -> int:
        return reference_size(compressor, s, level)

    total = 0.0
    for y in targets:
        cx, cy = c(x), c(y)
        cxy = reference_joint_size(compressor, x, y, level, joint)
        larger = max(cx, cy)
        total += 0.0 if larger == 0 else (cxy - min(cx, cy)) / larger
    return 1.0 - total / len(targets)


def naive_top_k(scores: list[float], k: int) -> list[int]:
    """Positions of the k best scores, ties broken by position."""
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]


def naive_near_duplicates(texts: list[bytes], threshold: float) -> dict[int, set[int]]:
    """--dedup's rule pair by pair, over texts best first: for each row a better row shares a
    bucket with, the first such row of every band it shares (the rows it is pushed out for)."""
    import numpy as np

    from zipfit_ray.selection import dedup

    hashes = dedup.lsh_bands(threshold).hashes(texts)
    dropped = {}
    for i in range(len(texts)):
        shared = hashes[:i] == hashes[i]  # better rows sharing a bucket, band by band
        if shared.any():
            dropped[i] = {
                int(np.flatnonzero(shared[:, b])[0]) for b in np.flatnonzero(shared.any(0))
            }
    return dropped
