"""`zipfit-ray evaluate`: the downstream check of selections. Each selection is cut to a
token budget in its own order, a small byte-level transformer is trained on it from
scratch (and on a random sample of the pool, the baseline), and each is scored in bits per
byte on held-out texts. One module per concern:

- ``settings``: EvaluateConfig, the model's and the training's settings (no torch, no Ray);
- ``reading``: texts (and a selection's own columns) read from Parquet or JSONL files;
- ``corpus``: what an entry trains on, and the token budget's cut;
- ``selections``: a selection's parts, its order, its cut, per named set;
- ``pool_sample``: the random baseline, drawn without reading the pool;
- ``model`` and ``training``: the transformer and one run (torch: imported only by the
  driver once it knows torch is installed, and by the tasks);
- ``results`` and ``page``: evaluation.json's entries, the table, evaluation.html;
- ``driver``: run_evaluate.
"""

from zipfit_ray.evaluation.settings import EvaluateConfig, ModelSettings, TrainingSettings

__all__ = ["EvaluateConfig", "ModelSettings", "TrainingSettings", "run_evaluate"]


def run_evaluate(config: EvaluateConfig) -> dict:
    """See driver.run_evaluate (imported on call: it starts nothing until asked)."""
    from zipfit_ray.evaluation.driver import run_evaluate as run

    return run(config)
