"""Alignment losses, CoV weights, arguments and collator of trainer_crossaligner, on tiny tensors."""

import math

import numpy as np
import pytest
import torch
from tiny_models import INTENTS, SLOT_LABELS, build_tiny_model

from crossaligner_config import ALIGNMENTS, CrossAlignerTrainingArguments, parse_alignment
from xnlu_batching import XNLUDataCollator
from xnlu_losses import CoVWeighting, contrastive_loss, crossaligner_loss, translate_intent_loss, xeroalign_loss


def _log_sigmoid(x):
    return -math.log1p(math.exp(-x))


def test_crossaligner_loss_is_bce_of_english_plus_bce_of_translation():
    english = torch.tensor([[0.5, -1.0, 2.0]])
    translation = torch.tensor([[2.0, 0.0, -3.0]])
    targets = torch.tensor([[1.0, 0.0, 1.0]])

    def bce(logits):
        terms = [-_log_sigmoid(x) if y else -_log_sigmoid(-x) for x, y in zip(logits[0].tolist(), targets[0].tolist())]
        return sum(terms) / len(terms)

    expected = bce(english) + bce(translation)
    assert crossaligner_loss(english, translation, targets).item() == pytest.approx(expected, rel=1e-6)


def test_xeroalign_loss_is_mse_of_pooled_vectors():
    english = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    translation = torch.tensor([[0.0, 4.0], [1.0, 0.0]])
    assert xeroalign_loss(english, translation).item() == pytest.approx((1 + 4 + 1 + 0) / 4)


def test_contrastive_loss_is_cross_entropy_over_cosine_similarities_without_temperature():
    english = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    translation = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    c = 1 / math.sqrt(2)  # cos(45 degrees)
    # Row i: English i against every translation; its own translation (the diagonal) is the target.
    row0 = -math.log(math.exp(1.0) / (math.exp(1.0) + math.exp(c)))
    row1 = -math.log(math.exp(c) / (math.exp(0.0) + math.exp(c)))
    expected = (row0 + row1) / 2
    assert contrastive_loss(english, translation).item() == pytest.approx(expected, rel=1e-6)
    # Cosine similarity: the vectors' lengths do not matter (no temperature, no dot product).
    assert contrastive_loss(3 * english, 0.5 * translation).item() == pytest.approx(expected, rel=1e-6)


def test_translate_intent_loss_is_intent_cross_entropy_with_the_english_label():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    labels = torch.tensor([0, 2])
    row0 = -math.log(math.exp(2) / (math.exp(2) + 2))
    row1 = -math.log(1 / (2 + math.exp(1)))
    assert translate_intent_loss(logits, labels).item() == pytest.approx((row0 + row1) / 2, rel=1e-6)


def test_crossaligner_loss_reaches_the_encoder_through_the_slot_head(tiny_tokenizer):
    model = build_tiny_model(tiny_tokenizer, INTENTS, SLOT_LABELS, max_seq_length=8).train()
    english = tiny_tokenizer(["wake me up at nine am"], return_tensors="pt")
    translation = tiny_tokenizer(["despierta a las siete"], return_tensors="pt")
    targets = torch.tensor([[1.0, 1.0, 0.0, 0.0]])

    def presence(encoded):
        slot_logits = model(**encoded).slot_logits
        return model.crossaligner_logits(slot_logits, encoded["attention_mask"])

    crossaligner_loss(presence(english), presence(translation), targets).backward()
    for name in (
        "crossaligner_head.weight",
        "slot_classifier.weight",
        "roberta.encoder.layer.0.attention.self.query.weight",
        "roberta.embeddings.word_embeddings.weight",
    ):
        gradient = dict(model.named_parameters())[name].grad
        assert gradient is not None and gradient.abs().sum() > 0, name
    # The CA loss does not involve the intent head.
    assert model.intent_classifier.weight.grad is None


def reference_cov_weights(losses: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """Independent CoV: recompute everything from the full history at every step (no running statistics)."""
    ratios, weights = [], []
    for t in range(len(losses)):
        history = np.array(ratios)
        weights.append(1.0 if t == 0 else history.std() / history.mean())  # numpy std: population (ddof=0)
        ratios.append(1.0 if t == 0 else losses[t] / (losses[:t].mean() + eps))
    return np.array(weights)


def test_cov_weights_match_an_independent_implementation():
    rng = np.random.default_rng(0)
    losses = {"crossaligner": rng.uniform(0.5, 2.0, 30), "xeroalign": np.geomspace(1.0, 1e-3, 30)}
    cov = CoVWeighting(list(losses))
    for t in range(30):
        weights = cov.weights()
        for name, values in losses.items():
            assert weights[name] == pytest.approx(reference_cov_weights(values)[t], rel=1e-9, abs=1e-12), (name, t)
        cov.update({name: values[t] for name, values in losses.items()})
    assert cov.steps == 30


def test_cov_first_weight_is_one_and_second_is_zero():
    cov = CoVWeighting(["xeroalign"])
    assert cov.weights() == {"xeroalign": 1.0}
    cov.update({"xeroalign": 3.0})
    assert cov.weights() == {"xeroalign": 0.0}
    cov.update({"xeroalign": 1.5})  # ratio 0.5 after ratio 1: population std 0.25, mean 0.75
    assert cov.weights()["xeroalign"] == pytest.approx(0.25 / 0.75)


def test_cov_state_round_trips_through_json():
    import json

    cov = CoVWeighting(["crossaligner", "xeroalign"])
    for values in ([1.0, 2.0], [0.7, 2.5], [0.9, 1.0]):
        cov.update(dict(zip(cov.names, values)))
    restored = CoVWeighting(["crossaligner", "xeroalign"])
    restored.load_state_dict(json.loads(json.dumps(cov.state_dict())))
    assert restored.state_dict() == cov.state_dict() and restored.weights() == cov.weights()
    with pytest.raises(ValueError, match="crossaligner"):
        CoVWeighting(["xeroalign"]).load_state_dict(cov.state_dict())


@pytest.mark.parametrize(
    "given, expected",
    [
        (["crossaligner"], ["crossaligner"]),
        (["xeroalign", "crossaligner"], ["crossaligner", "xeroalign"]),
        ("crossaligner,xeroalign", ["crossaligner", "xeroalign"]),
        (["none"], []),
        ("none", []),
        ([], []),
        (None, []),
        (list(ALIGNMENTS), list(ALIGNMENTS)),
    ],
)
def test_parse_alignment(given, expected):
    assert parse_alignment(given) == expected


def test_arguments_reject_unknown_names_with_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match="crossaligner, xeroalign, contrastive, translate_intent"):
        CrossAlignerTrainingArguments(output_dir=str(tmp_path), alignment=["crossalinger"])
    with pytest.raises(ValueError, match="cov, sum"):
        CrossAlignerTrainingArguments(output_dir=str(tmp_path), weighting="mean")
    with pytest.raises(ValueError, match="cannot be combined"):
        CrossAlignerTrainingArguments(output_dir=str(tmp_path), alignment=["none", "xeroalign"])


def test_arguments_parse_from_the_command_line_and_are_saved(tmp_path):
    from transformers import HfArgumentParser

    (args,) = HfArgumentParser(CrossAlignerTrainingArguments).parse_args_into_dataclasses(
        [
            "--output_dir",
            str(tmp_path),
            "--alignment",
            "xeroalign",
            "crossaligner",
            "--weighting",
            "sum",
            "--head_learning_rate",
            "2e-3",
        ]
    )
    assert args.alignment == ["crossaligner", "xeroalign"]
    assert (args.weighting, args.head_learning_rate) == ("sum", 2e-3)
    saved = args.to_dict()
    assert saved["alignment"] == ["crossaligner", "xeroalign"] and saved["weighting"] == "sum"


@pytest.mark.parametrize(
    "alignment, weighting, expected",
    [
        (["none"], None, "sum"),
        (["crossaligner"], None, "sum"),  # a single method has weight 1, as in the paper
        (["contrastive"], None, "sum"),
        (["xeroalign", "crossaligner"], None, "cov"),  # CoV where losses are combined
        (["crossaligner"], "cov", "cov"),  # an explicit choice wins
        (["xeroalign", "crossaligner"], "sum", "sum"),
    ],
)
def test_default_weighting_is_one_for_a_single_loss_and_cov_for_several(tmp_path, alignment, weighting, expected):
    from transformers import HfArgumentParser

    argv = ["--output_dir", str(tmp_path), "--alignment", *alignment]
    if weighting is not None:
        argv += ["--weighting", weighting]
    (args,) = HfArgumentParser(CrossAlignerTrainingArguments).parse_args_into_dataclasses(argv)
    assert args.weighting == expected


def test_paper_optimization_refuses_what_the_released_code_did_not_do(tmp_path):
    with pytest.raises(ValueError, match="weight_decay=0.01"):
        CrossAlignerTrainingArguments(output_dir=str(tmp_path), paper_optimization=True, weight_decay=0.01)
    with pytest.raises(ValueError, match="max_grad_norm=5.0"):
        CrossAlignerTrainingArguments(output_dir=str(tmp_path), paper_optimization=True, max_grad_norm=5.0)
    with pytest.raises(ValueError, match="optim=sgd"):
        CrossAlignerTrainingArguments(output_dir=str(tmp_path), paper_optimization=True, optim="sgd")


def test_collator_pads_each_side_and_drops_metadata(tiny_tokenizer):
    features = [
        {
            "id": "a",
            "words": ["x"],
            "tags": ["O"],
            "intent": "i",
            "word_token_index": [1],
            "input_ids": [0, 5, 2],
            "attention_mask": [1, 1, 1],
            "slot_labels": [-100, 1, -100],
            "intent_labels": 2,
            "translation_input_ids": [0, 7, 8, 9, 2],
            "translation_attention_mask": [1] * 5,
            "crossaligner_targets": [1.0, 1.0, 0.0],
        },
        {
            "id": "b",
            "words": ["y", "z"],
            "tags": ["O", "O"],
            "intent": "j",
            "word_token_index": [1, 2],
            "input_ids": [0, 5, 6, 2],
            "attention_mask": [1, 1, 1, 1],
            "slot_labels": [-100, 0, 0, -100],
            "intent_labels": 0,
            "translation_input_ids": [0, 7, 2],
            "translation_attention_mask": [1] * 3,
            "crossaligner_targets": [1.0, 0.0, 0.0],
        },
    ]
    batch = XNLUDataCollator(tiny_tokenizer)(features)
    pad = tiny_tokenizer.pad_token_id
    assert sorted(batch) == sorted(
        [
            "input_ids",
            "attention_mask",
            "slot_labels",
            "intent_labels",
            "translation_input_ids",
            "translation_attention_mask",
            "crossaligner_targets",
        ]
    )
    assert batch["input_ids"].tolist() == [[0, 5, 2, pad], [0, 5, 6, 2]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0], [1, 1, 1, 1]]
    assert batch["slot_labels"].tolist() == [[-100, 1, -100, -100], [-100, 0, 0, -100]]
    assert batch["translation_input_ids"].tolist() == [[0, 7, 8, 9, 2], [0, 7, 2, pad, pad]]
    assert batch["translation_attention_mask"].tolist() == [[1] * 5, [1, 1, 1, 0, 0]]
    assert batch["intent_labels"].tolist() == [2, 0] and batch["intent_labels"].dtype == torch.long
    assert batch["crossaligner_targets"].dtype == torch.float
    # Labelled sets without translations (evaluation) collate to the model's inputs only.
    labelled = [
        {k: v for k, v in feature.items() if not k.startswith(("translation", "crossaligner"))} for feature in features
    ]
    assert sorted(XNLUDataCollator(tiny_tokenizer, pad_to_multiple_of=8)(labelled)) == sorted(
        ["input_ids", "attention_mask", "slot_labels", "intent_labels"]
    )
    assert XNLUDataCollator(tiny_tokenizer, pad_to_multiple_of=8)(labelled)["input_ids"].shape == (2, 8)
