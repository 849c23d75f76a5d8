# Copyright 2026 The CrossAligner XNLU authors. Apache-2.0.
"""`CrossAlignerTrainingArguments`: transformers' `TrainingArguments` plus the zero-shot alignment settings (which
losses, their weighting, the pairing of languages, the heads' learning rate, projection's settings), and
`parse_alignment`, the one definition of a valid alignment choice."""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments

from projection import FILTERS
from xnlu_batching import PAIRINGS

# The paper's four methods, and `projection` (beyond the paper: the English slot tags projected onto the translation
# through the model's own word alignments, see projection.py).
ALIGNMENTS = ("crossaligner", "xeroalign", "contrastive", "translate_intent", "projection")
WEIGHTINGS = ("cov", "sum")
PROJECTION_REFRESH = ("step", "never")


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
            "choices": list(FILTERS),
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
        if self.length_group_batches is not None and self.length_group_batches < 1:
            raise ValueError(f"length_group_batches must be at least 1, got {self.length_group_batches}")
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
