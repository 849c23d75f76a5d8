# Copyright 2026 The CrossAligner XNLU authors. Apache-2.0.
"""How CrossAligner XNLU scores and compares runs: the `xnlu_metric.py` evaluate module per language, the MEAN over
target languages, and the paper's significance test.

Per language: intent accuracy, slot precision / recall / F1 (span-based, micro; conlleval chunks; per type too), exact
match and `overall` = (accuracy + F1) / 2, as fractions in [0, 1] (see `xnlu_metric.py`). The model predicts IO tags;
`io_to_bio` restores BIO before scoring, and the gold is the ORIGINAL BIO (`gold_scheme="io"` collapses it to IO
first, as the paper's released code did: for comparison with the paper only).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import evaluate

METRIC_PATH = Path(__file__).resolve().with_name("xnlu_metric.py")
# Scalar scores of every language, in the order tables show them.
METRICS = ("intent_accuracy", "slot_f1", "slot_precision", "slot_recall", "exact_match", "overall")


@functools.cache
def load_metric() -> evaluate.EvaluationModule:
    """The project's `evaluate` module, loaded by path (offline), kept in memory (no cache files, so that several
    processes can score at once)."""
    return evaluate.load(str(METRIC_PATH), keep_in_memory=True)


def score_language(
    gold_intents: Sequence[str],
    predicted_intents: Sequence[str],
    gold_tags: Sequence[Sequence[str]],
    predicted_tags: Sequence[Sequence[str]],
    gold_scheme: str = "bio",
) -> dict:
    """Scores of one test set (see `xnlu_metric.py`). Tags are BIO, one per word; `predicted_tags` come from
    `io_to_bio`. Returns the metric's dict: METRICS, counts and `slot_types`."""
    lengths = {len(gold_intents), len(predicted_intents), len(gold_tags), len(predicted_tags)}
    if len(lengths) != 1:
        raise ValueError(f"gold and predictions differ in number of examples: {sorted(lengths)}")
    return load_metric().compute(
        predictions=[{"intent": i, "tags": list(t)} for i, t in zip(predicted_intents, predicted_tags)],
        references=[{"intent": i, "tags": list(t)} for i, t in zip(gold_intents, gold_tags)],
        gold_scheme=gold_scheme,
    )


def mean_over_languages(
    metrics_by_language: Mapping[str, Mapping[str, float]], languages: Iterable[str] | None = None
) -> dict[str, float]:
    """Unweighted MEAN over `languages` (default: all) of every scalar metric they all have (the paper's MEAN
    columns); counts (`num_*`) are summed instead."""
    languages = list(metrics_by_language if languages is None else languages)
    if not languages:
        raise ValueError("no languages to average")
    rows = [metrics_by_language[language] for language in languages]
    shared = set.intersection(
        *({name for name, value in row.items() if isinstance(value, (int, float))} for row in rows)
    )
    return {
        name: sum(row[name] for row in rows) / (1 if name.startswith("num_") else len(rows)) for name in sorted(shared)
    }


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
