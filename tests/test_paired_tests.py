"""Paired significance tests against known answers: a hand-computed McNemar table, bootstraps whose distribution is
known, and the per-example counts against the metric's own slot F1."""

import numpy as np
import pytest
from test_benchmarks import GOLD, records, write_run

from benchmarks import paired_tests, significance
from xnlu_metric import xnlu_scores


def outcomes(both: int, method_only: int, baseline_only: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    method = [True] * both + [True] * method_only + [False] * baseline_only + [False] * neither
    baseline = [True] * both + [False] * method_only + [True] * baseline_only + [False] * neither
    return np.array(method), np.array(baseline)


def test_mcnemar_is_the_exact_binomial_test_of_the_discordant_examples():
    # 10 examples only the method gets right, 2 only the baseline: p = 2 P(X <= 2), X ~ Binomial(12, 1/2),
    # = 2 (1 + 12 + 66) / 4096; the 80 concordant examples do not count.
    result = paired_tests.mcnemar_test(*outcomes(both=50, method_only=10, baseline_only=2, neither=30))
    assert result["p"] == pytest.approx(2 * (1 + 12 + 66) / 2**12)
    assert (result["method_only"], result["baseline_only"], result["n"]) == (10, 2, 92)
    assert result["difference"] == pytest.approx(8 / 92)
    # The same 12 discordant examples among many more concordant ones: the same p (the z-test would change).
    assert paired_tests.mcnemar_test(*outcomes(500, 10, 2, 300))["p"] == pytest.approx(result["p"])
    assert paired_tests.mcnemar_test(*outcomes(40, 0, 0, 60))["p"] == 1.0


def counts(correct: list[int], predicted: list[int], gold: list[int]) -> np.ndarray:
    return np.array([correct, predicted, gold]).T


def test_bootstrap_of_identical_runs_finds_no_difference():
    run = counts([1, 0, 2, 1], [1, 1, 2, 2], [1, 1, 3, 1])
    result = paired_tests.paired_bootstrap_f1(run, run.copy(), resamples=500)
    assert (result["difference"], result["low"], result["high"], result["p"]) == (0.0, 0.0, 0.0, 1.0)


def test_bootstrap_interval_matches_the_known_sampling_distribution():
    # One gold span per example. The method finds every span; the baseline predicts one span per example, right on
    # half of them: its F1 on a resample is the share of right examples, so the difference is 1 - k/n with
    # k ~ Binomial(n, 1/2): mean 0.5, standard deviation sqrt(0.25 / n) = 0.025 for n = 400.
    n = 400
    method = counts([1] * n, [1] * n, [1] * n)
    baseline = counts([1, 0] * (n // 2), [1] * n, [1] * n)
    result = paired_tests.paired_bootstrap_f1(method, baseline, resamples=4000, seed=1)
    assert result["difference"] == pytest.approx(0.5)
    assert result["low"] == pytest.approx(0.5 - 1.96 * 0.025, abs=0.006)
    assert result["high"] == pytest.approx(0.5 + 1.96 * 0.025, abs=0.006)
    # No resample crosses 0: p is the smallest the resamples can show, 2 / (1 + resamples).
    assert result["p"] == pytest.approx(2 / 4001)
    # Seeded: the same interval again.
    assert paired_tests.paired_bootstrap_f1(method, baseline, resamples=4000, seed=1) == result


def test_bootstrap_p_value_of_a_small_difference_is_large():
    rng = np.random.default_rng(0)
    gold = rng.integers(1, 3, 300)
    baseline = counts(rng.integers(0, 2, 300), gold, gold)
    method = baseline.copy()
    method[:3, 0] = np.minimum(method[:3, 0] + 1, gold[:3])  # at most 3 more right spans out of about 450
    result = paired_tests.paired_bootstrap_f1(method, baseline, resamples=2000)
    assert result["low"] <= 0 <= result["high"] or result["low"] == 0
    assert result["p"] > 0.05


def test_example_counts_add_up_to_the_metric_slot_f1():
    missed = ["O", "O", "O", "O", "B-party", "O", "B-time", "O", "O"]
    stray = ["O", "O", "I-party", "O", "B-party", "O", "B-time", "I-time", "B-city"]  # a chunk from a stray I-
    rows = records([GOLD, missed, stray, missed], [True, False, True, True])
    outcome = paired_tests.example_outcomes(rows)
    scores = xnlu_scores(
        [{"intent": r["predicted_intent"], "tags": r["predicted_tags"]} for r in rows],
        [{"intent": r["gold_intent"], "tags": r["gold_tags"]} for r in rows],
    )
    assert paired_tests.f1_from_counts(*outcome["slot_counts"].sum(0)) == pytest.approx(scores["slot_f1"])
    assert outcome["exact_match"].mean() == pytest.approx(scores["exact_match"])
    assert outcome["intent_accuracy"].tolist() == [True, False, True, True]


def test_paired_tests_need_the_same_examples():
    with pytest.raises(ValueError, match="same test examples: 3 against 2"):
        paired_tests.mcnemar_test(np.ones(3, bool), np.ones(2, bool))
    with pytest.raises(ValueError, match="at least one"):
        paired_tests.paired_bootstrap_f1(np.zeros((0, 3)), np.zeros((0, 3)))


def test_suite_paired_comparison_pools_languages_example_by_example(tmp_path):
    missed = ["O", "O", "O", "O", "B-party", "O", "B-time", "O", "O"]
    write_run(tmp_path / "zero_shot", [missed] * 30, [True] * 15 + [False] * 15)
    write_run(tmp_path / "aligned", [GOLD] * 30, [True] * 25 + [False] * 5)
    comparison = significance.compare_suite(tmp_path, "zero_shot", ["es", "th"])["aligned"]
    intent = comparison["pooled"]["intent_accuracy"]
    assert (intent["method_only"], intent["baseline_only"], intent["n"]) == (20, 0, 60)
    assert intent["p"] == pytest.approx(2 * 0.5**20)
    f1 = comparison["es"]["slot_f1"]
    assert (f1["method"], f1["baseline"]) == (1.0, pytest.approx(0.8))  # 2 of 3 spans found, none spurious
    table = significance.paired_table({"aligned": comparison}, "zero_shot")
    assert "| aligned | pooled | 83.3 vs 50.0 (+33.3)* | 20 / 0 | 1.9e-06 |" in table
