"""The Ray layer: start or join Ray, plan the pool, score shards in tasks, cut, write, and
the drivers that read only a sample (compare-datasets, estimate)."""
