"""The trainer's wiring, against the model run on each side of the pairs separately: the English and translation
halves of a batch, the loss each alignment name computes, and the labels of the main losses.

The reference runs the model on the English batch and on the translation batch one at a time (each padded on its
own), with dropout off, and applies the loss functions of trainer_crossaligner to those outputs. The trainer's
values must match them, and each alignment's value must differ from the other alignments' references, so that a
loss computed on the wrong half, with another method's formula, or with labels on the translation rows is caught.
"""

import pytest
import torch
from tiny_models import INTENTS, SLOT_LABELS, build_tiny_model
from trainer_helpers import MAX_SEQ_LENGTH, make_trainer, pair_dataset

from crossaligner_config import ALIGNMENTS
from projection import project_batch
from xnlu_batching import XNLUDataCollator
from xnlu_losses import contrastive_loss, crossaligner_loss, projection_loss, translate_intent_loss, xeroalign_loss

# Dropout off, so that every forward pass of the same input is the same; large initial weights, so that the outputs
# of different inputs (and the losses of different formulas) differ clearly.
NO_DROPOUT = dict(
    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout=0.0, initializer_range=0.5
)


@pytest.fixture(scope="module")
def setup(tiny_tokenizer, tmp_path_factory):
    dataset = pair_dataset(tiny_tokenizer, count=8, seed=3)
    trainer = make_trainer(
        tmp_path_factory.mktemp("wiring"),
        train_dataset=dataset,
        tokenizer=tiny_tokenizer,
        alignment=list(ALIGNMENTS),
        weighting="sum",
    )
    trainer.model = build_tiny_model(
        tiny_tokenizer, INTENTS, SLOT_LABELS, seed=1, max_seq_length=MAX_SEQ_LENGTH, **NO_DROPOUT
    ).train()
    inputs = XNLUDataCollator(tiny_tokenizer)([dataset[i] for i in range(len(dataset))])
    return trainer, inputs


def side(model, inputs, prefix=""):
    return model(
        input_ids=inputs[f"{prefix}input_ids"],
        attention_mask=inputs[f"{prefix}attention_mask"],
        output_hidden_states=True,
    )


@pytest.fixture(scope="module")
def reference(setup):
    """Each alignment loss from separate English and translation forward passes."""
    trainer, inputs = setup
    with torch.no_grad():
        english, translation = side(trainer.model, inputs), side(trainer.model, inputs, "translation_")
    return {
        "crossaligner": crossaligner_loss(
            english.crossaligner_logits, translation.crossaligner_logits, inputs["crossaligner_targets"]
        ),
        "xeroalign": xeroalign_loss(english.pooled_output, translation.pooled_output),
        "contrastive": contrastive_loss(english.pooled_output, translation.pooled_output),
        "translate_intent": translate_intent_loss(translation.intent_logits, inputs["intent_labels"]),
        "projection": projection_loss(translation.slot_logits, projected_labels(trainer, english, translation, inputs)),
        # What the same formulas give with the halves swapped: a wiring that swaps them must not pass.
        "contrastive swapped": contrastive_loss(translation.pooled_output, english.pooled_output),
        "translate_intent swapped": translate_intent_loss(english.intent_logits, inputs["intent_labels"]),
    }


def projected_labels(trainer, english, translation, inputs):
    layer = trainer.projection_layer()
    word_labels = inputs["slot_labels"].gather(1, inputs["word_token_index"].clamp(min=0))
    labels, _ = project_batch(
        english.hidden_states[layer],
        translation.hidden_states[layer],
        inputs["word_token_index"],
        word_labels,
        inputs["translation_unit_heads"],
    )
    assert (labels > 0).any() and (labels == 0).any()  # entities and O were projected: the check below is not vacuous
    return labels


def trainer_losses(trainer, inputs):
    with torch.no_grad():
        pairs = trainer.forward_pairs(trainer.model, inputs)
        return pairs, {name: trainer.alignment_loss(name, pairs, inputs) for name in ALIGNMENTS}


@pytest.mark.parametrize("name", ALIGNMENTS)
def test_each_alignment_is_its_own_loss_on_the_right_halves(setup, reference, name):
    trainer, inputs = setup
    _, losses = trainer_losses(trainer, inputs)
    torch.testing.assert_close(losses[name], reference[name], rtol=1e-5, atol=1e-6)
    for other in ALIGNMENTS:
        if other != name:  # another method's formula would not pass for this name
            assert not torch.isclose(losses[name], reference[other], rtol=1e-3), other
    swapped = reference.get(f"{name} swapped")
    if swapped is not None:
        assert not torch.isclose(losses[name], swapped, rtol=1e-3)


def test_an_unknown_alignment_name_is_an_error_not_another_loss(setup):
    trainer, inputs = setup
    pairs, _ = trainer_losses(trainer, inputs)
    with pytest.raises(ValueError, match="no loss is defined for alignment 'bogus'"):
        trainer.alignment_loss("bogus", pairs, inputs)


def test_main_losses_are_the_english_rows_only(setup):
    """The translation rows carry no intent or slot label: the main losses equal those of the English batch alone."""
    trainer, inputs = setup
    pairs, _ = trainer_losses(trainer, inputs)
    with torch.no_grad():
        english = trainer.model(
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            intent_labels=inputs["intent_labels"],
            slot_labels=inputs["slot_labels"],
        )
    torch.testing.assert_close(pairs.outputs.intent_loss, english.intent_loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(pairs.outputs.slot_loss, english.slot_loss, rtol=1e-5, atol=1e-6)
    # Labels on the translation rows too would change both (the check above is not vacuous).
    with torch.no_grad():
        both = trainer.model(
            input_ids=torch.cat([inputs["input_ids"], inputs["input_ids"]]),
            attention_mask=torch.cat([inputs["attention_mask"], inputs["attention_mask"]]),
            intent_labels=torch.cat([inputs["intent_labels"], torch.roll(inputs["intent_labels"], 1)]),
            slot_labels=torch.cat([inputs["slot_labels"], inputs["slot_labels"]]),
        )
    assert not torch.isclose(both.intent_loss, english.intent_loss, rtol=1e-3)


def test_the_total_loss_is_the_main_losses_plus_the_weighted_alignment_losses(setup, reference):
    trainer, inputs = setup
    with torch.no_grad():
        total = trainer.compute_loss(trainer.model, inputs)
        english = trainer.model(
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            intent_labels=inputs["intent_labels"],
            slot_labels=inputs["slot_labels"],
        )
    expected = english.intent_loss + english.slot_loss + sum(reference[name] for name in ALIGNMENTS)  # `sum`: 1 each
    torch.testing.assert_close(total, expected, rtol=1e-5, atol=1e-5)
