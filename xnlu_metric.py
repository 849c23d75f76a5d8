# Copyright 2026 The CrossAligner XNLU authors. Apache-2.0.
"""XNLU scores as an `evaluate` module: intent accuracy, slot precision / recall / F1 (per type too), exact match.

Self-contained (standard library, `datasets`, `evaluate` and `seqeval` only), so that it loads by path, offline:

    import evaluate
    xnlu = evaluate.load("path/to/xnlu_metric.py")
    xnlu.compute(
        predictions=[{"intent": "alarm/set_alarm", "tags": ["O", "B-datetime", "I-datetime"]}],
        references=[{"intent": "alarm/set_alarm", "tags": ["O", "B-datetime", "I-datetime"]}],
    )

Slots are scored as spans (chunks), read by seqeval's default mode, as conlleval reads them: an entity starts at
`B-X`, or at an `I-X` that does not continue an `X` entity (after `O`, or after another type), and goes on over the
`I-X` that follow. Real gold files contain such stray `I-X` starts; reading them this way keeps every gold entity
(strict IOB2 would drop it and count a correct prediction there as a false positive). A predicted span is correct
when a gold span has the same type and the same words. Precision, recall and F1 are micro-averaged over all spans
of all utterances (0 when there is nothing to divide by); `slot_types` breaks them down per type, with `support`
the number of gold spans.

Exact match: the intent is right and the predicted spans are exactly the gold spans (every tag right, a stray
`I-X` that starts a gold entity matching a predicted `B-X`).

`gold_scheme="io"` first collapses the gold to IO (the released code of the CrossAligner paper did this; it merges
adjacent gold entities of one type, which inflates F1): for comparison with the paper only.
"""

from __future__ import annotations

import datasets
import evaluate
from seqeval.metrics.sequence_labeling import get_entities

_CITATION = """\
@inproceedings{gritta-etal-2022-crossaligner,
    title = "{C}ross{A}ligner {\\&} Co: Zero-Shot Transfer Methods for
             Task-Oriented Cross-lingual Natural Language Understanding",
    author = "Gritta, Milan and Hu, Ruoyu and Iacobacci, Ignacio",
    booktitle = "Findings of the Association for Computational Linguistics: ACL 2022",
    year = "2022",
}
"""

_DESCRIPTION = """\
Joint intent classification and slot filling scores, as reported for task-oriented cross-lingual NLU: intent
accuracy, span-level slot precision, recall and F1 (conlleval chunks, micro-averaged, and per slot type), exact match
(intent and every slot span right) and overall = (intent accuracy + slot F1) / 2.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: one dict per utterance, {"intent": str, "tags": list of BIO tags, one per word}.
    references: the gold dicts, same shape; one tag per word, as many words as the prediction.
    gold_scheme: "bio" (default) scores against the gold as given; "io" collapses it to IO first.
Returns:
    intent_accuracy, slot_precision, slot_recall, slot_f1, exact_match, overall (fractions in [0, 1]),
    num_examples, num_gold_slots, num_predicted_slots, and slot_types: {type: {precision, recall, f1, support}}.
"""

GOLD_SCHEMES = ("bio", "io")
_EXAMPLE = {"intent": datasets.Value("string"), "tags": datasets.Sequence(datasets.Value("string"))}


def bio_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, first word, end word exclusive) of the entities of one utterance's BIO tags, read as conlleval does."""
    for tag in tags:
        # seqeval only warns about a malformed tag (and reads E-X / S-X as IOBES): refuse it here.
        prefix, _, slot_type = tag.partition("-")
        if prefix not in ("O", "B", "I") or (prefix != "O" and not slot_type):
            raise ValueError(f"malformed BIO tag {tag!r}: expected 'O', 'B-<type>' or 'I-<type>'")
    return [(slot_type, first, last + 1) for slot_type, first, last in get_entities(list(tags))]


def collapse_to_io(tags: list[str]) -> list[str]:
    """BIO -> IO: the gold as the paper's code scored it. Read as BIO, a run of `I-X` is one entity, so adjacent
    entities of one type merge. Kept by hand: seqeval converts no tagging scheme into another."""
    io_tags = []
    for tag in tags:
        slot_type = "O" if tag == "O" else tag.partition("-")[2]
        io_tags.append("O" if slot_type == "O" else f"I-{slot_type}")
    return io_tags


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _prf(correct: int, predicted: int, gold: int) -> dict[str, float]:
    precision, recall = _ratio(correct, predicted), _ratio(correct, gold)
    f1 = _ratio(2 * precision * recall, precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def xnlu_scores(predictions: list[dict], references: list[dict], gold_scheme: str = "bio") -> dict:
    """The scores of the module's docstring, on plain lists (what `XNLUMetric.compute` calls)."""
    if gold_scheme not in GOLD_SCHEMES:
        raise ValueError(f"unknown gold_scheme {gold_scheme!r}; valid: {', '.join(GOLD_SCHEMES)}")
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if not references:
        raise ValueError("cannot score an empty test set")
    counts: dict[str, list[int]] = {}  # type -> [correct, predicted, gold]
    intents_right = exact = 0
    for index, (predicted, gold) in enumerate(zip(predictions, references)):
        gold_tags = list(gold["tags"]) if gold_scheme == "bio" else collapse_to_io(list(gold["tags"]))
        predicted_tags = list(predicted["tags"])
        if len(gold_tags) != len(predicted_tags):
            raise ValueError(f"example {index}: {len(gold_tags)} gold tags but {len(predicted_tags)} predicted tags")
        gold_spans, predicted_spans = set(bio_spans(gold_tags)), set(bio_spans(predicted_tags))
        for spans, column in ((gold_spans & predicted_spans, 0), (predicted_spans, 1), (gold_spans, 2)):
            for slot_type, _, _ in spans:
                counts.setdefault(slot_type, [0, 0, 0])[column] += 1
        intent_right = predicted["intent"] == gold["intent"]
        intents_right += intent_right
        exact += intent_right and gold_spans == predicted_spans
    correct, predicted_total, gold_total = (sum(row[i] for row in counts.values()) for i in range(3))
    slots = _prf(correct, predicted_total, gold_total)
    intent_accuracy = intents_right / len(references)
    return {
        "intent_accuracy": intent_accuracy,
        "slot_precision": slots["precision"],
        "slot_recall": slots["recall"],
        "slot_f1": slots["f1"],
        "exact_match": exact / len(references),
        "overall": (intent_accuracy + slots["f1"]) / 2,
        "num_examples": len(references),
        "num_gold_slots": gold_total,
        "num_predicted_slots": predicted_total,
        "slot_types": {slot_type: {**_prf(*row), "support": row[2]} for slot_type, row in sorted(counts.items())},
    }


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class XNLUMetric(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": _EXAMPLE, "references": _EXAMPLE}),
        )

    def _compute(self, predictions, references, gold_scheme: str = "bio") -> dict:
        return xnlu_scores(predictions, references, gold_scheme)
