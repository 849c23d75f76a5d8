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
from dataclasses import dataclass, field
from pathlib import Path

import evaluate
import numpy as np

from modeling_crossaligner import OUTSIDE, io_to_bio

METRIC_PATH = Path(__file__).resolve().with_name("xnlu_metric.py")
# Scalar scores of every language, in the order tables show them.
METRICS = ("intent_accuracy", "slot_f1", "slot_precision", "slot_recall", "exact_match", "overall")


@dataclass
class Evaluation:
    """One split scored: the scores of each language (`xnlu_metric.py`'s dict, plus the model's `loss`), their MEAN
    over `mean_over`, and each language's predictions (dicts with id, intent, tags)."""

    scores: dict[str, dict]
    mean: dict[str, float]
    mean_over: list[str]
    predictions: dict[str, list[dict]]
    # Trainer's speed metrics of predicting every language, unprefixed: runtime, samples_per_second, steps_per_second.
    speed: dict[str, float] = field(default_factory=dict)

    def flat_metrics(self, prefix: str) -> dict[str, float]:
        """`{prefix}_{metric}` for the MEAN and `{prefix}_{language}_{metric}` for each language, as the logs and
        eval_results.json / predict_results.json name them: the scalar metrics (`METRICS`), `num_examples` and
        `loss`; the per-type breakdown stays out. Then Trainer's `{prefix}_runtime`, `{prefix}_samples_per_second`
        and `{prefix}_steps_per_second`, over all languages."""
        kept = (*METRICS, "num_examples", "loss")
        metrics = {f"{prefix}_{name}": value for name, value in self.mean.items() if name in kept}
        for language, scores in self.scores.items():
            metrics.update({f"{prefix}_{language}_{name}": value for name, value in scores.items() if name in kept})
        metrics.update({f"{prefix}_{name}": value for name, value in self.speed.items()})
        return metrics


def default_mean_over(languages: Iterable[str], trained: Iterable[str]) -> list[str]:
    """The languages a MEAN is over: those not trained on (the zero-shot targets), or all if every one was."""
    languages, trained = list(languages), set(trained)
    return [language for language in languages if language not in trained] or languages


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


def decode_predictions(
    intent_logits: np.ndarray,
    slot_logits: np.ndarray,
    dataset,
    intent_labels: Sequence[str],
    slot_labels: Sequence[str],
) -> list[dict]:
    """Per example of an encoded labelled `dataset` (data/encoding.py columns), its predicted intent and BIO tags
    (one per word) from the model's logits: each word takes its head token's slot label (`word_token_index`; a word
    truncated away, -1, is `O`), and `io_to_bio` restores BIO from the model's IO labels."""
    intent_ids = np.asarray(intent_logits).argmax(-1)
    slot_ids = np.asarray(slot_logits).argmax(-1)
    predictions = []
    for row, (example_id, token_index) in enumerate(zip(dataset["id"], dataset["word_token_index"])):
        io_tags = [OUTSIDE if index < 0 else slot_labels[slot_ids[row, index]] for index in token_index]
        predictions.append({"id": example_id, "intent": intent_labels[intent_ids[row]], "tags": io_to_bio(io_tags)})
    return predictions


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
