"""Scoring: the xnlu_metric evaluate module (conlleval chunks, P/R/F1 per type), MEAN over languages, z-test."""

import math
import random
import subprocess
import sys

import pytest
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

from modeling_crossaligner import io_to_bio
from xnlu_evaluation import METRIC_PATH, mean_over_languages, score_language, two_proportion_z_test

# Two adjacent "datetime" entities in the gold: IO predictions cannot separate them (see README "Labels").
GOLD_TAGS = [
    ["O", "B-datetime", "B-datetime", "O"],
    ["B-location", "I-location", "O"],
    ["O", "B-datetime", "I-datetime"],
]
GOLD_INTENTS = ["alarm", "weather", "alarm"]


def test_perfect_io_predictions_still_miss_adjacent_same_type_gold_entities():
    predicted_tags = [
        io_to_bio(["O", "datetime", "datetime", "O"]),
        io_to_bio(["location", "location", "O"]),
        io_to_bio(["O", "datetime", "datetime"]),
    ]
    scores = score_language(GOLD_INTENTS, ["alarm", "weather", "weather"], GOLD_TAGS, predicted_tags)
    # Gold spans: 4 (two datetime in example 0, location, datetime); predicted: 3 (merged datetime), 2 right.
    precision, recall = 2 / 3, 2 / 4
    f1 = 2 * precision * recall / (precision + recall)
    assert scores["slot_precision"] == pytest.approx(precision) and scores["slot_recall"] == pytest.approx(recall)
    assert scores["slot_f1"] == pytest.approx(f1)
    assert scores["intent_accuracy"] == pytest.approx(2 / 3)
    assert scores["exact_match"] == pytest.approx(1 / 3)  # example 1 only: example 0 spans differ, 2 has a wrong intent
    assert scores["overall"] == pytest.approx((2 / 3 + f1) / 2)
    assert (scores["num_examples"], scores["num_gold_slots"], scores["num_predicted_slots"]) == (3, 4, 3)
    assert scores["slot_types"]["datetime"] == pytest.approx(
        {"precision": 1 / 2, "recall": 1 / 3, "f1": 0.4, "support": 3}
    )
    assert scores["slot_types"]["location"] == pytest.approx({"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1})
    # Scoring the IO-collapsed gold (the released code's way) merges the gold entities too: everything matches.
    collapsed = score_language(
        GOLD_INTENTS, ["alarm", "weather", "weather"], GOLD_TAGS, predicted_tags, gold_scheme="io"
    )
    assert collapsed["slot_f1"] == 1.0 and collapsed["exact_match"] == pytest.approx(2 / 3)


def test_chunks_are_read_as_conlleval_reads_them():
    # A wrong boundary or type is a miss; an I- run after O is an entity (conlleval, seqeval's default mode).
    predicted = [["O", "B-datetime", "O", "O"], ["B-datetime", "I-datetime", "O"], ["O", "I-datetime", "I-datetime"]]
    scores = score_language(GOLD_INTENTS, GOLD_INTENTS, GOLD_TAGS, predicted)
    # Predicted spans: datetime(1,2) right, datetime(0,2) wrong type, datetime(1,3) right (starts with I-).
    precision, recall = 2 / 3, 2 / 4
    assert scores["slot_f1"] == pytest.approx(2 * precision * recall / (precision + recall))
    assert scores["intent_accuracy"] == 1.0 and scores["exact_match"] == pytest.approx(1 / 3)


def test_a_stray_inside_tag_in_the_gold_is_an_entity_that_a_correct_prediction_matches():
    # MTOD's Spanish and Thai test sets have gold entities that begin with I-X. Strict IOB2 would drop them.
    gold = [["O", "I-location", "I-location"], ["B-datetime", "I-location"]]
    predicted = [io_to_bio(["O", "location", "location"]), io_to_bio(["datetime", "location"])]
    scores = score_language(["a", "b"], ["a", "b"], gold, predicted)
    assert scores["num_gold_slots"] == 3 and scores["slot_f1"] == 1.0 and scores["exact_match"] == 1.0


def test_no_entities_anywhere_scores_zero_f1_without_warning():
    scores = score_language(["a"], ["a"], [["O", "O"]], [["O", "O"]])
    assert scores["slot_f1"] == 0.0 and scores["exact_match"] == 1.0 and scores["slot_types"] == {}


def test_an_independent_scorer_gives_the_same_numbers():
    """seqeval's default mode (conlleval chunks) on random BIO sequences with stray I- tags, mixed types and
    boundaries: micro and per-type precision / recall / F1 agree with the module."""
    rng = random.Random(0)
    tags = ["O", "O", "O", "B-a", "I-a", "B-b", "I-b", "I-c"]
    gold = [[rng.choice(tags) for _ in range(rng.randint(1, 9))] for _ in range(400)]
    predicted = [[tag if rng.random() < 0.7 else rng.choice(tags) for tag in row] for row in gold]
    intents = ["x"] * len(gold)
    scores = score_language(intents, intents, gold, predicted)
    assert scores["slot_precision"] == pytest.approx(precision_score(gold, predicted))
    assert scores["slot_recall"] == pytest.approx(recall_score(gold, predicted))
    assert scores["slot_f1"] == pytest.approx(f1_score(gold, predicted))
    report = classification_report(gold, predicted, output_dict=True, zero_division=0)
    for slot_type in ("a", "b", "c"):
        expected = {key: report[slot_type][key] for key in ("precision", "recall", "f1-score", "support")}
        ours = scores["slot_types"][slot_type]
        assert (ours["precision"], ours["recall"], ours["f1"], ours["support"]) == pytest.approx(
            tuple(expected.values())
        )


def test_the_metric_loads_with_evaluate_by_path_offline(tmp_path):
    code = f"""
import evaluate
xnlu = evaluate.load({str(METRIC_PATH)!r})
print(xnlu.compute(predictions=[{{"intent": "a", "tags": ["B-x", "O"]}}],
                   references=[{{"intent": "a", "tags": ["I-x", "O"]}}])["slot_f1"])
"""
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "1.0"


def test_add_batch_streams_to_the_same_scores_as_one_compute():
    """evaluate's streaming use: predictions added batch by batch (as a prediction loop produces them), then one
    compute, gives the scores of computing everything at once."""
    from xnlu_evaluation import load_metric

    rng = random.Random(1)
    tags = ["O", "O", "B-a", "I-a", "B-b", "I-b"]
    references = [
        {"intent": rng.choice("xy"), "tags": [rng.choice(tags) for _ in range(rng.randint(1, 6))]} for _ in range(50)
    ]
    predictions = [
        {"intent": rng.choice("xy"), "tags": [t if rng.random() < 0.7 else rng.choice(tags) for t in ref["tags"]]}
        for ref in references
    ]
    metric = load_metric()
    for start in range(0, len(references), 8):
        metric.add_batch(predictions=predictions[start : start + 8], references=references[start : start + 8])
    streamed = metric.compute()
    assert streamed == metric.compute(predictions=predictions, references=references)
    assert streamed["num_examples"] == 50 and 0 < streamed["slot_f1"] < 1


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="number of examples"):
        score_language(["a"], [], [["O"]], [["O"]])
    with pytest.raises(ValueError, match="malformed BIO tag 'X-a'"):
        score_language(["a"], ["a"], [["X-a"]], [["O"]])
    with pytest.raises(ValueError, match="malformed BIO tag 'E-a'"):  # IOBES, not BIO: refused, not read as an end
        score_language(["a"], ["a"], [["O"]], [["E-a"]])
    with pytest.raises(ValueError, match="example 0"):
        score_language(["a"], ["a"], [["O", "O"]], [["O"]])
    with pytest.raises(ValueError, match="bio, io"):
        score_language(["a"], ["a"], [["O"]], [["O"]], gold_scheme="iob")
    with pytest.raises(ValueError, match="empty"):
        score_language([], [], [], [])


def test_mean_over_languages_is_unweighted_and_sums_counts():
    scores = {
        "en": {"intent_accuracy": 1.0, "slot_f1": 1.0, "num_examples": 7},
        "es": {"intent_accuracy": 0.9, "slot_f1": 0.7, "overall": 0.8, "num_examples": 100, "slot_types": {}},
        "th": {"intent_accuracy": 0.5, "slot_f1": 0.3, "overall": 0.4, "num_examples": 10, "slot_types": {}},
    }
    mean = mean_over_languages(scores, ["es", "th"])
    assert mean == pytest.approx({"intent_accuracy": 0.7, "slot_f1": 0.5, "overall": 0.6, "num_examples": 110})
    assert set(mean_over_languages(scores)) == {"intent_accuracy", "slot_f1", "num_examples"}


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
