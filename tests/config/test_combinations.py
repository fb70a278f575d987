"""Every refusal of config/combinations.py, each raised with a message that names both
features, and the combinations it does not refuse."""

import pytest

from zipfit_ray import modes
from zipfit_ray.config import SelectConfig, combinations
from zipfit_ray.errors import ZipfitError
from zipfit_ray.selection.rules import RULES

BASE = {"pool": ("pool/",), "targets": "t.jsonl", "out": "out", "k": 5}
# flags that turn each feature on (with the flags it needs)
TURNS_ON = {
    combinations.MIN_SCORE: {"k": None, "min_score": 0.1},
    combinations.NAMED_SETS: {"targets": ["a=x.jsonl", "b=y.jsonl"]},
    combinations.MIX: {"targets": ["a=x.jsonl", "b=y.jsonl"], "mix": "a=0.5,b=0.5"},
    combinations.SOFT: {"temperature": 0.1},
    combinations.QUOTAS: {"group_column": "source", "group_max": 0.5},
    combinations.DEDUP: {"dedup": True},
    combinations.ALL_SCORES: {"all_scores": True},
    combinations.EXCLUDE_NEAR: {"exclude_near": ["have.jsonl"]},
    combinations.PER_TARGET: {"k": None, "per_target": 3},
    combinations.COVER: {"cover": 0.5},
}


def plan(*features, **more):
    flags = dict(BASE)
    for feature in features:
        flags.update(TURNS_ON[feature])
    return SelectConfig.from_flags(**{**flags, **more})


def test_every_feature_alone_is_allowed():
    for feature in TURNS_ON:
        assert feature.on(plan(feature))
        assert not feature.on(plan())


@pytest.mark.parametrize(
    "refusal",
    combinations.REFUSED,
    ids=lambda r: f"{r.feature.named(plan(r.feature))}+{r.other.named(plan(r.other))}",
)
def test_each_refused_pair_names_both_features(refusal):
    config_flags = {**BASE, **TURNS_ON[refusal.feature], **TURNS_ON[refusal.other]}
    with pytest.raises(ZipfitError) as raised:
        SelectConfig.from_flags(**config_flags)
    message = str(raised.value)
    first = refusal.feature.named(plan(refusal.feature))
    other = refusal.other.named(plan(refusal.other))
    assert message.startswith(f"{first}: ") and message.endswith(f"not with {other}")
    assert refusal.why in message


@pytest.mark.parametrize("mode", [m for m in modes.MODES if not modes.MODES[m].exact])
@pytest.mark.parametrize("feature", combinations.EXACT_ONLY, ids=lambda f: str(f.flag))
def test_exact_only_features_are_refused_by_every_approximate_mode(feature, mode):
    with pytest.raises(ZipfitError, match=f"only with --mode exact \\(not {mode}\\)"):
        plan(feature, mode=mode)


@pytest.mark.parametrize("mode", list(modes.MODES))
@pytest.mark.parametrize("kind", list(RULES))
def test_a_mode_selects_with_the_rules_it_names(mode, kind):
    value = {"k": 5, "budget_tokens": 100, "min_score": 0.1, "per_target": 2}.get(kind, 0.1)
    flags = {**BASE, "k": None, kind: value, "mode": mode}
    if modes.MODES[mode].selects_with(kind):
        assert SelectConfig.from_flags(**flags).selecting.rule.name == kind
    else:
        with pytest.raises(ZipfitError, match=f"--mode {mode}: select with --k"):
            SelectConfig.from_flags(**flags)


def test_mix_names_exactly_the_named_sets():
    with pytest.raises(ZipfitError, match="--mix: shares of named target sets"):
        plan(mix="a=1")
    with pytest.raises(ZipfitError, match="--mix: no target set named 'c'"):
        plan(combinations.NAMED_SETS, mix="a=0.5,c=0.5")
