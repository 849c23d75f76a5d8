"""xnlu_evaluation: per-language scores against the original BIO gold, MEAN over languages, z-test."""

import math

import pytest

from modeling_crossaligner import io_to_bio
from xnlu_evaluation import mean_over_languages, score_language, two_proportion_z_test

# Two adjacent "datetime" entities in the gold: IO predictions cannot separate them (SPEC "Labels").
GOLD_TAGS = [
    ["O", "B-datetime", "B-datetime", "O"],
    ["B-location", "I-location", "O"],
    ["O", "B-datetime", "I-datetime"],
]
GOLD_INTENTS = ["alarm", "weather", "alarm"]


def test_perfect_io_predictions_still_miss_adjacent_same_type_gold_entities():
    predicted_tags = [io_to_bio(["O", "datetime", "datetime", "O"]), io_to_bio(["location", "location", "O"]),
                      io_to_bio(["O", "datetime", "datetime"])]
    scores = score_language(GOLD_INTENTS, ["alarm", "weather", "weather"], GOLD_TAGS, predicted_tags)
    # Gold spans: 4 (two datetime in example 0, location, datetime); predicted: 3 (merged datetime), 2 right.
    precision, recall = 2 / 3, 2 / 4
    f1 = 2 * precision * recall / (precision + recall)
    assert scores["f1"] == pytest.approx(f1)
    assert scores["accuracy"] == pytest.approx(2 / 3)
    assert scores["exact_match"] == pytest.approx(1 / 3)  # example 1 only: example 0 tags differ, 2 has a wrong intent
    assert scores["overall"] == pytest.approx((2 / 3 + f1) / 2)
    assert scores["num_examples"] == 3
    # Scoring the IO-collapsed gold (the released code's way) merges the gold entities too: everything matches.
    collapsed = score_language(GOLD_INTENTS, ["alarm", "weather", "weather"], GOLD_TAGS, predicted_tags,
                               gold_scheme="io")
    assert collapsed["f1"] == 1.0 and collapsed["exact_match"] == pytest.approx(2 / 3)


def test_strict_iob2_span_scoring():
    # A wrong boundary or type is a miss; strict mode does not repair an I- without a B-.
    predicted = [["O", "B-datetime", "O", "O"], ["B-datetime", "I-datetime", "O"], ["O", "I-datetime", "I-datetime"]]
    scores = score_language(GOLD_INTENTS, GOLD_INTENTS, GOLD_TAGS, predicted)
    # Predicted spans (strict): datetime(1,2) right, datetime(0,2) wrong type; the I- run is invalid in strict IOB2.
    precision, recall = 1 / 2, 1 / 4
    assert scores["f1"] == pytest.approx(2 * precision * recall / (precision + recall))
    assert scores["accuracy"] == 1.0 and scores["exact_match"] == 0.0


def test_no_entities_anywhere_scores_zero_f1_without_warning():
    scores = score_language(["a"], ["a"], [["O", "O"]], [["O", "O"]])
    assert scores["f1"] == 0.0 and scores["exact_match"] == 1.0


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="number of examples"):
        score_language(["a"], [], [["O"]], [["O"]])
    with pytest.raises(ValueError, match="example 0"):
        score_language(["a"], ["a"], [["O", "O"]], [["O"]])
    with pytest.raises(ValueError, match="bio, io"):
        score_language(["a"], ["a"], [["O"]], [["O"]], gold_scheme="iob")
    with pytest.raises(ValueError, match="empty"):
        score_language([], [], [], [])


def test_mean_over_languages_is_unweighted_and_sums_examples():
    mean = mean_over_languages(
        {
            "es": {"accuracy": 0.9, "f1": 0.7, "overall": 0.8, "num_examples": 100},
            "th": {"accuracy": 0.5, "f1": 0.3, "overall": 0.4, "num_examples": 10},
        }
    )
    assert mean == pytest.approx({"accuracy": 0.7, "f1": 0.5, "overall": 0.6, "num_examples": 110})


def test_two_proportion_z_test_by_hand():
    z, p = two_proportion_z_test(0.5, 100, 0.6, 100)
    pooled = 0.55
    expected_z = -0.1 / math.sqrt(pooled * (1 - pooled) * (2 / 100))
    assert z == pytest.approx(expected_z)
    assert z == pytest.approx(-1.42134, abs=1e-4)
    assert p == pytest.approx(0.15521, abs=1e-4)  # two-tailed: 2 * (1 - Phi(1.4213))
    z_reversed, p_reversed = two_proportion_z_test(0.6, 100, 0.5, 100)
    assert (z_reversed, p_reversed) == pytest.approx((-z, p))
    # The paper's scale: 98.8% vs 98.1% accuracy over 8,000 examples is significant at p < 0.01.
    assert two_proportion_z_test(0.988, 8000, 0.981, 8000)[1] < 0.01
    assert two_proportion_z_test(1.0, 50, 1.0, 80) == (0.0, 1.0)
    with pytest.raises(ValueError):
        two_proportion_z_test(1.2, 10, 0.5, 10)
