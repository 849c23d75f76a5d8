"""CrossAlignerTrainer end to end on the tiny model (CPU, a few steps): logging, CoV, resume, bad input."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from test_trainer_losses import reference_cov_weights
from trainer_helpers import labelled_dataset, make_trainer, pair_dataset
from transformers import TrainerCallback

from trainer_crossaligner import COV_STATE_NAME, CrossAlignerTrainer

TWO_ALIGNMENTS = ["crossaligner", "xeroalign"]


class RecordingTrainer(CrossAlignerTrainer):
    """Keeps every micro-batch's loss values as compute_loss produced them, before any tracking or averaging."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.micro_batches = []

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if model.training:
            self.micro_batches.append({"step": self.state.global_step + 1})
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    def forward_pairs(self, model, inputs):
        pairs = super().forward_pairs(model, inputs)
        self.micro_batches[-1].update(
            intent_loss=pairs.outputs.intent_loss.item(), slot_loss=pairs.outputs.slot_loss.item()
        )
        return pairs

    def alignment_loss(self, name, pairs, inputs):
        value = super().alignment_loss(name, pairs, inputs)
        self.micro_batches[-1][f"{name}_loss"] = value.item()
        return value


def training_logs(trainer):
    return [entry for entry in trainer.state.log_history if "loss" in entry]


@pytest.mark.parametrize("accumulation", [1, 2])
def test_each_log_entry_has_that_steps_losses_and_weights(tmp_path, tiny_tokenizer, accumulation):
    alignment = ["crossaligner", "xeroalign", "contrastive", "translate_intent"]
    trainer = make_trainer(
        tmp_path,
        tokenizer=tiny_tokenizer,
        trainer_class=RecordingTrainer,
        alignment=alignment,
        max_steps=5,
        gradient_accumulation_steps=accumulation,
        eval_strategy="steps",
        eval_steps=2,
        eval_dataset=labelled_dataset(tiny_tokenizer),
    )
    trainer.train()
    logs = training_logs(trainer)
    assert [entry["step"] for entry in logs] == [1, 2, 3, 4, 5]
    loss_names = ["intent_loss", "slot_loss", *(f"{name}_loss" for name in alignment)]
    for entry in logs:
        micro = [record for record in trainer.micro_batches if record["step"] == entry["step"]]
        assert len(micro) == accumulation
        for name in loss_names:
            # A step's value is the mean over its micro-batches.
            assert entry[name] == pytest.approx(np.mean([record[name] for record in micro]), rel=1e-6), name
        # Trainer's own total agrees with the parts: loss = L_ic + L_ec + sum of weight * alignment loss.
        weighted = sum(entry[f"{name}_weight"] * entry[f"{name}_loss"] for name in alignment)
        total = entry["intent_loss"] + entry["slot_loss"] + weighted
        assert entry["loss"] == pytest.approx(total, rel=1e-5)
    # CoV counted optimisation steps, not micro-batches nor evaluation batches, and its weights follow eq. 3.
    assert trainer.cov.steps == 5
    for name in alignment:
        values = np.array([entry[f"{name}_loss"] for entry in logs])
        assert [entry[f"{name}_weight"] for entry in logs] == pytest.approx(reference_cov_weights(values), rel=1e-6)
    assert any("eval_overall" in entry for entry in trainer.state.log_history)


def test_logging_every_two_steps_averages_the_steps(tmp_path, tiny_tokenizer):
    trainer = make_trainer(
        tmp_path,
        tokenizer=tiny_tokenizer,
        trainer_class=RecordingTrainer,
        alignment=["xeroalign"],
        weighting="sum",
        max_steps=4,
        logging_steps=2,
    )
    trainer.train()
    logs = training_logs(trainer)
    assert [entry["step"] for entry in logs] == [2, 4]
    for entry in logs:
        steps = (entry["step"] - 1, entry["step"])
        micro = [record for record in trainer.micro_batches if record["step"] in steps]
        for name in ("intent_loss", "slot_loss", "xeroalign_loss"):
            assert entry[name] == pytest.approx(np.mean([record[name] for record in micro]), rel=1e-6)
        assert entry["xeroalign_weight"] == 1.0  # `sum` weighting


def test_zero_shot_logs_the_main_losses_only(tmp_path, tiny_tokenizer):
    trainer = make_trainer(
        tmp_path,
        tokenizer=tiny_tokenizer,
        alignment=["none"],
        max_steps=2,
        train_dataset=labelled_dataset(tiny_tokenizer, language="en"),
    )
    trainer.train()
    for entry in training_logs(trainer):
        assert entry["loss"] == pytest.approx(entry["intent_loss"] + entry["slot_loss"], rel=1e-5)
        assert not [key for key in entry if key.endswith("_weight")]


class Interrupt(TrainerCallback):
    def __init__(self, at_step):
        self.at_step = at_step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.at_step:
            raise KeyboardInterrupt


def test_resume_restores_cov_state_and_gives_the_uninterrupted_parameters(tmp_path, tiny_tokenizer):
    settings = dict(
        tokenizer=tiny_tokenizer,
        alignment=TWO_ALIGNMENTS,
        max_steps=6,
        save_strategy="steps",
        save_steps=3,
        train_dataset=pair_dataset(tiny_tokenizer),
    )
    uninterrupted = make_trainer(tmp_path / "a", **settings)
    uninterrupted.train()

    interrupted = make_trainer(tmp_path / "b", callbacks=[Interrupt(at_step=4)], **settings)
    with pytest.raises(KeyboardInterrupt):
        interrupted.train()
    checkpoint = tmp_path / "b" / "checkpoint-3"
    saved = json.loads((checkpoint / COV_STATE_NAME).read_text())
    assert saved["steps"] == 3
    assert saved == json.loads((tmp_path / "a" / "checkpoint-3" / COV_STATE_NAME).read_text())

    resumed = make_trainer(tmp_path / "b", **settings)
    resumed.train(resume_from_checkpoint=str(checkpoint))
    assert resumed.cov.state_dict() == uninterrupted.cov.state_dict()
    for (name, expected), actual in zip(uninterrupted.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(actual, expected), name
    resumed_logs = {entry["step"]: entry for entry in training_logs(resumed)}
    for entry in training_logs(uninterrupted)[3:]:
        for name in ("crossaligner_weight", "xeroalign_weight", "crossaligner_loss", "slot_loss"):
            assert resumed_logs[entry["step"]][name] == entry[name]


def test_resume_without_cov_state_is_an_error(tmp_path, tiny_tokenizer):
    settings = dict(
        tokenizer=tiny_tokenizer,
        alignment=["xeroalign"],
        weighting="cov",
        max_steps=2,
        save_strategy="steps",
        save_steps=1,
    )
    make_trainer(tmp_path, **settings).train()
    (tmp_path / "checkpoint-1" / COV_STATE_NAME).unlink()
    with pytest.raises(FileNotFoundError, match=COV_STATE_NAME):
        resumed = make_trainer(tmp_path, **{**settings, "max_steps": 3})
        resumed.train(resume_from_checkpoint=str(tmp_path / "checkpoint-1"))


class PoisonCrossAlignerHead(TrainerCallback):
    def __init__(self, model, at_step):
        self.model, self.at_step = model, at_step

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step + 1 == self.at_step:
            with torch.no_grad():
                self.model.crossaligner_head.weight[0, 0] = math.nan


def test_non_finite_loss_stops_training_and_keeps_the_last_checkpoint(tmp_path, tiny_tokenizer):
    trainer = make_trainer(
        tmp_path, tokenizer=tiny_tokenizer, alignment=TWO_ALIGNMENTS, max_steps=6, save_strategy="steps", save_steps=1
    )
    trainer.add_callback(PoisonCrossAlignerHead(trainer.model, at_step=3))
    with pytest.raises(FloatingPointError, match=r"step 3: crossaligner_loss=nan"):
        trainer.train()
    assert sorted(path.name for path in tmp_path.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    last = tmp_path / "checkpoint-2"
    weights = load_file(last / "model.safetensors")
    assert all(torch.isfinite(tensor).all() for tensor in weights.values())
    assert json.loads((last / "trainer_state.json").read_text())["global_step"] == 2
    assert json.loads((last / COV_STATE_NAME).read_text())["steps"] == 2


def test_alignment_without_parallel_data_fails_before_training(tmp_path, tiny_tokenizer):
    trainer = make_trainer(
        tmp_path,
        tokenizer=tiny_tokenizer,
        alignment=["contrastive"],
        train_dataset=labelled_dataset(tiny_tokenizer, language="en"),
    )
    with pytest.raises(ValueError, match="translation_input_ids"):
        trainer.train()
    assert trainer.state.global_step == 0


def test_head_learning_rate_gives_the_new_parameters_their_own_groups(tmp_path, tiny_tokenizer):
    trainer = make_trainer(
        tmp_path, tokenizer=tiny_tokenizer, learning_rate=1e-4, head_learning_rate=2e-3, weight_decay=0.01
    )
    optimizer = trainer.create_optimizer()
    rate_of = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    for name, parameter in trainer.model.named_parameters():
        head = name.startswith(("intent_classifier", "slot_classifier", "crossaligner_head", "roberta.pooler"))
        assert rate_of[id(parameter)] == (2e-3 if head else 1e-4), name
    assert len(rate_of) == len(list(trainer.model.parameters()))
    decay_of = {id(p): group["weight_decay"] for group in optimizer.param_groups for p in group["params"]}
    assert decay_of[id(trainer.model.intent_classifier.weight)] == 0.01
    assert decay_of[id(trainer.model.intent_classifier.bias)] == 0.0


def test_evaluate_languages_maps_tokens_to_words_and_scores_original_bio(tmp_path, tiny_tokenizer):
    trainer = make_trainer(tmp_path, tokenizer=tiny_tokenizer)
    model = trainer.model
    with torch.no_grad():  # predict intent 1 and slot label 1 ("datetime") everywhere
        for head in (model.intent_classifier, model.slot_classifier):
            head.weight.zero_()
            head.bias.zero_()
            head.bias[1] = 10.0
    spanish = labelled_dataset(tiny_tokenizer, language="es")
    # The last word of the first example was truncated away: it must be predicted "O".
    spanish = spanish.map(
        lambda row, i: {"word_token_index": row["word_token_index"][:-1] + [-1]} if i == 0 else {}, with_indices=True
    )
    german = labelled_dataset(tiny_tokenizer, language="de", seed=5)
    evaluation = trainer.evaluate_languages({"es": spanish, "de": german})
    by_language, mean, predictions = evaluation.scores, evaluation.mean, evaluation.predictions

    first = predictions["es"][0]
    words = len(spanish[0]["words"])
    assert first["id"] == spanish[0]["id"] and first["intent"] == "weather/find"
    assert first["tags"] == ["B-datetime"] + ["I-datetime"] * (words - 2) + ["O"]
    from xnlu_evaluation import score_language

    for language, dataset in (("es", spanish), ("de", german)):
        expected = score_language(
            dataset["intent"],
            [p["intent"] for p in predictions[language]],
            dataset["tags"],
            [p["tags"] for p in predictions[language]],
        )
        assert {k: by_language[language][k] for k in expected} == expected
        assert by_language[language]["intent_accuracy"] == np.mean(
            [intent == "weather/find" for intent in dataset["intent"]]
        )
        assert math.isfinite(by_language[language]["loss"])
    assert mean["overall"] == pytest.approx((by_language["es"]["overall"] + by_language["de"]["overall"]) / 2)
    logged = trainer.state.log_history[-1]
    assert logged["test_overall"] == mean["overall"] and logged["test_es_slot_f1"] == by_language["es"]["slot_f1"]
    assert not [key for key in logged if "slot_types" in key]  # the per-type breakdown stays out of the logs

    metrics = trainer.evaluate({"es": spanish, "de": german})
    assert metrics["eval_overall"] == pytest.approx(mean["overall"])
    assert metrics["eval_de_slot_f1"] == by_language["de"]["slot_f1"]
    # Trainer.evaluate's speed metrics, over both languages, returned and logged.
    assert metrics["eval_runtime"] > 0
    batch = trainer.args.eval_batch_size
    samples, steps = len(spanish) + len(german), math.ceil(len(spanish) / batch) + math.ceil(len(german) / batch)
    assert metrics["eval_samples_per_second"] == pytest.approx(samples / metrics["eval_runtime"], rel=0.05)
    assert metrics["eval_steps_per_second"] == pytest.approx(steps / metrics["eval_runtime"], rel=0.05)
    assert trainer.state.log_history[-1]["eval_runtime"] == metrics["eval_runtime"]
    single = trainer.evaluate(german)
    assert single["eval_de_intent_accuracy"] == single["eval_intent_accuracy"] == by_language["de"]["intent_accuracy"]
    # English, the training language, is reported apart from the MEAN.
    english = labelled_dataset(tiny_tokenizer, language="en", seed=6)
    with_english = trainer.evaluate({"en": english, "es": spanish, "de": german})
    assert with_english["eval_overall"] == pytest.approx(mean["overall"])
    assert "eval_en_overall" in with_english


def test_checkpoint_folder_holds_cov_state_only_with_cov(tmp_path, tiny_tokenizer):
    for weighting in ("cov", "sum"):
        output = Path(tmp_path / weighting)
        make_trainer(
            output,
            tokenizer=tiny_tokenizer,
            alignment=["xeroalign"],
            weighting=weighting,
            max_steps=1,
            save_strategy="steps",
            save_steps=1,
        ).train()
        assert (output / "checkpoint-1" / COV_STATE_NAME).exists() == (weighting == "cov")


def test_paper_optimization_is_the_released_codes_one_cycle_schedule(tmp_path, tiny_tokenizer):
    """Adam without weight decay, PyTorch's OneCycleLR with its defaults for every parameter group (the heads at
    their own peak), clipping at 1.0: the learning rates a reference OneCycleLR gives, step by step."""
    trainer = make_trainer(
        tmp_path,
        tokenizer=tiny_tokenizer,
        paper_optimization=True,
        learning_rate=1e-3,
        head_learning_rate=5e-3,
        max_steps=10,
        alignment=["crossaligner"],
    )
    trainer.train()
    assert isinstance(trainer.lr_scheduler, torch.optim.lr_scheduler.OneCycleLR)
    optimizer = trainer.optimizer
    assert all(group["weight_decay"] == 0.0 for group in optimizer.param_groups)
    assert trainer.args.max_grad_norm == 1.0
    peaks = sorted({group["max_lr"] for group in optimizer.param_groups})
    assert peaks == [1e-3, 5e-3]
    reference = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(reference, max_lr=1e-3, total_steps=10)
    expected = []
    for _ in range(10):
        expected.append(schedule.get_last_lr()[0])
        reference.step()
        schedule.step()
    logged = [entry["learning_rate"] for entry in trainer.state.log_history if "loss" in entry]
    assert logged == pytest.approx(expected, rel=1e-6)
    assert expected[0] == pytest.approx(1e-3 / 25) and max(expected) == pytest.approx(1e-3)  # warm-up from lr/25
    assert optimizer.param_groups[0]["betas"][0] == pytest.approx(0.95, abs=0.01)  # beta1 cycled back up
