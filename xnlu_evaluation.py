# Copyright 2026 The CrossAligner XNLU authors. Apache-2.0.
"""Scores of CrossAligner XNLU, as the paper reports them (SPEC.md "Evaluation").

Per language: intent accuracy, slot F1 (seqeval: span-based, micro, strict IOB2), exact match (intent and every tag
right) and `overall` = (accuracy + F1) / 2; the MEAN over languages; and the two-tailed z-test for the difference of
two proportions the paper uses to compare with a baseline. Scores are fractions in [0, 1].

The model predicts IO tags; `io_to_bio` restores BIO before scoring, and the gold is the ORIGINAL BIO. The released
code also collapsed the gold to IO (which merges adjacent same-type gold entities and inflates F1); `gold_scheme="io"`
reproduces that, for comparison with the paper only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from seqeval.metrics import f1_score
from seqeval.scheme import IOB2

from modeling_crossaligner import bio_to_io, io_to_bio

GOLD_SCHEMES = ("bio", "io")


def score_language(
    gold_intents: Sequence[str],
    predicted_intents: Sequence[str],
    gold_tags: Sequence[Sequence[str]],
    predicted_tags: Sequence[Sequence[str]],
    gold_scheme: str = "bio",
) -> dict[str, float]:
    """Scores of one test set. Tags are BIO, one per word; `predicted_tags` come from `io_to_bio`.

    Returns `accuracy`, `f1`, `exact_match`, `overall` and `num_examples`.
    """
    if gold_scheme not in GOLD_SCHEMES:
        raise ValueError(f"unknown gold_scheme {gold_scheme!r}; valid: {', '.join(GOLD_SCHEMES)}")
    lengths = {len(gold_intents), len(predicted_intents), len(gold_tags), len(predicted_tags)}
    if len(lengths) != 1:
        raise ValueError(f"gold and predictions differ in number of examples: {sorted(lengths)}")
    if not gold_intents:
        raise ValueError("cannot score an empty test set")
    gold_tags = [list(tags) for tags in gold_tags]
    if gold_scheme == "io":
        gold_tags = [io_to_bio(bio_to_io(tags)) for tags in gold_tags]
    predicted_tags = [list(tags) for tags in predicted_tags]
    for index, (gold, predicted) in enumerate(zip(gold_tags, predicted_tags)):
        if len(gold) != len(predicted):
            raise ValueError(f"example {index}: {len(gold)} gold tags but {len(predicted)} predicted tags")

    intent_right = [gold == predicted for gold, predicted in zip(gold_intents, predicted_intents)]
    accuracy = sum(intent_right) / len(intent_right)
    # zero_division=0: a test set without any gold or predicted entity scores F1 0 instead of warning.
    f1 = float(f1_score(gold_tags, predicted_tags, average="micro", mode="strict", scheme=IOB2, zero_division=0))
    exact = [right and gold == predicted for right, gold, predicted in zip(intent_right, gold_tags, predicted_tags)]
    return {
        "accuracy": accuracy,
        "f1": f1,
        "exact_match": sum(exact) / len(exact),
        "overall": (accuracy + f1) / 2,
        "num_examples": len(gold_intents),
    }


def mean_over_languages(metrics_by_language: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Unweighted MEAN over languages of every metric all languages have (the paper's MEAN columns);
    `num_examples` is summed instead."""
    if not metrics_by_language:
        raise ValueError("no languages to average")
    shared = set.intersection(*(set(metrics) for metrics in metrics_by_language.values()))
    mean = {
        name: sum(metrics[name] for metrics in metrics_by_language.values()) / len(metrics_by_language)
        for name in sorted(shared - {"num_examples"})
    }
    if "num_examples" in shared:
        mean["num_examples"] = sum(metrics["num_examples"] for metrics in metrics_by_language.values())
    return mean


def two_proportion_z_test(proportion_a: float, n_a: int, proportion_b: float, n_b: int) -> tuple[float, float]:
    """Two-tailed z-test for the difference of two proportions (pooled standard error), as in the paper's
    significance tests. E.g. intent accuracy of a method vs a baseline on `n` test examples, or slot F1 on the number
    of gold slots. Returns (z, p_value); p < 0.01 is the paper's threshold."""
    for name, proportion in (("proportion_a", proportion_a), ("proportion_b", proportion_b)):
        if not 0.0 <= proportion <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {proportion}")
    if n_a <= 0 or n_b <= 0:
        raise ValueError(f"sample sizes must be positive, got {n_a} and {n_b}")
    pooled = (proportion_a * n_a + proportion_b * n_b) / (n_a + n_b)
    standard_error = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b))
    if standard_error == 0.0:
        # Both proportions are 0 or both are 1: no difference to test.
        return 0.0, 1.0
    z = (proportion_a - proportion_b) / standard_error
    return z, math.erfc(abs(z) / math.sqrt(2.0))
