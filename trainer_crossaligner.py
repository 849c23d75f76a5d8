# Copyright 2026 The CrossAligner XNLU authors. Apache-2.0.
"""Training of CrossAligner XNLU: a `Trainer` that adds the zero-shot alignment losses and their weights.

- `CrossAlignerTrainingArguments`: `TrainingArguments` plus `alignment`, `weighting`, `head_learning_rate`, `pairing`
  and `paper_optimization`.
- `CrossAlignerTrainer`: main losses (intent + slot) on the labelled English batch, plus each selected alignment loss
  on the (English, translation) pairs, weighted 1 each (`sum`; the default for a single loss, as in the paper) or by
  their Coefficient of Variation (`cov`; the default when several are combined); every loss and weight is logged;
  `evaluate` / `evaluate_languages` report the per-language scores of `xnlu_metric.py`.
- `PairSampler`: which translation each English example meets in each epoch, when a model is aligned to several
  target languages at once.
- `XNLUDataCollator`: dynamic padding of both sides of a pair.
- The alignment losses on plain tensors: `crossaligner_loss`, `xeroalign_loss`, `contrastive_loss`,
  `translate_intent_loss`; the weighting: `CoVWeighting`.

Definitions: the CrossAligner paper (Gritta, Hu, Iacobacci, 2022), Algorithms 1-3 and equations 1-3.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from torch.optim.lr_scheduler import OneCycleLR
from torch.utils.data import Sampler, SequentialSampler
from transformers import PreTrainedTokenizerBase, Trainer, TrainingArguments
from transformers.trainer_callback import ProgressCallback
from transformers.trainer_pt_utils import get_length_grouped_indices
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from modeling_crossaligner import IGNORE_INDEX, OUTSIDE, io_to_bio, word_units
from progress import PhaseProgressCallback
from projection import project_batch
from xnlu_evaluation import METRICS, mean_over_languages, score_language

logger = logging.getLogger(__name__)

# The paper's four methods, and `projection` (beyond the paper: the English slot tags projected onto the translation
# through the model's own word alignments, see projection.py).
ALIGNMENTS = ("crossaligner", "xeroalign", "contrastive", "translate_intent", "projection")
WEIGHTINGS = ("cov", "sum")
PAIRINGS = ("rotate", "all")
PROJECTION_REFRESH = ("step", "never")
MAIN_LOSSES = ("intent_loss", "slot_loss")
COV_STATE_NAME = "cov_state.json"

# Collated columns. Per-token columns with their padding value (None: the tokenizer's pad id), English side and
# translation side (each padded on its own); per-example columns with their dtype. Everything else is metadata.
_TOKEN_COLUMNS = {"input_ids": None, "attention_mask": 0, "slot_labels": IGNORE_INDEX}
_TRANSLATION_TOKEN_COLUMNS = {
    "translation_input_ids": None,
    "translation_attention_mask": 0,
    "projected_slot_labels": IGNORE_INDEX,
}
_EXAMPLE_COLUMNS = {"intent_labels": torch.long, "crossaligner_targets": torch.float}
# Per-word and per-unit token indices of the pairs (what projection aligns), padded with -1.
_INDEX_COLUMNS = ("word_token_index", "translation_unit_heads")
_MODEL_INPUTS = ("input_ids", "attention_mask", "intent_labels", "slot_labels")
_PARALLEL_COLUMNS = {
    "crossaligner": ("translation_input_ids", "translation_attention_mask", "crossaligner_targets"),
    "xeroalign": ("translation_input_ids", "translation_attention_mask"),
    "contrastive": ("translation_input_ids", "translation_attention_mask"),
    "translate_intent": ("translation_input_ids", "translation_attention_mask"),
    "projection": ("translation_input_ids", "translation_attention_mask", "translation_unit_heads"),
}


# --------------------------------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------------------------------


class UnknownAlignmentError(ValueError):
    """Alignment names that are not methods; `names` lists them."""

    def __init__(self, names: list[str]):
        self.names = names
        super().__init__(f"unknown alignment {names}; valid: {', '.join(ALIGNMENTS)} (or 'none' for Zero-Shot)")


def parse_alignment(alignment: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """Normalise an alignment choice to a list in canonical order: a list of names, a comma-separated string, or
    "none" / empty for the Zero-Shot baseline. Unknown names raise UnknownAlignmentError listing the valid ones."""
    if alignment is None:
        return []
    names = alignment.split(",") if isinstance(alignment, str) else list(alignment)
    names = [name.strip().lower() for part in names for name in part.split(",") if name.strip()]
    if "none" in names:
        if len(names) > 1:
            raise ValueError(f"alignment 'none' (Zero-Shot) cannot be combined with others, got {names}")
        return []
    unknown = sorted(set(names) - set(ALIGNMENTS))
    if unknown:
        raise UnknownAlignmentError(unknown)
    return [name for name in ALIGNMENTS if name in names]


@dataclass
class CrossAlignerTrainingArguments(TrainingArguments):
    """`TrainingArguments` plus the zero-shot alignment settings (saved with every run, like all arguments)."""

    alignment: list[str] = field(
        default_factory=list,
        metadata={
            "help": f"Alignment losses on the (English, translation) pairs: any of {', '.join(ALIGNMENTS)}; "
            "several are combined; 'none' is the Zero-Shot baseline."
        },
    )
    weighting: str | None = field(
        default=None,
        metadata={
            "help": "Weights of the alignment losses: 'sum' (1 each) or 'cov' (Coefficient of Variation, adaptive). "
            "Default: 'sum' for a single loss (its weight is 1, as in the paper), 'cov' when several are combined. "
            "The main losses always have weight 1.",
            "choices": list(WEIGHTINGS),
        },
    )
    head_learning_rate: float | None = field(
        default=None,
        metadata={
            "help": "Learning rate of the new parameters (pooler, intent, slot and CrossAligner heads); unset: "
            "the same as learning_rate. Encoders pre-trained for mean pooling need much larger head rates."
        },
    )
    pairing: str = field(
        default="rotate",
        metadata={
            "help": "With several target languages in one model: 'rotate' pairs every English example with one "
            "target language per epoch, the languages rotating from epoch to epoch (an epoch costs what one language "
            "costs; after as many epochs as languages every translation has been used once); 'all' pairs every "
            "English example with every language in every epoch (as many times the steps as languages).",
            "choices": list(PAIRINGS),
        },
    )
    length_group_batches: int | None = field(
        default=None,
        metadata={
            "help": "With --train_sampling_strategy group_by_length: how many batches of pairs are sorted by length "
            "together (transformers' mega-batch). Default: as transformers chooses (up to 50, which makes batches "
            "of one length and so of few intents); a few batches (e.g. 4) keep each batch mixed and still cut most "
            "of the padding."
        },
    )
    paper_optimization: bool = field(
        default=False,
        metadata={
            "help": "Optimise as the paper's released code did: Adam without weight decay and PyTorch's OneCycleLR "
            "with its defaults (warm-up over 30%% of the steps from lr/25 to lr, cosine decay to lr/25e4, beta1 "
            "cycled between 0.95 and 0.85), gradients clipped at 1.0. Replaces --lr_scheduler_type and the warm-up."
        },
    )

    projection_layer: int | None = field(
        default=None,
        metadata={
            "help": "projection: the encoder layer whose hidden states align the words (default: two thirds of "
            "the depth, e.g. 8 of 12, 16 of 24; middle layers align best)."
        },
    )
    projection_filter: str = field(
        default="consistent",
        metadata={
            "help": "projection: 'consistent' keeps an English entity only if the alignment agrees in both "
            "directions and its units are contiguous; 'none' keeps every entity with an aligned unit.",
            "choices": ["consistent", "none"],
        },
    )
    projection_min_similarity: float | None = field(
        default=None, metadata={"help": "projection: alignment links below this cosine similarity do not count."}
    )
    projection_refresh: str = field(
        default="step",
        metadata={
            "help": "projection: 'step' aligns with the model being trained, at every step; 'never' aligns "
            "once, with the model training starts from.",
            "choices": list(PROJECTION_REFRESH),
        },
    )

    def __post_init__(self):
        self.alignment = parse_alignment(self.alignment)
        if self.projection_refresh not in PROJECTION_REFRESH:
            raise ValueError(
                f"unknown projection_refresh {self.projection_refresh!r}; valid: {', '.join(PROJECTION_REFRESH)}"
            )
        if self.weighting is None:
            self.weighting = "cov" if len(self.alignment) > 1 else "sum"
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"unknown weighting {self.weighting!r}; valid: {', '.join(WEIGHTINGS)}")
        if self.pairing not in PAIRINGS:
            raise ValueError(f"unknown pairing {self.pairing!r}; valid: {', '.join(PAIRINGS)}")
        if self.head_learning_rate is not None and self.head_learning_rate < 0:
            raise ValueError(f"head_learning_rate must be >= 0, got {self.head_learning_rate}")
        if self.paper_optimization and (self.weight_decay != 0.0 or self.max_grad_norm != 1.0):
            raise ValueError(
                "paper_optimization is Adam without weight decay and gradient clipping at 1.0: it cannot be combined "
                f"with weight_decay={self.weight_decay} or max_grad_norm={self.max_grad_norm}"
            )
        super().__post_init__()
        optimizer = getattr(self.optim, "value", self.optim)
        if self.paper_optimization and not optimizer.startswith("adamw_torch"):
            # AdamW with weight decay 0 is Adam; other optimisers are not what the released code used.
            raise ValueError(f"paper_optimization uses Adam: it cannot be combined with optim={optimizer}")


# --------------------------------------------------------------------------------------------------------------------
# Alignment losses (the paper, section 3), on tensors
# --------------------------------------------------------------------------------------------------------------------


def crossaligner_loss(
    english_logits: torch.Tensor, translation_logits: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """CrossAligner (Algorithm 1, lines 21-31): BCE-with-logits of the CA head's (batch, num_slot_labels) presence
    logits against the multi-hot English slot labels, for the English utterance plus for its translation."""
    targets = targets.to(english_logits.dtype)
    return F.binary_cross_entropy_with_logits(english_logits, targets) + F.binary_cross_entropy_with_logits(
        translation_logits, targets
    )


def xeroalign_loss(english_pooled: torch.Tensor, translation_pooled: torch.Tensor) -> torch.Tensor:
    """XeroAlignIO: mean squared error between the pooled `<s>` vectors of English and translation."""
    return F.mse_loss(english_pooled, translation_pooled)


def contrastive_loss(english_pooled: torch.Tensor, translation_pooled: torch.Tensor) -> torch.Tensor:
    """Contrastive (equation 1, Algorithm 2): cross-entropy over the (English x translation) cosine-similarity matrix
    of the batch, each English utterance's own translation being its target; no temperature (as released)."""
    similarity = F.normalize(english_pooled, dim=-1) @ F.normalize(translation_pooled, dim=-1).T
    return F.cross_entropy(similarity, torch.arange(similarity.shape[0], device=similarity.device))


def translate_intent_loss(translation_intent_logits: torch.Tensor, intent_labels: torch.Tensor) -> torch.Tensor:
    """Translate-Intent (Algorithm 3): intent cross-entropy of the IC head on the translation, English labels."""
    return F.cross_entropy(translation_intent_logits, intent_labels, ignore_index=IGNORE_INDEX)


def projection_loss(translation_slot_logits: torch.Tensor, projected_labels: torch.Tensor) -> torch.Tensor:
    """Projection: slot cross-entropy of the EC head on the translation's tokens, against the English tags projected
    onto them (-100 where nothing was projected; 0, still attached to the graph, when nothing was)."""
    logits = translation_slot_logits[:, : projected_labels.shape[1]].reshape(-1, translation_slot_logits.shape[-1])
    labels = projected_labels.reshape(-1).to(logits.device)
    if not (labels != IGNORE_INDEX).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX)


# --------------------------------------------------------------------------------------------------------------------
# CoV weighting
# --------------------------------------------------------------------------------------------------------------------


class CoVWeighting:
    """Coefficient-of-Variation loss weights (Groenendijk et al. 2021, without the final normalisation; paper eq. 3).

    Per loss, with L_t its value at optimisation step t: ratio r_t = L_t / (mean(L_1..L_{t-1}) + eps), r_1 = 1;
    weight w_t = std(r_1..r_{t-1}) / mean(r_1..r_{t-1}) (population std), so w_1 = 1 and w_2 = 0. `weights()` gives
    w_t from the statistics before step t; `update()` then adds step t (Welford running means and variance).
    """

    def __init__(self, names: list[str], eps: float = 1e-8):
        self.names = list(names)
        self.eps = eps
        self.steps = 0
        self.loss_mean = dict.fromkeys(self.names, 0.0)
        self.ratio_mean = dict.fromkeys(self.names, 0.0)
        self.ratio_m2 = dict.fromkeys(self.names, 0.0)

    def weights(self) -> dict[str, float]:
        if self.steps == 0:
            return dict.fromkeys(self.names, 1.0)
        return {
            name: math.sqrt(self.ratio_m2[name] / self.steps) / self.ratio_mean[name] if self.ratio_mean[name] else 0.0
            for name in self.names
        }

    def update(self, losses: Mapping[str, float]) -> None:
        """Add one optimisation step's (detached, process-averaged) loss values."""
        for name in self.names:
            value = float(losses[name])
            ratio = 1.0 if self.steps == 0 else value / (self.loss_mean[name] + self.eps)
            count = self.steps + 1
            self.loss_mean[name] += (value - self.loss_mean[name]) / count
            delta = ratio - self.ratio_mean[name]
            self.ratio_mean[name] += delta / count
            self.ratio_m2[name] += delta * (ratio - self.ratio_mean[name])
        self.steps += 1

    def state_dict(self) -> dict[str, Any]:
        return {
            "names": self.names,
            "eps": self.eps,
            "steps": self.steps,
            "loss_mean": self.loss_mean,
            "ratio_mean": self.ratio_mean,
            "ratio_m2": self.ratio_m2,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if list(state["names"]) != self.names:
            raise ValueError(f"CoV state is for losses {state['names']}, this run weights {self.names}")
        self.eps = state["eps"]
        self.steps = state["steps"]
        self.loss_mean, self.ratio_mean, self.ratio_m2 = (
            dict(state[key]) for key in ("loss_mean", "ratio_mean", "ratio_m2")
        )


# --------------------------------------------------------------------------------------------------------------------
# Collator
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class XNLUDataCollator:
    """Batches encoded XNLU examples (data/encoding.py columns): pads the English side and, when present, the
    translation side each to its own longest sequence (pad id from the tokenizer, 0 attention, -100 slot labels) and
    drops the metadata columns (id, language, words, tags, intent, word_token_index)."""

    tokenizer: PreTrainedTokenizerBase
    pad_to_multiple_of: int | None = None

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = {}
        for columns in (_TOKEN_COLUMNS, _TRANSLATION_TOKEN_COLUMNS):
            present = [name for name in columns if name in features[0]]
            if not present:
                continue
            length = max(len(feature[present[0]]) for feature in features)
            if self.pad_to_multiple_of:
                length = -(-length // self.pad_to_multiple_of) * self.pad_to_multiple_of
            for name in present:
                pad = self.tokenizer.pad_token_id if columns[name] is None else columns[name]
                batch[name] = torch.tensor(
                    [list(feature[name]) + [pad] * (length - len(feature[name])) for feature in features],
                    dtype=torch.long,
                )
        for name, dtype in _EXAMPLE_COLUMNS.items():
            if name in features[0]:
                batch[name] = torch.tensor([feature[name] for feature in features], dtype=dtype)
        if "translation_unit_heads" in features[0]:  # pairs: what projection aligns
            for name in _INDEX_COLUMNS:
                length = max(len(feature[name]) for feature in features)
                batch[name] = torch.tensor(
                    [list(feature[name]) + [-1] * (length - len(feature[name])) for feature in features],
                    dtype=torch.long,
                )
        return batch


def _pad_columns(tensor: torch.Tensor, length: int, value: int) -> torch.Tensor:
    return F.pad(tensor, (0, length - tensor.shape[1]), value=value)


# --------------------------------------------------------------------------------------------------------------------
# Which pairs an epoch trains on
# --------------------------------------------------------------------------------------------------------------------


class PairSampler(Sampler[int]):
    """The order of the training pairs of an epoch (rows of `data.encode_pairs`: one per English example and target
    language that has its translation).

    - `pairing="all"`: every pair, every epoch (reshuffled each epoch).
    - `pairing="rotate"`: every English example once per epoch, with one of its target languages; the languages
      rotate from epoch to epoch (example k meets its languages in turn, from a seeded starting point that spreads
      each epoch evenly over the languages), so that after as many epochs as languages every pair has been used.

    With a single target language both are the same: every English example with its translation, every epoch (the
    paper's protocol). Deterministic given `seed` and the epoch (`set_epoch`), so every process draws the same order.

    With `lengths` (a row's padded length: the longer of its two sides) and `batch_size`, an epoch's pairs are
    grouped by length as transformers' `LengthGroupedSampler` groups examples (shuffled, cut into mega-batches of
    `group_batches` batches, by default up to 50, each sorted by length): which pairs an epoch trains on is
    unchanged, batches need less padding.
    """

    def __init__(
        self,
        english_ids: list[str],
        languages: list[str],
        pairing: str = "rotate",
        seed: int = 0,
        lengths: list[int] | None = None,
        batch_size: int | None = None,
        group_batches: int | None = None,
    ):
        if pairing not in PAIRINGS:
            raise ValueError(f"unknown pairing {pairing!r}; valid: {', '.join(PAIRINGS)}")
        if len(english_ids) != len(languages):
            raise ValueError(f"{len(english_ids)} English ids but {len(languages)} languages")
        if lengths is not None and (len(lengths) != len(english_ids) or not batch_size):
            raise ValueError(f"grouping by length needs a length per row ({len(english_ids)}) and a batch size")
        self.pairing, self.seed, self.epoch = pairing, seed, 0
        self.lengths, self.batch_size, self.group_batches = lengths, batch_size, group_batches
        self.english_ids, self.languages = list(english_ids), list(languages)
        order = sorted(set(self.languages))
        groups: dict[str, list[int]] = {}
        for row, example_id in enumerate(self.english_ids):
            groups.setdefault(example_id, []).append(row)
        self.groups = [sorted(rows, key=lambda row: order.index(self.languages[row])) for rows in groups.values()]
        positions = np.random.default_rng([seed, 1]).permutation(len(self.groups))
        self.offsets = [int(position) % len(group) for position, group in zip(positions, self.groups)]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def epoch_rows(self, epoch: int) -> list[int]:
        """The rows of `epoch`, in the order they are trained on."""
        if self.pairing == "all":
            rows = [row for group in self.groups for row in group]
        else:
            rows = [group[(offset + epoch) % len(group)] for group, offset in zip(self.groups, self.offsets)]
        order = np.random.default_rng([self.seed, 2, epoch]).permutation(len(rows))
        rows = [rows[index] for index in order]
        if self.lengths is not None:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            grouped = get_length_grouped_indices(
                [self.lengths[row] for row in rows], self.batch_size, self.group_batches, generator=generator
            )
            rows = [rows[index] for index in grouped]
        return rows

    def __iter__(self):
        return iter(self.epoch_rows(self.epoch))

    def __len__(self) -> int:
        return len(self.groups) if self.pairing == "rotate" else len(self.english_ids)

    def pairs_seen(self, epochs: float) -> dict[str, int]:
        """Per target language, the number of distinct English examples paired with it in the first `epochs` epochs
        (a fraction of an epoch counts the first rows of its order)."""
        seen: dict[str, set[str]] = {language: set() for language in sorted(set(self.languages))}
        for epoch in range(math.ceil(epochs - 1e-9)):
            rows = self.epoch_rows(epoch)
            if epochs - epoch < 1:
                rows = rows[: round((epochs - epoch) * len(rows))]
            for row in rows:
                seen[self.languages[row]].add(self.english_ids[row])
        return {language: len(ids) for language, ids in seen.items()}


# --------------------------------------------------------------------------------------------------------------------
# Trainer
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class PairOutputs:
    """Model outputs of a batch of pairs, English rows first (`[:batch_size]`), translation rows after."""

    outputs: Any  # JointXNLUOutput; its intent_loss / slot_loss are those of the English rows only
    attention_mask: torch.Tensor
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
        # drops the metadata columns instead.
        args.remove_unused_columns = False
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
        """The encoder layer whose hidden states align words: `projection_layer`, or two thirds of the depth."""
        layers = self.accelerator.unwrap_model(self.model).config.num_hidden_layers
        layer = self.args.projection_layer if self.args.projection_layer is not None else round(2 * layers / 3)
        if not 0 <= layer <= layers:
            raise ValueError(f"projection_layer {layer}: the encoder has layers 0 (embeddings) to {layers}")
        return layer

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
                batch_labels, batch_projections = self.project_pairs(self.encode_pairs(model, batch), batch)
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
        """Per target language, what projection trains on for each pair: the translation's units (`words`) and their
        projected BIO `tags` (None: unlabelled), with the English words and tags; from the static projection, or
        aligned now with the model as it is (the final model, after training)."""
        dataset = self.train_dataset if dataset is None else dataset
        if "projected_slot_labels" in dataset.column_names:
            labels = dataset["projected_slot_labels"]
        else:
            labels, _ = self.project_dataset(dataset)
        slot_labels = self.accelerator.unwrap_model(self.model).config.slot_labels
        records: dict[str, list[dict]] = {}
        for row, row_labels in zip(dataset, labels):
            # The tokens the translation was encoded into (the same truncation), with their offsets.
            encoding = self.processing_class(
                row["translation_text"],
                truncation=True,
                max_length=len(row["translation_input_ids"]),
                return_offsets_mapping=True,
            )
            offsets = encoding["offset_mapping"]
            units = word_units(row["translation_text"], encoding.tokens(), offsets, encoding.word_ids())
            words = [row["translation_text"][offsets[unit[0]][0] : offsets[unit[-1]][1]].strip() for unit in units]
            io_tags = [
                None if row_labels[head] == IGNORE_INDEX else slot_labels[row_labels[head]]
                for head in row["translation_unit_heads"]
            ]
            records.setdefault(row["translation_language"], []).append(
                {
                    "id": row["id"],
                    "words": words,
                    "tags": _bio_with_gaps(io_tags),
                    "english_words": row["words"],
                    "english_tags": row["tags"],
                }
            )
        return records

    # ---- losses ---------------------------------------------------------------------------------------------------

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """L_ic + L_ec on the English batch + the weighted alignment losses on the pairs (training only; evaluation
        computes the main losses of a plain labelled batch)."""
        if not (model.training and self.args.alignment):
            outputs = model(**{name: inputs[name] for name in _MODEL_INPUTS if name in inputs})
            if model.training:
                self._track_losses({"intent_loss": outputs.intent_loss, "slot_loss": outputs.slot_loss}, {})
            return (outputs.loss, outputs) if return_outputs else outputs.loss

        pairs = self.encode_pairs(model, inputs)
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

    def encode_pairs(self, model, inputs: dict[str, torch.Tensor]) -> PairOutputs:
        """English and translation through the model in ONE call (batch concatenated, padded to the longer side):
        on CPU a step took 2.01-2.05x Zero-Shot's this way against 2.09-2.10x with two calls at 1 thread, and
        1.84-1.88x against 1.84-1.85x at 2 threads (benchmarks/train_step_speed.py --compare-calls): as fast or
        faster, and one forward per backward is what DDP expects.
        The translation rows get label -100, so the model's intent/slot losses are exactly the English rows'."""
        english_ids, translation_ids = inputs["input_ids"], inputs["translation_input_ids"]
        length = max(english_ids.shape[1], translation_ids.shape[1])
        pad_id = self.accelerator.unwrap_model(model).config.pad_token_id

        def both(english: torch.Tensor, translation: torch.Tensor, value: int) -> torch.Tensor:
            return torch.cat([_pad_columns(english, length, value), _pad_columns(translation, length, value)])

        attention_mask = both(inputs["attention_mask"], inputs["translation_attention_mask"], 0)
        outputs = model(
            input_ids=both(english_ids, translation_ids, pad_id),
            attention_mask=attention_mask,
            intent_labels=torch.cat([inputs["intent_labels"], torch.full_like(inputs["intent_labels"], IGNORE_INDEX)]),
            slot_labels=both(inputs["slot_labels"], torch.full_like(translation_ids, IGNORE_INDEX), IGNORE_INDEX),
            output_hidden_states="projection" in self.args.alignment,
        )
        return PairOutputs(outputs=outputs, attention_mask=attention_mask, batch_size=english_ids.shape[0])

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
            return translate_intent_loss(outputs.intent_logits[translation], inputs["intent_labels"])
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
                logs["projection_kept_entities"] = float(self._projection_counts[0] / self._projection_counts.sum())
                self._projection_counts = np.zeros(2)
        super().log(logs, start_time)

    # ---- optimiser ------------------------------------------------------------------------------------------------

    def create_optimizer(self, model=None):
        """Trainer's optimizer, with the new parameters (pooler and heads: everything outside the encoder's
        embeddings and layers) in parameter groups of their own at `head_learning_rate`."""
        optimizer = super().create_optimizer(model)
        if self.args.head_learning_rate is None or self.args.head_learning_rate == self.args.learning_rate:
            return optimizer
        opt_model = self.model if model is None else model
        head_ids = {
            id(parameter)
            for name, parameter in opt_model.named_parameters()
            if not name.startswith("roberta.") or name.startswith("roberta.pooler.")
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
        by_language, mean, _ = self.evaluate_languages(eval_dataset, metric_key_prefix, ignore_keys=ignore_keys)
        metrics = flatten_metrics(by_language, mean, metric_key_prefix)
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
    ) -> tuple[dict[str, dict], dict[str, float], dict[str, list[dict[str, Any]]]]:
        """Predict and score each language's encoded labelled set (columns of data/encoding.py), and log the scores
        as `<prefix>_<metric>` (MEAN) and `<prefix>_<language>_<metric>` (metrics: `xnlu_evaluation.METRICS`,
        num_examples and loss).

        Token predictions go back to words through `word_token_index` (a truncated word, -1, is predicted `O`),
        BIO is restored with `io_to_bio` and scored against the original gold BIO `tags` (`gold_scheme="io"`:
        IO-collapsed gold, as the paper's code did). The MEAN is over `mean_over` (default: the languages that are
        not training languages, or all if every one is). Returns (scores per language, as `xnlu_metric.py` gives
        them plus `loss`; MEAN; predictions per language: dicts with id, intent, tags).
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
            intent_logits, slot_logits = output.predictions
            restore = np.argsort(order)
            intent_ids = np.asarray(intent_logits).argmax(-1)[restore]
            slot_ids = np.asarray(slot_logits).argmax(-1)[restore]
            language_predictions = []
            for row, (example_id, token_index) in enumerate(zip(dataset["id"], dataset["word_token_index"])):
                io_tags = [OUTSIDE if index < 0 else config.slot_labels[slot_ids[row, index]] for index in token_index]
                language_predictions.append(
                    {"id": example_id, "intent": config.intent_labels[intent_ids[row]], "tags": io_to_bio(io_tags)}
                )
            scores = score_language(
                dataset["intent"],
                [prediction["intent"] for prediction in language_predictions],
                dataset["tags"],
                [prediction["tags"] for prediction in language_predictions],
                gold_scheme=gold_scheme,
            )
            loss = output.metrics.get(f"{metric_key_prefix}_loss")
            by_language[language] = {**scores, **({"loss": loss} if loss is not None else {})}
            predictions[language] = language_predictions
        if mean_over is None:
            trained = self.training_languages()
            mean_over = [language for language in by_language if language not in trained] or list(by_language)
        mean = mean_over_languages(by_language, mean_over)
        self.log(flatten_metrics(by_language, mean, metric_key_prefix))
        return by_language, mean, predictions


def _bio_with_gaps(io_tags: list[str | None]) -> list[str | None]:
    """`io_to_bio` over runs of labelled units; an unlabelled unit (None) stays None and ends a run."""
    tags: list[str | None] = []
    run: list[str] = []
    for tag in [*io_tags, None]:
        if tag is None:
            tags += io_to_bio(run)
            run = []
            if len(tags) < len(io_tags):
                tags.append(None)
        else:
            run.append(tag)
    return tags


def flatten_metrics(
    by_language: Mapping[str, Mapping[str, Any]], mean: Mapping[str, float], prefix: str
) -> dict[str, float]:
    """`{prefix}_{metric}` for the MEAN and `{prefix}_{language}_{metric}` for each language: the scalar metrics
    (`xnlu_evaluation.METRICS`), `num_examples` and `loss`; the per-type breakdown stays out of the logs."""
    kept = (*METRICS, "num_examples", "loss")
    metrics = {f"{prefix}_{name}": value for name, value in mean.items() if name in kept}
    for language, scores in by_language.items():
        metrics.update({f"{prefix}_{language}_{name}": value for name, value in scores.items() if name in kept})
    return metrics
