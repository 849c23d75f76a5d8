# Copyright 2026 The CrossAligner XNLU authors. Apache-2.0.
"""The zero-shot alignment losses on plain tensors, and the Coefficient-of-Variation weighting that combines them.

Definitions: the CrossAligner paper (Gritta, Hu, Iacobacci, 2022), section 3: Algorithms 1-3 and equations 1-3;
`projection_loss` goes beyond the paper (projection.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch.nn import functional as F

from modeling_crossaligner import IGNORE_INDEX


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
    """Translate-Intent (Algorithm 3): intent cross-entropy of the IC head on the translation, English labels (or a
    teacher's; -100: none, and 0, still attached to the graph, when a batch has none)."""
    if not (intent_labels != IGNORE_INDEX).any():
        return translation_intent_logits.sum() * 0.0
    return F.cross_entropy(translation_intent_logits, intent_labels, ignore_index=IGNORE_INDEX)


def projection_loss(translation_slot_logits: torch.Tensor, projected_labels: torch.Tensor) -> torch.Tensor:
    """Projection: slot cross-entropy of the EC head on the translation's tokens, against the English tags projected
    onto them (-100 where nothing was projected; 0, still attached to the graph, when nothing was)."""
    logits = translation_slot_logits[:, : projected_labels.shape[1]].reshape(-1, translation_slot_logits.shape[-1])
    labels = projected_labels.reshape(-1).to(logits.device)
    if not (labels != IGNORE_INDEX).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX)


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
