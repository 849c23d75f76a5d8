# Copyright 2026 The CrossAligner XNLU authors. Apache-2.0.
"""Joint intent + slot model of CrossAligner XNLU, in one self-contained file.

This file is also the Hub remote code of every trained model: it imports only torch, transformers and the standard
library, so that `AutoModel.from_pretrained(repo, trust_remote_code=True)` and `pipeline("xnlu", model=repo,
trust_remote_code=True)` work in a process that cannot import the project.

Contents:
- the IO/BIO label helpers (training uses IO tags; data and scores use BIO);
- `XLMRobertaJointXNLUConfig` and `XLMRobertaForJointXNLU` (XLM-R encoder + intent, slot and CrossAligner heads);
- `OnnxRuntimeJointXNLU`: the model exported by export_onnx.py, run by ONNX Runtime (imported only when used);
- `XNLUPipeline`, registered as the `xnlu` pipeline task.

Method: "CrossAligner & Co: Zero-Shot Transfer Methods for Task-Oriented Cross-lingual Natural Language
Understanding" (Gritta, Hu, Iacobacci; Findings of ACL 2022).
"""

from __future__ import annotations

import itertools
import types
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    XLMRobertaConfig,
)
from transformers.modeling_outputs import ModelOutput, SequenceClassifierOutput, TokenClassifierOutput
from transformers.models.xlm_roberta.modeling_xlm_roberta import XLMRobertaModel, XLMRobertaPreTrainedModel
from transformers.pipelines import PIPELINE_REGISTRY
from transformers.pipelines.base import ChunkPipeline
from transformers.pipelines.token_classification import AggregationStrategy
from transformers.utils import cached_file, logging

logger = logging.get_logger(__name__)

OUTSIDE = "O"
IGNORE_INDEX = -100
# Name of this file as saved next to the weights (also when imported from a package or as Hub remote code).
_MODULE_FILE = __name__.rsplit(".", 1)[-1]


# --------------------------------------------------------------------------------------------------------------------
# IO / BIO labels
# --------------------------------------------------------------------------------------------------------------------


def _split_bio(tag: str) -> tuple[str, str | None]:
    """("B"|"I"|"O", type) of one BIO tag; ValueError for anything else."""
    if tag == OUTSIDE:
        return OUTSIDE, None
    prefix, sep, slot_type = tag.partition("-")
    if sep != "-" or prefix not in ("B", "I") or not slot_type:
        raise ValueError(f"malformed BIO tag {tag!r}: expected 'O', 'B-<type>' or 'I-<type>'")
    return prefix, slot_type


def bio_to_io(tags: list[str]) -> list[str]:
    """Strip the B-/I- prefixes: the model is trained to predict `O` or a bare slot type per word."""
    return [slot_type if slot_type is not None else OUTSIDE for _, slot_type in map(_split_bio, tags)]


def io_to_bio(tags: list[str]) -> list[str]:
    """Restore BIO from IO tags, word by word.

    `O` stays `O`; a type after `O` or after a different type starts an entity (`B-type`); a type after the same type
    continues it (`I-type`). Limitation: two adjacent entities of the same type merge into one.
    """
    bio, previous = [], OUTSIDE
    for tag in tags:
        if tag == OUTSIDE:
            bio.append(OUTSIDE)
        else:
            bio.append(("I-" if tag == previous else "B-") + tag)
        previous = tag
    return bio


def tags_to_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """BIO tags -> [(type, start_word, end_word_exclusive)], read as conlleval reads chunks: an entity starts at
    `B-x`, or at an `I-x` that does not continue an `x` entity (after `O` or another type)."""
    spans: list[tuple[str, int, int]] = []
    current: list[Any] | None = None
    for index, tag in enumerate(tags):
        prefix, slot_type = _split_bio(tag)
        if current is not None and prefix == "I" and slot_type == current[0]:
            current[2] = index + 1
            continue
        if current is not None:
            spans.append(tuple(current))
            current = None
        if prefix != OUTSIDE:
            current = [slot_type, index, index + 1]
    if current is not None:
        spans.append(tuple(current))
    return spans


# --------------------------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------------------------


class XLMRobertaJointXNLUConfig(XLMRobertaConfig):
    """XLM-R configuration plus the label sets and the CrossAligner layout length.

    Args:
        intent_labels: intent names; index i is intent class i.
        slot_labels: IO slot labels; index 0 must be `O`, the others are bare slot types (no B-/I- prefix).
        max_seq_length: number of token rows the CrossAligner head lays the slot logits out on (inputs are
            truncated to this length for training and inference).
        classifier_dropout: dropout before the heads (defaults to `hidden_dropout_prob`).
    """

    model_type = "xlm-roberta-joint-xnlu"

    intent_labels: list[str] = field(default_factory=list)
    slot_labels: list[str] = field(default_factory=lambda: [OUTSIDE])
    max_seq_length: int = 128

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if not self.slot_labels or self.slot_labels[0] != OUTSIDE:
            raise ValueError(f"slot_labels must start with {OUTSIDE!r}, got {self.slot_labels[:3]!r}...")
        for name, labels in (("intent_labels", self.intent_labels), ("slot_labels", self.slot_labels)):
            if len(set(labels)) != len(labels):
                raise ValueError(f"{name} has duplicates: {sorted({x for x in labels if labels.count(x) > 1})}")
        bio_prefixed = [label for label in self.slot_labels if label[:2] in ("B-", "I-")]
        if bio_prefixed:
            raise ValueError(f"slot_labels are IO labels (bare slot types), got BIO tags {bio_prefixed[:3]}")
        if self.intent_labels:
            # The sentence-level labels are the intents (the token-classification view swaps in the slot labels).
            self.id2label = dict(enumerate(self.intent_labels))
            self.label2id = {label: index for index, label in self.id2label.items()}
        # Saving writes the auto_map entry of the saved model's own class; the other views are added here, so that
        # every saved model loads as remote code with each of the three Auto classes.
        self.auto_map = {
            **(getattr(self, "auto_map", None) or {}),
            "AutoModelForTokenClassification": f"{_MODULE_FILE}.XLMRobertaJointXNLUForTokenClassification",
            "AutoModelForSequenceClassification": f"{_MODULE_FILE}.XLMRobertaJointXNLUForSequenceClassification",
        }
        if not getattr(self, "custom_pipelines", None):
            # Written into every saved config so that `pipeline("xnlu", model=dir_or_repo, trust_remote_code=True)`
            # finds the pipeline class in the saved copy of this file.
            self.custom_pipelines = {
                "xnlu": {"impl": f"{_MODULE_FILE}.XNLUPipeline", "pt": ["AutoModel"], "tf": [], "type": "text"}
            }


# --------------------------------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class JointXNLUOutput(ModelOutput):
    """Outputs of `XLMRobertaForJointXNLU`.

    loss: intent_loss + slot_loss, when both label tensors are given.
    intent_logits: (batch, num_intents). slot_logits: (batch, seq_len, num_slot_labels), IO labels.
    crossaligner_logits: (batch, num_slot_labels) the CrossAligner head's logits of which slot labels occur.
    pooled_output: (batch, hidden) pooled `<s>` vector (dense + tanh), the sentence vector the alignment losses use.
    """

    loss: torch.FloatTensor | None = None
    intent_loss: torch.FloatTensor | None = None
    slot_loss: torch.FloatTensor | None = None
    intent_logits: torch.FloatTensor | None = None
    slot_logits: torch.FloatTensor | None = None
    crossaligner_logits: torch.FloatTensor | None = None
    pooled_output: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


class XLMRobertaForJointXNLU(XLMRobertaPreTrainedModel):
    """XLM-R encoder with an intent head (IC, on the pooled `<s>`), a slot head (EC, on every token, IO labels) and
    the CrossAligner head (CA: which slot labels occur in the utterance, predicted from its slot logits)."""

    config_class = XLMRobertaJointXNLUConfig

    def __init__(self, config: XLMRobertaJointXNLUConfig):
        super().__init__(config)
        self.num_intents = len(config.intent_labels)
        self.num_slot_labels = len(config.slot_labels)
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.roberta = XLMRobertaModel(config, add_pooling_layer=True)
        self.dropout = nn.Dropout(dropout)
        self.intent_classifier = nn.Linear(config.hidden_size, self.num_intents)
        self.slot_classifier = nn.Linear(config.hidden_size, self.num_slot_labels)
        self.crossaligner_head = nn.Linear(config.max_seq_length * self.num_slot_labels, self.num_slot_labels)
        self.post_init()

    # The modules that are new on top of a pre-trained encoder (the pooler is newly initialised when the checkpoint
    # has none): they train at the trainer's head learning rate, and a PEFT adapter trains them in full
    # (`modules_to_save`).
    head_module_names = ("roberta.pooler", "intent_classifier", "slot_classifier", "crossaligner_head")

    def head_modules(self) -> list[nn.Module]:
        """The new modules (`head_module_names`) as they are now; under PEFT, the wrappers of their trained copies."""
        return [self.get_submodule(name) for name in self.head_module_names]

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        # Weights travel as safetensors only: pickled checkpoints can run code when loaded.
        kwargs.setdefault("use_safetensors", True)
        return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)

    @classmethod
    def from_encoder(
        cls,
        encoder_name_or_path: str,
        intent_labels: list[str],
        slot_labels: list[str],
        max_seq_length: int = 128,
        **config_overrides,
    ) -> XLMRobertaForJointXNLU:
        """A joint model whose encoder (and pooler, when the checkpoint has one) comes from an XLM-R checkpoint
        (`XLMRobertaModel` or `XLMRobertaForMaskedLM` layout) and whose heads are newly initialised."""
        encoder_config = AutoConfig.from_pretrained(encoder_name_or_path)
        if encoder_config.model_type not in ("xlm-roberta", XLMRobertaJointXNLUConfig.model_type):
            raise ValueError(
                f"{encoder_name_or_path} is a {encoder_config.model_type!r} checkpoint; an XLM-R-shaped encoder "
                "(model_type 'xlm-roberta') is expected"
            )
        encoder_settings = {
            key: value
            for key, value in encoder_config.to_dict().items()
            if key not in ("model_type", "architectures", "transformers_version", "auto_map", "id2label", "label2id")
        }
        config = XLMRobertaJointXNLUConfig(
            **{
                **encoder_settings,
                "intent_labels": list(intent_labels),
                "slot_labels": list(slot_labels),
                "max_seq_length": max_seq_length,
                **config_overrides,
            }
        )
        # The heads are new by design: transformers' load report would list them as missing weights, in a table, at
        # every run. Report only what is missing besides them (an encoder checkpoint without a pooler has a new one).
        model_logger = logging.get_logger("transformers.modeling_utils")
        level = model_logger.level
        model_logger.setLevel(logging.ERROR)
        try:
            model, loading = cls.from_pretrained(encoder_name_or_path, config=config, output_loading_info=True)
        finally:
            model_logger.setLevel(level)
        unexpected_missing = sorted(
            key for key in loading["missing_keys"] if key.startswith("roberta.") and "pooler" not in key
        )
        if unexpected_missing:
            logger.warning("%s has no weights for %s: newly initialised", encoder_name_or_path, unexpected_missing)
        return model

    def crossaligner_logits(self, slot_logits: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """CA head: (batch, seq_len, num_slot_labels) slot logits -> (batch, num_slot_labels) presence logits.

        The logits are laid out on exactly `max_seq_length` rows with the padding rows (and rows past the utterance)
        zeroed, so an utterance gets the same CA logits whatever padding its batch has.
        """
        batch_size, seq_len, num_labels = slot_logits.shape
        if attention_mask is not None:
            slot_logits = slot_logits * attention_mask[:, :seq_len, None].to(slot_logits.dtype)
        max_len = self.config.max_seq_length
        if seq_len > max_len:
            # Rows past the layout cannot reach the head; they only exist when the caller skipped truncation.
            slot_logits = slot_logits[:, :max_len]
        elif seq_len < max_len:
            slot_logits = F.pad(slot_logits, (0, 0, 0, max_len - seq_len))
        return self.crossaligner_head(slot_logits.reshape(batch_size, max_len * num_labels))

    def _check_labels(self, input_ids: torch.Tensor, intent_labels, slot_labels) -> None:
        batch_shape = tuple(input_ids.shape)
        if intent_labels is not None:
            if tuple(intent_labels.shape) != batch_shape[:1]:
                raise ValueError(f"intent_labels has shape {tuple(intent_labels.shape)}, expected {batch_shape[:1]}")
            _check_label_range("intent_labels", intent_labels, self.num_intents)
        if slot_labels is not None:
            if tuple(slot_labels.shape) != batch_shape:
                raise ValueError(f"slot_labels has shape {tuple(slot_labels.shape)}, expected {batch_shape}")
            _check_label_range("slot_labels", slot_labels, self.num_slot_labels)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        intent_labels: torch.Tensor | None = None,
        slot_labels: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        **kwargs,
    ) -> JointXNLUOutput:
        """Intent, slot and CrossAligner logits for a batch; with `intent_labels` (batch,) and/or `slot_labels`
        (batch, seq_len) (-100 = ignored) also the cross-entropy losses, `loss` being their sum.

        The CrossAligner logits are computed here, in `forward`, so that every head takes part in the forward pass
        that DDP watches (the alignment loss is the trainer's). A generic `labels` is refused rather than ignored: the
        joint model has two kinds (`XLMRobertaJointXNLUForTokenClassification` and `...ForSequenceClassification`
        read `labels` as slot or intent labels)."""
        if "labels" in kwargs:
            raise TypeError(
                "XLMRobertaForJointXNLU.forward takes intent_labels (batch,) and slot_labels (batch, seq_len), not "
                "labels; for one kind of labels use XLMRobertaJointXNLUForTokenClassification (slots) or "
                "XLMRobertaJointXNLUForSequenceClassification (intents)"
            )
        if input_ids is not None:
            self._check_labels(input_ids, intent_labels, slot_labels)
        encoded = self.roberta(
            input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
            return_dict=True,
        )
        pooled_output = encoded.pooler_output
        intent_logits = self.intent_classifier(self.dropout(pooled_output))
        slot_logits = self.slot_classifier(self.dropout(encoded.last_hidden_state))

        intent_loss, slot_loss, loss = _joint_losses(intent_logits, slot_logits, intent_labels, slot_labels)
        return JointXNLUOutput(
            loss=loss,
            intent_loss=intent_loss,
            slot_loss=slot_loss,
            intent_logits=intent_logits,
            slot_logits=slot_logits,
            crossaligner_logits=self.crossaligner_logits(slot_logits, attention_mask),
            pooled_output=pooled_output,
            hidden_states=encoded.hidden_states,
            attentions=encoded.attentions,
        )


def _check_label_range(name: str, labels: torch.Tensor, num_classes: int) -> None:
    invalid = (labels != IGNORE_INDEX) & ((labels < 0) | (labels >= num_classes))
    if invalid.any():
        raise ValueError(
            f"{name} has values {sorted(set(labels[invalid].tolist()))[:5]} outside the label set "
            f"(expected 0..{num_classes - 1}, or {IGNORE_INDEX} to ignore)"
        )


def _joint_losses(
    intent_logits: torch.Tensor,
    slot_logits: torch.Tensor,
    intent_labels: torch.Tensor | None,
    slot_labels: torch.Tensor | None,
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """(intent_loss, slot_loss, loss): each head's cross-entropy where its labels are given, and their sum when both
    are (the PyTorch model and the ONNX Runtime one compute the same)."""
    intent_loss = None if intent_labels is None else _cross_entropy(intent_logits, intent_labels)
    slot_loss = None
    if slot_labels is not None:
        slot_loss = _cross_entropy(slot_logits.reshape(-1, slot_logits.shape[-1]), slot_labels.reshape(-1))
    loss = intent_loss + slot_loss if intent_loss is not None and slot_loss is not None else None
    return intent_loss, slot_loss, loss


def _cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the non-ignored labels; 0 (still attached to the graph) when all are ignored, where
    PyTorch would return NaN."""
    labels = labels.to(logits.device)
    if not (labels != IGNORE_INDEX).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX)


class XLMRobertaJointXNLUForTokenClassification(XLMRobertaForJointXNLU):
    """The joint model as a token classifier, for `AutoModelForTokenClassification` and transformers'
    `token-classification` pipeline: `logits` are the slot logits and `config.id2label` the IO slot labels.

    A token's label is a bare slot type, which that pipeline reads as the inside of an entity, so
    `aggregation_strategy="first"` labels each word by its first sub-word (as the model was trained) and joins
    consecutive words of one type into one entity, as `io_to_bio` does (`"simple"` labels every sub-word on its own).
    The `xnlu` pipeline is the better choice for scripts written without spaces (it never labels XLM-R's bare `▁`).
    """

    def __init__(self, config: XLMRobertaJointXNLUConfig):
        super().__init__(config)
        config.id2label = dict(enumerate(config.slot_labels))
        config.label2id = {label: index for index, label in config.id2label.items()}

    def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs) -> TokenClassifierOutput:
        outputs = super().forward(input_ids, attention_mask=attention_mask, slot_labels=labels, **kwargs)
        return TokenClassifierOutput(
            loss=outputs.slot_loss,
            logits=outputs.slot_logits,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )


class XLMRobertaJointXNLUForSequenceClassification(XLMRobertaForJointXNLU):
    """The joint model as an intent classifier, for `AutoModelForSequenceClassification` and transformers'
    `text-classification` pipeline (`top_k` works): `logits` are the intent logits, `config.id2label` the intents."""

    def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs) -> SequenceClassifierOutput:
        outputs = super().forward(input_ids, attention_mask=attention_mask, intent_labels=labels, **kwargs)
        return SequenceClassifierOutput(
            loss=outputs.intent_loss,
            logits=outputs.intent_logits,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )


# --------------------------------------------------------------------------------------------------------------------
# ONNX Runtime
# --------------------------------------------------------------------------------------------------------------------

# The graph of each ONNX runtime in a model folder or Hub repo, as export_onnx.py writes them (the `onnx/` layout
# that optimum and transformers.js read).
ONNX_FILES = {"onnx": "onnx/model.onnx", "onnx-int8": "onnx/model_quantized.onnx"}
RUNTIMES = ("torch", *ONNX_FILES)
ONNX_INPUT_NAMES = ("input_ids", "attention_mask")
ONNX_OUTPUT_NAMES = ("intent_logits", "slot_logits")


class OnnxRuntimeJointXNLU(nn.Module):
    """The exported graph of a joint model (export_onnx.py) run by ONNX Runtime on the CPU, called as
    `XLMRobertaForJointXNLU` is for inference: intent and slot logits as torch tensors, and with `intent_labels` /
    `slot_labels` the same losses. The graph has no CrossAligner logits or hidden states (training only).

    An `nn.Module` without parameters, so that the `xnlu` pipeline's `_forward` and `Trainer`'s prediction loop run it
    where they run the PyTorch model: tokenization, padding and post-processing stay theirs.

    Args:
        session: an `onnxruntime.InferenceSession` of the graph (inputs `input_ids`, `attention_mask`; outputs
            `intent_logits`, `slot_logits`).
        config: the model's configuration (labels, `max_seq_length`).
    """

    main_input_name = "input_ids"

    def __init__(self, session, config: XLMRobertaJointXNLUConfig):
        super().__init__()
        self.session = session
        self.config = config

    @classmethod
    def from_pretrained(
        cls,
        model_name_or_path: str,
        runtime: str = "onnx",
        config: XLMRobertaJointXNLUConfig | None = None,
        num_threads: int | None = None,
        **hub_kwargs,
    ) -> OnnxRuntimeJointXNLU:
        """Load `onnx/model.onnx` (`runtime="onnx"`) or `onnx/model_quantized.onnx` (`"onnx-int8"`) of a model folder
        or Hub repo (`hub_kwargs`: `revision`, `token`, `cache_dir`, ... as `from_pretrained` takes them).
        `num_threads`: ONNX Runtime's intra-op threads (default: as many as PyTorch uses, `torch.get_num_threads()`)."""
        if runtime not in ONNX_FILES:
            raise ValueError(f"runtime must be one of {list(RUNTIMES)}, got {runtime!r}")
        try:
            import onnxruntime
        except ImportError:
            raise ImportError(
                f"runtime={runtime!r} needs ONNX Runtime: pip install onnxruntime (or the project's onnx extra)"
            ) from None
        path = cached_file(
            model_name_or_path, ONNX_FILES[runtime], _raise_exceptions_for_missing_entries=False, **hub_kwargs
        )
        if path is None:
            quantize = " --quantize" if runtime == "onnx-int8" else ""
            raise FileNotFoundError(
                f"{model_name_or_path} has no {ONNX_FILES[runtime]} (needed by runtime={runtime!r}): export it with "
                f"`python export_onnx.py {model_name_or_path}{quantize}`"
            )
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = num_threads or torch.get_num_threads()
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        if config is None:
            config = XLMRobertaJointXNLUConfig.from_pretrained(model_name_or_path, **hub_kwargs)
        return cls(session, config)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        intent_labels: torch.Tensor | None = None,
        slot_labels: torch.Tensor | None = None,
    ) -> JointXNLUOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        feeds = {
            name: tensor.detach().cpu().to(torch.int64).numpy()
            for name, tensor in zip(ONNX_INPUT_NAMES, (input_ids, attention_mask))
        }
        intent_logits, slot_logits = (
            torch.from_numpy(array).to(input_ids.device) for array in self.session.run(list(ONNX_OUTPUT_NAMES), feeds)
        )
        intent_loss, slot_loss, loss = _joint_losses(intent_logits, slot_logits, intent_labels, slot_labels)
        return JointXNLUOutput(
            loss=loss,
            intent_loss=intent_loss,
            slot_loss=slot_loss,
            intent_logits=intent_logits,
            slot_logits=slot_logits,
        )


# --------------------------------------------------------------------------------------------------------------------
# Pipeline
# --------------------------------------------------------------------------------------------------------------------

# Scripts written without spaces between words: their "words" are the tokenizer's sub-words (see XNLUPipeline).
_UNSPACED_SCRIPT_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x20000, 0x2FA1F),  # CJK extensions B-F and supplement
)


def _is_unspaced_script(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _UNSPACED_SCRIPT_RANGES)


def word_units(
    text: str,
    tokens: list[str],
    offsets: list[tuple[int, int]],
    word_ids: list[int | None],
    split_unspaced_scripts: bool = True,
) -> list[list[int]]:
    """Group token positions into the units the model labels: one unit per word (its first token that carries text
    gets the prediction, as in training), except that in scripts written without spaces each sub-word is its own
    unit, so that spans can start and end inside a run of characters; where such a script meets another without a
    space (`去New`), the other script's part starts a unit of its own. With `split_unspaced_scripts=False` (words
    given by the caller, as datasets give them) every word is one unit."""
    units: list[list[int]] = []
    previous_word, previous_unspaced = None, False
    for position, (token, (start, end), word_id) in enumerate(zip(tokens, offsets, word_ids)):
        piece = text[start:end]
        if word_id is None or not token.lstrip("▁") or not piece.strip():
            # Special tokens and XLM-R's bare "▁" piece carry no text to label.
            continue
        unspaced = split_unspaced_scripts and _is_unspaced_script(piece.strip()[0])
        if word_id != previous_word or unspaced or previous_unspaced:
            units.append([position])
        else:
            units[-1].append(position)
        previous_word, previous_unspaced = word_id, unspaced
    return units


@dataclass
class _Utterance:
    """One input as postprocessing needs it, shared by all its windows: the text (words joined by single spaces
    when the input was split into words), its tokens' character offsets, the token positions of each unit and each
    unit's index (its word's position in the input's words when the input was split into words)."""

    text: str
    offsets: list[tuple[int, int]]
    units: list[list[int]]
    unit_indices: list[int]


class XNLUPipeline(ChunkPipeline):
    """Intent and slots of utterances: `pipeline("xnlu", model=..., trust_remote_code=True)`.

    Each input gives `{"intent", "score", "slots"}`: the intent, its probability, and the slots as transformers'
    `token-classification` pipeline gives entities, `[{"entity_group", "score", "word", "start", "end"}, ...]`, with
    character offsets into the input (`text[start:end] == slot["word"]`; punctuation written on a word is left out
    of its slot, a final period excepted). A string gives a dict, a list of strings a list; generators and datasets
    (`KeyDataset(dataset, "text")`) stream their results; an empty list is an empty batch and gives an empty list
    (with `is_split_into_words` too, as in transformers). Call with
    `batch_size=32` (or more) to run batches through the model.

    Units: words are delimited by spaces; in scripts written without spaces (Thai, Chinese, Japanese, ...) every
    sub-word is a unit, so slot spans follow sub-word boundaries there. The model labels a unit on its first sub-word
    that carries text, as it was trained.

    Args:
        aggregation_strategy (`str`, defaults to `"simple"`): how unit labels become slots.
            - `"simple"`: each unit takes the label of its first sub-word (the one the model was trained to label);
              consecutive units of one slot type form one slot, scored with the mean of their probabilities.
            - `"first"`, `"average"`, `"max"`: as in transformers, each unit takes the label of its first sub-word,
              of its sub-words' averaged probabilities, or of its most confident sub-word, then as `"simple"`
              (`"first"` is `"simple"`: transformers' `"simple"` labels every sub-word on its own, which this model
              was never trained to do).
            - `"none"`: one entry per unit, `{"entity", "score", "index", "word", "start", "end"}`: its BIO tag
              (restored from the model's IO labels), its probability, its index among the input's units (with
              `is_split_into_words`, the word's index in the input), and the unit as written.
        ignore_labels (`list[str]`, defaults to `["O"]`): slot labels of the model (`config.slot_labels`) whose slots
            (or units, with `"none"`) are left out; `[]` keeps every unit, the outside ones as `"O"`.
        is_split_into_words (`bool`, defaults to `False`): inputs are lists of words (a list of lists for a batch),
            as datasets give them; each word is one unit, and offsets index the words joined by single spaces. A word
            the tokenizer reads as nothing (an empty string) has no unit.
        max_length (`int`, defaults to `config.max_seq_length`): tokens per forward pass, `<s>` and `</s>` included.
        stride (`int`, *optional*): read texts longer than `max_length` in overlapping windows, shifted by
            `max_length - 2 - stride` tokens. Each token takes the slot probabilities of the window where it has the
            most context (tokens on its nearer side), so slots run across window boundaries; the intent is the first
            window's (the start of the text, and no fewer tokens than any other window). Without `stride`, a longer
            text is truncated, with a warning, and its slots cover only the part read.
        top_k (`int` or `None`, defaults to 1): with `k` (or `None`: all), also `"intents"`, the `k` most probable
            intents as `[{"intent", "score"}, ...]`.
        runtime (`str`, defaults to `"torch"`, at creation only): `"onnx"` (or `"onnx-int8"`) runs the model's
            exported graph `onnx/model.onnx` (or `onnx/model_quantized.onnx`, see export_onnx.py) on ONNX Runtime
            instead of PyTorch, with the same pre- and post-processing. The PyTorch weights are then unused; with
            `model_kwargs={"device_map": "meta"}` they are not loaded at all.
    """

    def __init__(self, *args, runtime: str = "torch", **kwargs):
        super().__init__(*args, **kwargs)
        if runtime not in RUNTIMES:
            raise ValueError(f"xnlu pipeline: runtime must be one of {list(RUNTIMES)}, got {runtime!r}")
        self.runtime_model = self.model
        if runtime != "torch":
            if not self.model.name_or_path:
                raise ValueError(
                    f"xnlu pipeline: runtime={runtime!r} reads the model's {ONNX_FILES[runtime]}: pass the model as "
                    "a folder or Hub id, or one loaded with from_pretrained"
                )
            # The ONNX file of the same Hub commit as the loaded weights (None for a local folder).
            revision = getattr(self.model.config, "_commit_hash", None)
            self.runtime_model = OnnxRuntimeJointXNLU.from_pretrained(
                self.model.name_or_path, runtime, config=self.model.config, revision=revision
            )
            # ONNX Runtime reads its inputs from the CPU, wherever the PyTorch model is (on "meta" when it was loaded
            # with `model_kwargs={"device_map": "meta"}`, so that its weights are never read).
            self.device = torch.device("cpu")

    def _sanitize_parameters(
        self,
        aggregation_strategy: str | AggregationStrategy | None = None,
        ignore_labels: list[str] | None = None,
        is_split_into_words: bool | None = None,
        max_length: int | None = None,
        stride: int | None = None,
        top_k: int | None | str = "",
        **kwargs,
    ):
        # Only what was passed is returned, so that a call does not reset what the pipeline was created with.
        if kwargs:
            raise TypeError(f"unexpected xnlu pipeline arguments: {sorted(kwargs)}")
        preprocess_params, postprocess_params = {}, {}
        if is_split_into_words is not None:
            preprocess_params["is_split_into_words"] = _checked_is_split_into_words(is_split_into_words)
        if max_length is not None:
            if not _is_int(max_length) or max_length < 3:
                raise ValueError(f"max_length must be an int of at least 3 (<s>, one token, </s>), got {max_length!r}")
            preprocess_params["max_length"] = max_length
        if stride is not None:
            if not _is_int(stride) or stride < 0:
                raise ValueError(
                    f"stride must be a non-negative int (tokens shared by adjacent windows), got {stride!r}"
                )
            preprocess_params["stride"] = stride
        if aggregation_strategy is not None:
            postprocess_params["aggregation_strategy"] = _aggregation_strategy(aggregation_strategy)
        if ignore_labels is not None:
            postprocess_params["ignore_labels"] = self._checked_ignore_labels(ignore_labels)
        if top_k != "":
            if top_k is not None and (not _is_int(top_k) or top_k < 1):
                raise ValueError(f"top_k must be a positive int or None (all intents), got {top_k!r}")
            postprocess_params["top_k"] = top_k
        return preprocess_params, {}, postprocess_params

    def _checked_ignore_labels(self, ignore_labels) -> frozenset[str]:
        if isinstance(ignore_labels, str) or not all(isinstance(label, str) for label in ignore_labels):
            raise ValueError(f"ignore_labels must be a list of slot labels (str), got {ignore_labels!r}")
        unknown = sorted(set(ignore_labels) - set(self.model.config.slot_labels))
        if unknown:
            raise ValueError(
                f"ignore_labels {unknown} are not slot labels of this model; expected some of "
                f"{self.model.config.slot_labels}"
            )
        return frozenset(ignore_labels)

    def __call__(self, inputs, **kwargs):
        """One input (a dict back), a list of inputs (a list back), or a generator or dataset of inputs such as
        `KeyDataset(dataset, "text")` (results streamed back one by one, as transformers' pipelines do). An input is
        a string, or with `is_split_into_words=True` a list of words."""
        is_split_into_words = _checked_is_split_into_words(
            kwargs.get("is_split_into_words", self._preprocess_params.get("is_split_into_words", False))
        )
        if isinstance(inputs, (types.GeneratorType, torch.utils.data.Dataset)):
            return super().__call__(inputs, **kwargs)  # items are checked one by one, in preprocess
        if is_split_into_words and isinstance(inputs, (list, tuple)) and inputs and _is_words(inputs):
            return super().__call__([list(inputs)], **kwargs)[0]
        if isinstance(inputs, (list, tuple)):
            for item in inputs:
                _check_input(item, is_split_into_words)
            return super().__call__(list(inputs), **kwargs) if inputs else []
        _check_input(inputs, is_split_into_words)
        return super().__call__(inputs, **kwargs)

    def preprocess(
        self, inputs, is_split_into_words: bool = False, max_length: int | None = None, stride: int | None = None
    ):
        _check_input(inputs, is_split_into_words)  # items of generators and datasets are only seen here
        max_length = max_length or self.model.config.max_seq_length
        window_size = max_length - self.tokenizer.num_special_tokens_to_add()
        if stride is not None and stride >= window_size:
            raise ValueError(
                f"stride={stride} must be less than the {window_size} text tokens of a window (max_length={max_length} "
                "minus <s> and </s>)"
            )
        utterance, input_ids = self._tokenize(inputs, is_split_into_words)
        # Windows are cut from one untruncated encoding, so that every token has one position in the text.
        bos, body, eos = input_ids[:1], input_ids[1:-1], input_ids[-1:]
        if stride is None:
            starts = [0]
            if len(body) > window_size:
                read_until = utterance.offsets[window_size][1]
                logger.warning(
                    f"xnlu: input of {len(body)} tokens truncated to max_length={max_length}; slots cover only its "
                    f"first {read_until} characters (pass stride= to read it all in overlapping windows)"
                )
        else:
            step = window_size - stride
            starts = list(range(0, max(len(body) - window_size, 0) + step, step))
        for index, start in enumerate(starts):
            window_ids = torch.tensor([bos + body[start : start + window_size] + eos])
            yield {
                "input_ids": window_ids,
                "attention_mask": torch.ones_like(window_ids),
                "utterance": utterance,
                "window_start": start,
                "is_last": index == len(starts) - 1,
            }

    def _tokenize(self, inputs, is_split_into_words: bool) -> tuple[_Utterance, list[int]]:
        encoding = self.tokenizer(
            inputs, is_split_into_words=is_split_into_words, return_offsets_mapping=True, verbose=False
        )
        word_ids = encoding.word_ids()
        offsets = [tuple(pair) for pair in encoding["offset_mapping"]]
        if is_split_into_words:
            text = " ".join(inputs)
            word_starts = list(itertools.accumulate((len(word) + 1 for word in inputs), initial=0))
            # The tokenizer counts a word's offsets from the word's start: shift them onto the joined text.
            offsets = [
                (start + word_starts[word], end + word_starts[word]) if word is not None else (start, end)
                for (start, end), word in zip(offsets, word_ids)
            ]
        else:
            text = inputs
        units = word_units(text, encoding.tokens(), offsets, word_ids, split_unspaced_scripts=not is_split_into_words)
        unit_indices = [word_ids[unit[0]] for unit in units] if is_split_into_words else list(range(len(units)))
        return _Utterance(text, offsets, units, unit_indices), encoding["input_ids"]

    def _forward(self, model_inputs: dict[str, Any]) -> dict[str, Any]:
        outputs = self.runtime_model(input_ids=model_inputs["input_ids"], attention_mask=model_inputs["attention_mask"])
        # Probabilities: windows are merged by them; the attention mask, passed on, tells the padding apart.
        return {
            "intent_probs": outputs.intent_logits.softmax(-1),
            "slot_probs": outputs.slot_logits.softmax(-1),
            **model_inputs,
        }

    def postprocess(
        self,
        windows: list[dict[str, Any]],
        aggregation_strategy: AggregationStrategy = AggregationStrategy.SIMPLE,
        ignore_labels: frozenset[str] = frozenset({OUTSIDE}),
        top_k: int | None = 1,
    ) -> dict[str, Any]:
        config = self.model.config
        utterance = windows[0]["utterance"]
        token_probs, read = _merge_windows(windows, len(utterance.offsets))
        # Units a truncation cut off entirely are not labelled; one it cut in two is labelled from the part read.
        units = [[position for position in unit if read[position]] for unit in utterance.units]
        units = [unit for unit in units if unit]
        unit_scores, unit_label_ids = _unit_probs(token_probs, units, aggregation_strategy).max(-1)
        labels = [config.slot_labels[i] for i in unit_label_ids.tolist()]
        scores = unit_scores.tolist()
        text, offsets = utterance.text, utterance.offsets

        slots = []
        if aggregation_strategy == AggregationStrategy.NONE:
            for unit, index, label, tag, score in zip(units, utterance.unit_indices, labels, io_to_bio(labels), scores):
                if label in ignore_labels:
                    continue
                start, end = _slot_span(text, offsets[unit[0]][0], offsets[unit[-1]][1], trim_punctuation=False)
                slots.append(
                    {"entity": tag, "score": score, "index": index, "word": text[start:end], "start": start, "end": end}
                )
        else:
            # Consecutive units of one label form one slot, as io_to_bio reads IO tags.
            for label, run in itertools.groupby(range(len(units)), key=labels.__getitem__):
                run = list(run)
                if label in ignore_labels:
                    continue
                start = offsets[units[run[0]][0]][0]
                end = offsets[units[run[-1]][-1]][1]
                start, end = _slot_span(text, start, end, trim_punctuation=True)
                if start == end:  # only punctuation was labelled
                    continue
                score = sum(scores[i] for i in run) / len(run)
                slots.append(
                    {"entity_group": label, "score": score, "word": text[start:end], "start": start, "end": end}
                )

        intent_scores, intent_ids = windows[0]["intent_probs"][0].sort(descending=True)
        result = {"intent": config.intent_labels[int(intent_ids[0])], "score": float(intent_scores[0]), "slots": slots}
        if top_k != 1:
            ranked = zip(intent_ids[:top_k].tolist(), intent_scores[:top_k].tolist())
            result["intents"] = [{"intent": config.intent_labels[i], "score": score} for i, score in ranked]
        return result


def _merge_windows(windows: list[dict[str, Any]], num_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(num_tokens, num_labels) slot probabilities of the whole encoding, each token's from the window where it has
    the most context (tokens on its nearer side; the earlier window on ties), and which tokens a window read."""
    num_labels = windows[0]["slot_probs"].shape[-1]
    token_probs = torch.zeros(num_tokens, num_labels)
    context = torch.full((num_tokens,), -1)
    for window in windows:
        # The window's text tokens: padding (on either side), <s> and </s> left out.
        rows = window["slot_probs"][0][window["attention_mask"][0].bool()][1:-1]
        within = torch.arange(len(rows))
        positions = within + 1 + window["window_start"]  # + 1: <s> is position 0 of the whole encoding
        margin = torch.minimum(within, within.flip(0))
        better = margin > context[positions]
        token_probs[positions[better]] = rows[better].float()
        context[positions[better]] = margin[better]
    return token_probs, context >= 0


def _unit_probs(
    token_probs: torch.Tensor, units: list[list[int]], aggregation_strategy: AggregationStrategy
) -> torch.Tensor:
    """(num_units, num_labels) label probabilities of each unit from its tokens' (the first is the token the model
    was trained to label), as transformers' word aggregation strategies define them."""
    if not units:
        return token_probs[:0]
    if aggregation_strategy == AggregationStrategy.AVERAGE:
        return torch.stack([token_probs[unit].mean(0) for unit in units])
    if aggregation_strategy == AggregationStrategy.MAX:
        return torch.stack([token_probs[unit][token_probs[unit].max(-1).values.argmax()] for unit in units])
    return token_probs[[unit[0] for unit in units]]


def _slot_span(text: str, start: int, end: int, trim_punctuation: bool) -> tuple[int, int]:
    """Character span of units whose tokens run from `start` to `end`, fitted to the text."""
    # Offsets of a word-initial piece may include the space XLM-R's "▁" stands for: trim to the text.
    while start < end and text[start].isspace():
        start += 1
    # Normalisation can leave a word's final combining mark (e + U+0301) outside its token: keep it.
    while end < len(text) and unicodedata.category(text[end]).startswith("M"):
        end += 1
    if trim_punctuation:
        # A word written with punctuation ("salón?", "«Paris»") is one unit; the slot is the word without it (a
        # final period stays: it may end an abbreviation).
        while start < end and _is_edge_punctuation(text[start]):
            start += 1
        while end > start and text[end - 1] != "." and _is_edge_punctuation(text[end - 1]):
            end -= 1
    return start, end


def _is_edge_punctuation(char: str) -> bool:
    """Punctuation that ends or opens a sentence, a clause or a quotation (Unicode P* categories but connectors and
    dashes, which join parts of a name: "Jean-Luc", "e_mail")."""
    return unicodedata.category(char) in ("Po", "Ps", "Pe", "Pi", "Pf") and char not in "&'#@%/\\*"


def _aggregation_strategy(value) -> AggregationStrategy:
    try:
        return AggregationStrategy(value.lower() if isinstance(value, str) else value)
    except ValueError:
        choices = ", ".join(repr(strategy.value) for strategy in AggregationStrategy)
        raise ValueError(f"aggregation_strategy must be one of {choices}; got {value!r}") from None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _checked_is_split_into_words(value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"is_split_into_words must be True or False, got {value!r}")
    return value


def _is_words(inputs) -> bool:
    return all(isinstance(word, str) for word in inputs)


def _check_input(inputs, is_split_into_words: bool) -> None:
    if is_split_into_words:
        if not isinstance(inputs, (list, tuple)) or not _is_words(inputs):
            raise TypeError(
                "xnlu pipeline inputs with is_split_into_words=True must be a list of words (str), a list of such "
                f"lists, or a generator or dataset of them; got {_describe(inputs)}"
            )
    elif not isinstance(inputs, str):
        raise TypeError(
            "xnlu pipeline inputs must be str, a list of str, or a generator or dataset of str; got "
            f"{_describe(inputs)}"
        )


def _describe(value) -> str:
    if isinstance(value, (list, tuple)):
        kinds = sorted({type(item).__name__ for item in value})
        return f"{type(value).__name__} of {', '.join(kinds)}" if kinds else f"empty {type(value).__name__}"
    return type(value).__name__


# --------------------------------------------------------------------------------------------------------------------
# Registration: Auto classes (also written into saved configs as `auto_map`) and the `xnlu` pipeline task.
# --------------------------------------------------------------------------------------------------------------------

_AUTO_CLASSES = {
    AutoModel: XLMRobertaForJointXNLU,
    AutoModelForTokenClassification: XLMRobertaJointXNLUForTokenClassification,
    AutoModelForSequenceClassification: XLMRobertaJointXNLUForSequenceClassification,
}
AutoConfig.register(XLMRobertaJointXNLUConfig.model_type, XLMRobertaJointXNLUConfig, exist_ok=True)
XLMRobertaJointXNLUConfig.register_for_auto_class()
for _auto_class, _model_class in _AUTO_CLASSES.items():
    _auto_class.register(XLMRobertaJointXNLUConfig, _model_class, exist_ok=True)
    _model_class.register_for_auto_class(_auto_class.__name__)
PIPELINE_REGISTRY.register_pipeline("xnlu", pipeline_class=XNLUPipeline, pt_model=AutoModel)
