"""Arithmetic on samples: a dataset's alignment with an interval (dataset_alignment), and
what a job will cost and where it will cut (cost)."""

Z_95 = 1.959963984540054  # two-sided 95% normal quantile
