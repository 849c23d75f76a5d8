# Copyright 2026 The CrossAligner XNLU authors. Apache-2.0.
"""From encoded examples to training batches: `XNLUDataCollator` pads both sides of a pair, `PairSampler` decides
which translation each English example meets in each epoch, and in what order.

The columns are those of data/encoding.py: per-token columns (English and translation side, each padded on its own),
per-example label columns, and metadata the collator drops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import Sampler
from transformers import PreTrainedTokenizerBase
from transformers.trainer_pt_utils import get_length_grouped_indices

from modeling_crossaligner import IGNORE_INDEX

PAIRINGS = ("rotate", "all")

# Per-token columns with their padding value (None: the tokenizer's pad id), English side and translation side;
# per-example columns with their dtype. Everything else is metadata.
_TOKEN_COLUMNS = {"input_ids": None, "attention_mask": 0, "slot_labels": IGNORE_INDEX}
_TRANSLATION_TOKEN_COLUMNS = {
    "translation_input_ids": None,
    "translation_attention_mask": 0,
    "projected_slot_labels": IGNORE_INDEX,
}
_EXAMPLE_COLUMNS = {
    "intent_labels": torch.long,
    "teacher_intent_labels": torch.long,
    "crossaligner_targets": torch.float,
}
# Per-word and per-unit token indices of the pairs (what projection aligns), padded with -1.
_INDEX_COLUMNS = ("word_token_index", "translation_unit_heads")


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


def pad_columns(tensor: torch.Tensor, length: int, value: int) -> torch.Tensor:
    return F.pad(tensor, (0, length - tensor.shape[1]), value=value)


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
