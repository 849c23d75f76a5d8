"""Paired significance tests for two models scored on the same test examples.

The paper compares methods with the two-proportion z-test, which treats the two models' test sets as independent
samples. They are the same examples, so a paired test is the right one, and it is more powerful: it looks only at the
examples where the two models differ.

- McNemar's exact test (statsmodels) for proportions of examples: intent accuracy and exact match. Only the discordant
  examples count: right for one model and wrong for the other.
- A paired bootstrap (scipy) for slot F1, which is not a mean over examples: test examples are resampled with
  replacement, the same indices for both models, and F1 is recomputed from each resample's summed span counts
  (correct, predicted and gold conlleval chunks, as `xnlu_metric` counts them). The result is the percentile 95%
  interval of the difference and a two-sided p-value from the same distribution (twice the smaller share of
  resampled differences on either side of 0, counted as (1 + k) / (1 + resamples); below 0.05 when the interval
  excludes 0).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xnlu_metric import bio_spans  # noqa: E402

BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95


def example_outcomes(records: list[dict]) -> dict[str, np.ndarray]:
    """Per test example of one language's prediction records: intent right, exact match (intent and slot spans all
    right), and the span counts behind slot F1 (`slot_counts`, shape (n, 3): correct, predicted, gold)."""
    intent_right, exact, counts = [], [], []
    for record in records:
        gold, predicted = set(bio_spans(record["gold_tags"])), set(bio_spans(record["predicted_tags"]))
        right = record["gold_intent"] == record["predicted_intent"]
        intent_right.append(right)
        exact.append(right and gold == predicted)
        counts.append((len(gold & predicted), len(predicted), len(gold)))
    return {
        "intent_accuracy": np.array(intent_right, dtype=bool),
        "exact_match": np.array(exact, dtype=bool),
        "slot_counts": np.array(counts, dtype=np.int64).reshape(-1, 3),
    }


def concatenate(outcomes: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Several languages' `example_outcomes` as one test set (pooled; still paired example by example)."""
    return {name: np.concatenate([o[name] for o in outcomes]) for name in outcomes[0]}


def mcnemar_test(method_right: np.ndarray, baseline_right: np.ndarray) -> dict[str, float]:
    """McNemar's exact test of two models' right/wrong outcomes on the same examples."""
    from statsmodels.stats.contingency_tables import mcnemar

    _check_paired(method_right, baseline_right)
    method_only = int(np.sum(method_right & ~baseline_right))
    baseline_only = int(np.sum(~method_right & baseline_right))
    both = int(np.sum(method_right & baseline_right))
    neither = len(method_right) - both - method_only - baseline_only
    # exact: the binomial test on the discordant examples, valid at any count.
    result = mcnemar([[both, method_only], [baseline_only, neither]], exact=True)
    return {
        "method": float(np.mean(method_right)),
        "baseline": float(np.mean(baseline_right)),
        "difference": float(np.mean(method_right) - np.mean(baseline_right)),
        "method_only": method_only,
        "baseline_only": baseline_only,
        "p": float(result.pvalue),
        "n": len(method_right),
    }


def f1_from_counts(correct, predicted, gold):
    """Micro F1 from summed span counts (arrays broadcast): 2 correct / (predicted + gold), 0 where both are 0."""
    correct, denominator = np.asarray(correct, dtype=float), np.asarray(predicted + gold, dtype=float)
    return np.divide(2 * correct, denominator, out=np.zeros_like(denominator), where=denominator > 0)


def paired_bootstrap_f1(
    method_counts: np.ndarray,
    baseline_counts: np.ndarray,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
) -> dict[str, float]:
    """The paired bootstrap of the slot-F1 difference (method minus baseline) from per-example span counts."""
    from scipy.stats import bootstrap

    _check_paired(method_counts, baseline_counts)

    def difference(m_correct, m_predicted, m_gold, b_correct, b_predicted, b_gold, axis=-1):
        method = f1_from_counts(m_correct.sum(axis), m_predicted.sum(axis), m_gold.sum(axis))
        return method - f1_from_counts(b_correct.sum(axis), b_predicted.sum(axis), b_gold.sum(axis))

    columns = (*method_counts.T, *baseline_counts.T)
    result = bootstrap(
        columns,
        difference,
        paired=True,
        vectorized=True,
        n_resamples=resamples,
        batch=1000,  # resamples held in memory at once: 1000 x examples x 6 counts
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    distribution = result.bootstrap_distribution
    # (1 + count) / (1 + resamples): a p-value of 0 is never claimed from finitely many resamples.
    tail = (1 + min(np.sum(distribution <= 0), np.sum(distribution >= 0))) / (1 + resamples)
    return {
        "method": float(f1_from_counts(*method_counts.sum(0))),
        "baseline": float(f1_from_counts(*baseline_counts.sum(0))),
        "difference": float(difference(*(column[None] for column in columns))[0]),
        "low": float(result.confidence_interval.low),
        "high": float(result.confidence_interval.high),
        "p": float(min(1.0, 2 * tail)),
        "n": len(method_counts),
    }


def _check_paired(method: np.ndarray, baseline: np.ndarray) -> None:
    if len(method) != len(baseline):
        raise ValueError(f"paired tests need the same test examples: {len(method)} against {len(baseline)}")
    if not len(method):
        raise ValueError("paired tests need at least one test example")
