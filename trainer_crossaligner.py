# Copyright 2026 The CrossAligner XNLU authors. Apache-2.0.
"""`CrossAlignerTrainer`: a `Trainer` that adds the zero-shot alignment losses to the main ones and weights them.

The loss of a batch of (English labelled example, machine translation) pairs is L_ic + L_ec on the English rows plus
sum_a w_a L_a over the selected alignments a (the CrossAligner paper, Gritta, Hu, Iacobacci 2022, eq. 2), the losses
from xnlu_losses.py, the weights 1 each (`sum`) or by their Coefficient of Variation (`cov`). Every loss and weight
is logged. `evaluate` / `evaluate_languages` score each language with xnlu_evaluation.py. The arguments are in
crossaligner_config.py, batching in xnlu_batching.py, the word alignment of `projection` in projection.py.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.optim.lr_scheduler import OneCycleLR
from torch.utils.data import SequentialSampler
from transformers import Trainer
from transformers.trainer_callback import ProgressCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, speed_metrics

from crossaligner_config import ALIGNMENTS, CrossAlignerTrainingArguments
from modeling_crossaligner import IGNORE_INDEX
from progress import PhaseProgressCallback
from projection import project_batch, projected_records, projection_layer
from xnlu_batching import PairSampler, XNLUDataCollator, pad_columns
from xnlu_evaluation import Evaluation, decode_predictions, default_mean_over, mean_over_languages, score_language
from xnlu_losses import (
    CoVWeighting,
    contrastive_loss,
    crossaligner_loss,
    projection_loss,
    translate_intent_loss,
    xeroalign_loss,
)

logger = logging.getLogger(__name__)

MAIN_LOSSES = ("intent_loss", "slot_loss")
COV_STATE_NAME = "cov_state.json"
_MODEL_INPUTS = ("input_ids", "attention_mask", "intent_labels", "slot_labels")
# The pair columns each alignment reads (data.encode_pairs writes them).
_PARALLEL_COLUMNS = {
    "crossaligner": ("translation_input_ids", "translation_attention_mask", "crossaligner_targets"),
    "xeroalign": ("translation_input_ids", "translation_attention_mask"),
    "contrastive": ("translation_input_ids", "translation_attention_mask"),
    "translate_intent": ("translation_input_ids", "translation_attention_mask"),
    "projection": ("translation_input_ids", "translation_attention_mask", "translation_unit_heads"),
}


def joint_model(model: torch.nn.Module) -> torch.nn.Module:
    """The joint model (the one with `head_modules`) in `model`: `model` itself, or the model a wrapper such as a
    PEFT adapter holds. Looked up on the class: a PEFT model forwards unknown attributes to the model it wraps."""
    for module in model.modules():
        if hasattr(type(module), "head_modules"):
            return module
    raise TypeError(f"{type(model).__name__} holds no XLMRobertaForJointXNLU (no module with head_modules)")


@dataclass
class PairOutputs:
    """Model outputs of a batch of pairs, English rows first (`[:batch_size]`), translation rows after."""

    outputs: Any  # JointXNLUOutput; its intent_loss / slot_loss are those of the English rows only
    batch_size: int

    @property
    def english(self) -> slice:
        return slice(None, self.batch_size)

    @property
    def translation(self) -> slice:
        return slice(self.batch_size, None)


class CrossAlignerTrainer(Trainer):
    """`Trainer` for `XLMRobertaForJointXNLU` with the CrossAligner & Co zero-shot alignment losses.

    Training batches are (English labelled example, machine translation) pairs from `data.encode_pairs` (columns
    `translation_input_ids`, `translation_attention_mask`, `translation_language`, `crossaligner_targets`); the
    loss is L_ic + L_ec + sum_a w_a L_a over the selected alignments a (paper eq. 2). Logs carry `intent_loss`,
    `slot_loss` and `<alignment>_loss` / `<alignment>_weight` for each selected alignment. With `weighting="cov"`
    the weights' statistics are part of the training state (`cov_state.json` in every checkpoint).
    """

    # compute_loss returns per-batch means: Trainer divides them by the gradient accumulation steps.
    loss_is_scaled_for_ga = False

    def __init__(
        self,
        model=None,
        args: CrossAlignerTrainingArguments | None = None,
        data_collator=None,
        processing_class=None,
        **kwargs,
    ):
        if not isinstance(args, CrossAlignerTrainingArguments):
            raise TypeError(f"args must be CrossAlignerTrainingArguments, got {type(args).__name__}")
        # The pair and label columns are not arguments of model.forward: Trainer must not drop them; the collator
        # drops the metadata columns instead. (A copy: the caller's arguments stay as they were.)
        args = dataclasses.replace(args, remove_unused_columns=False)
        if data_collator is None:
            if processing_class is None:
                raise ValueError("pass processing_class (the tokenizer, for its pad id) or a data_collator")
            data_collator = XNLUDataCollator(processing_class)
        super().__init__(
            model=model, args=args, data_collator=data_collator, processing_class=processing_class, **kwargs
        )
        # One named bar per phase (training, scoring <language>) instead of transformers' anonymous ones.
        if self.pop_callback(ProgressCallback) is not None:
            self.add_callback(PhaseProgressCallback())
        self._reset_loss_tracking()

    # ---- training state -------------------------------------------------------------------------------------------

    @property
    def loss_names(self) -> list[str]:
        return [*MAIN_LOSSES, *(f"{name}_loss" for name in self.args.alignment)]

    def _reset_loss_tracking(self) -> None:
        self.cov = CoVWeighting(list(self.args.alignment)) if self.args.weighting == "cov" else None
        # Sums over the micro-batches of the current optimisation step, by loss name (`loss_names`).
        self._step_loss_sum = dict.fromkeys(self.loss_names, 0.0)
        self._step_micro_batches = 0
        # Sums over the optimisation steps since the last log: process-averaged losses and the weights used.
        self._logged_sum = dict.fromkeys([*self.loss_names, *(f"{name}_weight" for name in self.args.alignment)], 0.0)
        self._logged_steps = 0
        # English entities projected (kept) and dropped by the filter since the last log (refreshed projection).
        self._projection_counts = np.zeros(2)

    def alignment_weights(self) -> dict[str, float]:
        """Weights of the alignment losses for the current optimisation step."""
        return self.cov.weights() if self.cov is not None else dict.fromkeys(self.args.alignment, 1.0)

    def train(self, resume_from_checkpoint: str | bool | None = None, trial=None, **kwargs):
        self._check_parallel_data()
        # A new run starts new CoV statistics; resuming reloads them in _load_from_checkpoint.
        self._reset_loss_tracking()
        if "projection" in self.args.alignment and self.args.projection_refresh == "never":
            # Aligned once, with the model training starts from (also when resuming: the checkpoint is loaded later).
            self.train_dataset = self.with_projected_labels(self.train_dataset)
        return super().train(resume_from_checkpoint=resume_from_checkpoint, trial=trial, **kwargs)

    def _check_parallel_data(self) -> None:
        columns = getattr(self.train_dataset, "column_names", None)
        if not self.args.alignment or columns is None:
            return
        missing = sorted({column for name in self.args.alignment for column in _PARALLEL_COLUMNS[name]} - set(columns))
        if missing:
            raise ValueError(
                f"alignment {self.args.alignment} needs parallel data, but the train dataset has no {missing} "
                f"columns (it has {columns}). Encode the training pairs with their translations (data/encoding.py), "
                "or train with alignment 'none' (Zero-Shot)."
            )

    def _save_checkpoint(self, model, trial) -> None:
        if self.cov is not None and self.args.should_save:
            # Written before the rest of the checkpoint so that a pushed or rotated checkpoint always includes it.
            checkpoint = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            folder = os.path.join(self._get_output_dir(trial=trial), checkpoint)
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, COV_STATE_NAME), "w") as file:
                json.dump(self.cov.state_dict(), file, indent=2)
        super()._save_checkpoint(model, trial)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        if self.cov is None:
            return
        path = os.path.join(resume_from_checkpoint, COV_STATE_NAME)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path} is missing: cannot resume CoV weighting from {resume_from_checkpoint}")
        with open(path) as file:
            self.cov.load_state_dict(json.load(file))

    # ---- which pairs are trained on ---------------------------------------------------------------------------------

    def _get_train_sampler(self, train_dataset=None):
        dataset = self.train_dataset if train_dataset is None else train_dataset
        if "translation_language" not in getattr(dataset, "column_names", ()):
            return super()._get_train_sampler(train_dataset)
        return self.pair_sampler(dataset)

    def _get_eval_sampler(self, eval_dataset):
        """Evaluation keeps the dataset's order whatever `train_sampling_strategy` says: predictions are scored row by
        row against it (transformers would group an evaluation set by length too, and shuffle it)."""
        return SequentialSampler(eval_dataset) if self.args.world_size <= 1 else None

    def pair_sampler(self, dataset=None) -> PairSampler:
        """The `PairSampler` of a training set of pairs (default: the Trainer's); grouped by length when
        `train_sampling_strategy` is "group_by_length"."""
        dataset = self.train_dataset if dataset is None else dataset
        strategy = self.args.train_sampling_strategy
        if strategy not in ("random", "group_by_length"):
            raise ValueError(
                f"train_sampling_strategy {strategy!r} is not available for training on pairs: use 'random' or "
                "'group_by_length'"
            )
        columns = dataset.select_columns(["id", "translation_language"]).to_dict()
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        lengths = None
        if strategy == "group_by_length":
            sides = dataset.select_columns(["input_ids", "translation_input_ids"]).to_dict()
            lengths = [max(len(a), len(b)) for a, b in zip(sides["input_ids"], sides["translation_input_ids"])]
        return PairSampler(
            columns["id"],
            columns["translation_language"],
            self.args.pairing,
            seed,
            lengths=lengths,
            batch_size=self.args.train_batch_size * self.args.gradient_accumulation_steps,
            group_batches=self.args.length_group_batches,
        )

    def training_pairs(self) -> dict[str, int]:
        """Per target language, how many distinct English examples were paired with it in the epochs trained
        (from the pairing plan; {} without translations)."""
        if self.train_dataset is None or "translation_language" not in self.train_dataset.column_names:
            return {}
        return self.pair_sampler().pairs_seen(self.state.epoch or 0.0)

    # ---- projection -----------------------------------------------------------------------------------------------

    def projection_layer(self) -> int:
        """The encoder layer whose hidden states align words (projection.py's `projection_layer`)."""
        layers = self.accelerator.unwrap_model(self.model).config.num_hidden_layers
        return projection_layer(layers, self.args.projection_layer)

    def project_pairs(self, pairs: PairOutputs, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, list]:
        """The English slot tags of a batch of pairs projected onto the translations' tokens (projection.py), from
        the hidden states of `pairs` (computed with output_hidden_states)."""
        states = pairs.outputs.hidden_states[self.projection_layer()].detach()
        word_index = inputs["word_token_index"]
        word_labels = inputs["slot_labels"].gather(1, word_index.clamp(min=0))
        return project_batch(
            states[pairs.english],
            states[pairs.translation],
            word_index,
            word_labels,
            inputs["translation_unit_heads"],
            self.args.projection_filter,
            self.args.projection_min_similarity,
        )

    def project_dataset(self, dataset) -> tuple[list[list[int]], list]:
        """Projected slot labels of every pair of `dataset` (per translation token; -100 where nothing was
        projected) and each pair's Projection, with the model as it is now."""
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=self.args.per_device_eval_batch_size, collate_fn=self.data_collator
        )
        model = self.accelerator.unwrap_model(self.model)
        device = next(model.parameters()).device
        training = model.training
        model.eval()
        labels, projections = [], []
        with torch.no_grad():
            for batch in loader:
                batch = {name: value.to(device) for name, value in batch.items()}
                batch_labels, batch_projections = self.project_pairs(self.forward_pairs(model, batch), batch)
                lengths = batch["translation_attention_mask"].sum(dim=1).tolist()
                labels += [row[:length] for row, length in zip(batch_labels.tolist(), lengths)]
                projections += batch_projections
        model.train(training)
        return labels, projections

    def with_projected_labels(self, dataset):
        """`dataset` with the column `projected_slot_labels`, projected once with the model as it is now."""
        if "projected_slot_labels" in dataset.column_names:
            return dataset
        labels, projections = self.project_dataset(dataset)
        kept, dropped = sum(len(p.kept) for p in projections), sum(len(p.dropped) for p in projections)
        logger.info(
            "projection: %d of %d English entities projected onto their translations (aligned once, with "
            "the model training starts from)",
            kept,
            kept + dropped,
        )
        return dataset.add_column("projected_slot_labels", labels)

    def projected_records(self, dataset=None) -> dict[str, list[dict]]:
        """Per target language, what projection trains on for each pair (projection.py's `projected_records`): from
        the static projection, or aligned now with the model as it is (the final model, after training)."""
        dataset = self.train_dataset if dataset is None else dataset
        if "projected_slot_labels" in dataset.column_names:
            labels = dataset["projected_slot_labels"]
        else:
            labels, _ = self.project_dataset(dataset)
        slot_labels = self.accelerator.unwrap_model(self.model).config.slot_labels
        return projected_records(dataset, labels, self.processing_class, slot_labels)

    # ---- losses ---------------------------------------------------------------------------------------------------

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """L_ic + L_ec on the English batch + the weighted alignment losses on the pairs (training only; evaluation
        computes the main losses of a plain labelled batch)."""
        if not (model.training and self.args.alignment):
            outputs = model(**{name: inputs[name] for name in _MODEL_INPUTS if name in inputs})
            if model.training:
                self._track_losses({"intent_loss": outputs.intent_loss, "slot_loss": outputs.slot_loss}, {})
            return (outputs.loss, outputs) if return_outputs else outputs.loss

        pairs = self.forward_pairs(model, inputs)
        alignment_losses = {name: self.alignment_loss(name, pairs, inputs) for name in self.args.alignment}
        weights = self.alignment_weights()
        loss = pairs.outputs.loss + sum(weights[name] * value for name, value in alignment_losses.items())
        self._track_losses(
            {
                "intent_loss": pairs.outputs.intent_loss,
                "slot_loss": pairs.outputs.slot_loss,
                **{f"{name}_loss": value for name, value in alignment_losses.items()},
            },
            weights,
        )
        return (loss, pairs.outputs) if return_outputs else loss

    def forward_pairs(self, model, inputs: dict[str, torch.Tensor]) -> PairOutputs:
        """English and translation through the model in ONE call (batch concatenated, padded to the longer side):
        as fast as two calls or faster (BENCHMARKS.md, section 4), and one forward per backward is what DDP expects.
        The translation rows get label -100, so the model's intent/slot losses are exactly the English rows'."""
        english_ids, translation_ids = inputs["input_ids"], inputs["translation_input_ids"]
        length = max(english_ids.shape[1], translation_ids.shape[1])
        pad_id = self.accelerator.unwrap_model(model).config.pad_token_id

        def both(english: torch.Tensor, translation: torch.Tensor, value: int) -> torch.Tensor:
            return torch.cat([pad_columns(english, length, value), pad_columns(translation, length, value)])

        attention_mask = both(inputs["attention_mask"], inputs["translation_attention_mask"], 0)
        outputs = model(
            input_ids=both(english_ids, translation_ids, pad_id),
            attention_mask=attention_mask,
            intent_labels=torch.cat([inputs["intent_labels"], torch.full_like(inputs["intent_labels"], IGNORE_INDEX)]),
            slot_labels=both(inputs["slot_labels"], torch.full_like(translation_ids, IGNORE_INDEX), IGNORE_INDEX),
            # Hidden states align the words of a projection made now, not of a fixed one (projected_slot_labels).
            output_hidden_states="projection" in self.args.alignment and "projected_slot_labels" not in inputs,
        )
        return PairOutputs(outputs=outputs, batch_size=english_ids.shape[0])

    def alignment_loss(self, name: str, pairs: PairOutputs, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """The alignment loss `name` of a batch of pairs (English rows `pairs.english`, translations
        `pairs.translation`)."""
        outputs, english, translation = pairs.outputs, pairs.english, pairs.translation
        if name == "crossaligner":
            presence = outputs.crossaligner_logits
            return crossaligner_loss(presence[english], presence[translation], inputs["crossaligner_targets"])
        if name == "xeroalign":
            return xeroalign_loss(outputs.pooled_output[english], outputs.pooled_output[translation])
        if name == "contrastive":
            return contrastive_loss(outputs.pooled_output[english], outputs.pooled_output[translation])
        if name == "translate_intent":
            # A teacher's intents for the translations (self_training.py), else the English example's.
            labels = inputs.get("teacher_intent_labels", inputs["intent_labels"])
            return translate_intent_loss(outputs.intent_logits[translation], labels)
        if name == "projection":
            labels = inputs.get("projected_slot_labels")
            if labels is None:  # refreshed: aligned with the model being trained, now
                labels, projections = self.project_pairs(pairs, inputs)
                self._projection_counts += [
                    sum(len(p.kept) for p in projections),
                    sum(len(p.dropped) for p in projections),
                ]
            return projection_loss(outputs.slot_logits[translation], labels)
        raise ValueError(f"no loss is defined for alignment {name!r}; valid: {', '.join(ALIGNMENTS)}")

    def _track_losses(self, losses: dict[str, torch.Tensor], weights: dict[str, float]) -> None:
        """Stop on a non-finite loss; at the end of each optimisation step, average the step's micro-batch values
        over processes, feed the alignment losses to CoV and keep the values for the next log."""
        values = {name: float(loss.detach().float()) for name, loss in losses.items()}
        bad = [f"{name}={value}" for name, value in values.items() if not math.isfinite(value)]
        if bad:
            # Raised before backward and before the optimiser step, so no checkpoint is written after it.
            raise FloatingPointError(f"non-finite loss at training step {self.state.global_step + 1}: {', '.join(bad)}")
        for name, value in values.items():
            self._step_loss_sum[name] += value
        self._step_micro_batches += 1
        if not self.accelerator.sync_gradients:
            return
        step_values = self.reduce_across_processes(
            {name: total / self._step_micro_batches for name, total in self._step_loss_sum.items()}
        )
        self._step_loss_sum = dict.fromkeys(self._step_loss_sum, 0.0)
        self._step_micro_batches = 0
        if self.cov is not None:
            self.cov.update({name: step_values[f"{name}_loss"] for name in self.args.alignment})
        for name, value in [*step_values.items(), *((f"{name}_weight", weights[name]) for name in self.args.alignment)]:
            self._logged_sum[name] += value
        self._logged_steps += 1

    def reduce_across_processes(self, values: dict[str, float]) -> dict[str, float]:
        """Mean over processes of one optimisation step's loss values, so that CoV uses the same weights on every
        process (and logs show the whole batch's losses, as Trainer's `loss` does)."""
        if self.accelerator.num_processes == 1:
            return dict(values)
        tensor = torch.tensor(list(values.values()), dtype=torch.float32, device=self.accelerator.device)
        reduced = self.accelerator.reduce(tensor, reduction="mean").cpu().double().tolist()
        return dict(zip(values, reduced))

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        # Training log entries (those with Trainer's `loss`) get each loss and weight, averaged over the optimisation
        # steps since the last log like `loss` is; evaluation and summary entries are left as they are.
        if "loss" in logs and self._logged_steps:
            logs.update({name: total / self._logged_steps for name, total in self._logged_sum.items()})
            self._logged_sum = dict.fromkeys(self._logged_sum, 0.0)
            self._logged_steps = 0
            if self._projection_counts.sum():
                logs["projection_kept_fraction"] = float(self._projection_counts[0] / self._projection_counts.sum())
                self._projection_counts = np.zeros(2)
        super().log(logs, start_time)

    # ---- optimiser ------------------------------------------------------------------------------------------------

    def create_optimizer(self, model=None):
        """Trainer's optimizer, with the new parameters (the model's `head_modules`: pooler and heads) in parameter
        groups of their own at `head_learning_rate`. The heads are found as modules, not by parameter name, so that a
        wrapped model (a PEFT adapter, whose names all start with `base_model.model.`) splits the same way: its
        adapter weights in the encoder train at `learning_rate`."""
        optimizer = super().create_optimizer(model)
        if self.args.head_learning_rate is None or self.args.head_learning_rate == self.args.learning_rate:
            return optimizer
        opt_model = self.model if model is None else model
        head_ids = {
            id(parameter) for module in joint_model(opt_model).head_modules() for parameter in module.parameters()
        }
        groups = []
        for group in optimizer.param_groups:
            for is_head in (False, True):
                params = [p for p in group["params"] if (id(p) in head_ids) == is_head]
                if params:
                    lr = self.args.head_learning_rate if is_head else group["lr"]
                    groups.append({**group, "params": params, "lr": lr})
        # Regrouping is safe here: the optimiser has taken no step yet, so it holds no per-parameter state.
        optimizer.param_groups[:] = groups
        return optimizer

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        """Trainer's scheduler, or with `paper_optimization` PyTorch's OneCycleLR with its defaults, each parameter
        group peaking at its own learning rate."""
        if not self.args.paper_optimization:
            return super().create_scheduler(num_training_steps, optimizer)
        if self.lr_scheduler is None:
            optimizer = self.optimizer if optimizer is None else optimizer
            max_lr = [group["lr"] for group in optimizer.param_groups]
            self.lr_scheduler = OneCycleLR(optimizer, max_lr=max_lr, total_steps=max(num_training_steps, 1))
            self._created_lr_scheduler = True
        return self.lr_scheduler

    # ---- evaluation -----------------------------------------------------------------------------------------------

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        """The per-language scores on labelled dev sets, so that `eval_strategy` and `metric_for_best_model="overall"`
        work: `eval_dataset` (default: the Trainer's) is one encoded labelled Dataset or a dict language -> Dataset.
        Returns the flat metrics `evaluate_languages` logs."""
        eval_dataset = self.eval_dataset if eval_dataset is None else eval_dataset
        if eval_dataset is None:
            raise ValueError("evaluate needs an eval_dataset")
        if not isinstance(eval_dataset, Mapping):
            languages = eval_dataset.unique("language") if "language" in eval_dataset.column_names else []
            eval_dataset = {languages[0] if len(languages) == 1 else "all": eval_dataset}
        metrics = self.evaluate_languages(eval_dataset, metric_key_prefix, ignore_keys=ignore_keys).flat_metrics(
            metric_key_prefix
        )
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

    def training_languages(self) -> set[str]:
        """Languages of the labelled training data (the English side of pairs is English): not in the MEAN."""
        dataset = self.train_dataset
        if dataset is None or "language" not in getattr(dataset, "column_names", ()):
            return set()
        return set(dataset.unique("language"))

    def evaluate_languages(
        self,
        test_sets: Mapping[str, Any],
        metric_key_prefix: str = "test",
        gold_scheme: str = "bio",
        ignore_keys: list[str] | None = None,
        mean_over: list[str] | None = None,
    ) -> Evaluation:
        """Predict and score each language's encoded labelled set (columns of data/encoding.py), and log the scores
        as `<prefix>_<metric>` (MEAN) and `<prefix>_<language>_<metric>` (metrics: `xnlu_evaluation.METRICS`,
        num_examples and loss).

        Token predictions go back to words through `word_token_index` (a truncated word, -1, is predicted `O`),
        BIO is restored with `io_to_bio` and scored against the original gold BIO `tags` (`gold_scheme="io"`:
        IO-collapsed gold, as the paper's code did). The MEAN is over `mean_over` (default: the languages that are
        not training languages, or all if every one is).
        """
        config = self.accelerator.unwrap_model(self.model).config
        ignore_keys = [
            *(ignore_keys or []),
            "intent_loss",
            "slot_loss",
            "crossaligner_logits",
            "pooled_output",
            "hidden_states",
            "attentions",
        ]
        by_language, predictions = {}, {}
        started, num_samples, num_steps = time.time(), 0, 0
        for language, dataset in test_sets.items():
            for callback in self.callback_handler.callbacks:
                if isinstance(callback, PhaseProgressCallback):
                    callback.describe(f"scoring {language}")
            # Shortest first: each batch is padded to similar lengths (scoring the default data takes half the time);
            # the rows return to the dataset's order below.
            order = np.argsort([len(ids) for ids in dataset["input_ids"]], kind="stable")
            output = self.evaluation_loop(
                self.get_test_dataloader(dataset.select(order)),
                description=f"Evaluation ({language})",
                prediction_loss_only=False,
                ignore_keys=ignore_keys,
                metric_key_prefix=metric_key_prefix,
            )
            # As Trainer.predict does: ends this language's progress bar (the next language starts its own).
            self.control = self.callback_handler.on_predict(self.args, self.state, self.control, output.metrics)
            restore = np.argsort(order)
            intent_logits, slot_logits = (np.asarray(logits)[restore] for logits in output.predictions)
            language_predictions = decode_predictions(
                intent_logits, slot_logits, dataset, config.intent_labels, config.slot_labels
            )
            scores = score_language(
                dataset["intent"],
                [prediction["intent"] for prediction in language_predictions],
                dataset["tags"],
                [prediction["tags"] for prediction in language_predictions],
                gold_scheme=gold_scheme,
            )
            num_samples += output.num_samples
            num_steps += math.ceil(output.num_samples / (self.args.eval_batch_size * self.args.world_size))
            loss = output.metrics.get(f"{metric_key_prefix}_loss")
            by_language[language] = {**scores, **({"loss": loss} if loss is not None else {})}
            predictions[language] = language_predictions
        if mean_over is None:
            mean_over = default_mean_over(by_language, self.training_languages())
        # As Trainer.evaluate and predict measure it, over every language (predicting, decoding and scoring).
        speed = speed_metrics(metric_key_prefix, started, num_samples=num_samples, num_steps=num_steps)
        evaluation = Evaluation(
            by_language,
            mean_over_languages(by_language, mean_over),
            mean_over,
            predictions,
            speed={name.removeprefix(f"{metric_key_prefix}_"): value for name, value in speed.items()},
        )
        self.log(evaluation.flat_metrics(metric_key_prefix))
        return evaluation
