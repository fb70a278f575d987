"""Arithmetic on samples: a dataset's alignment with an interval, and what a job will cost."""
