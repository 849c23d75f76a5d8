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
from transformers.pipelines import PIPELINE_REGISTRY, Pipeline
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
    `B-x`, or at an `I-x` that does not continue an `x` entity (after `O` or another type). Written here rather than
    taken from seqeval (as the metric does): this file is the Hub's remote code and needs no package beyond
    transformers to run the pipeline."""
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
        that DDP watches (the alignment loss is the trainer's)."""
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
    `aggregation_strategy="simple"` joins consecutive tokens of one type into one entity, as `io_to_bio` does. The
    `xnlu` pipeline is the better choice for scripts written without spaces (it never labels XLM-R's bare `▁`).
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
    text: str, tokens: list[str], offsets: list[tuple[int, int]], word_ids: list[int | None]
) -> list[list[int]]:
    """Group token positions into the units the model labels: one unit per space-separated word (its first token
    that carries text gets the prediction, as in training), except that in scripts written without spaces each
    sub-word is its own unit, so that spans can start and end inside a run of characters; where such a script meets
    another without a space (`去New`), the other script's part starts a unit of its own."""
    units: list[list[int]] = []
    previous_word, previous_unspaced = None, False
    for position, (token, (start, end), word_id) in enumerate(zip(tokens, offsets, word_ids)):
        piece = text[start:end]
        if word_id is None or not token.lstrip("▁") or not piece.strip():
            # Special tokens and XLM-R's bare "▁" piece carry no text to label.
            continue
        unspaced = _is_unspaced_script(piece.strip()[0])
        if word_id != previous_word or unspaced or previous_unspaced:
            units.append([position])
        else:
            units[-1].append(position)
        previous_word, previous_unspaced = word_id, unspaced
    return units


class XNLUPipeline(Pipeline):
    """Intent and slots of utterances: `pipeline("xnlu", model=..., trust_remote_code=True)`.

    Each input string gives `{"intent", "score", "slots": [{"type", "text", "start", "end", "score"}]}` with character
    offsets into the original string (`text[start:end] == slot["text"]`; punctuation written on a word is left out of
    its slot, a final period excepted); with `top_k=k` (or `None`: all) also
    `"intents"`, the k most probable intents as `[{"intent", "score"}, ...]`. Lists give lists; generators and
    datasets (`KeyDataset(dataset, "text")`) stream their results. Words are delimited by spaces; in scripts
    written without spaces (Thai, Chinese, Japanese, ...) every sub-word is a unit, so slot spans follow sub-word
    boundaries there. Texts longer than the model's `max_seq_length` tokens are truncated with a warning, and slots
    then only cover the part that was read. Call with `batch_size=32` (or more) to run batches through the model.

    `runtime="onnx"` (or `"onnx-int8"`) runs the model's exported graph `onnx/model.onnx` (or
    `onnx/model_quantized.onnx`, see export_onnx.py) on ONNX Runtime instead of PyTorch, with the same pre- and
    post-processing; default `"torch"`.
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

    def _sanitize_parameters(self, max_length: int | None = None, top_k: int | None = 1, **kwargs):
        if kwargs:
            raise TypeError(f"unexpected xnlu pipeline arguments: {sorted(kwargs)}")
        if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"top_k must be a positive int or None (all intents), got {top_k!r}")
        preprocess_params = {}
        if max_length is not None:
            preprocess_params["max_length"] = max_length
        return preprocess_params, {}, {"top_k": top_k}

    def __call__(self, inputs, **kwargs):
        """One text (a dict back), a list of texts (a list back), or a generator or dataset of texts such as
        `KeyDataset(dataset, "text")` (results streamed back one by one, as transformers' pipelines do)."""
        if isinstance(inputs, (list, tuple)):
            for text in inputs:
                _check_text(text)
            inputs = list(inputs)
        elif not isinstance(inputs, (types.GeneratorType, torch.utils.data.Dataset)):
            _check_text(inputs)
        return super().__call__(inputs, **kwargs)

    def preprocess(self, text: str, max_length: int | None = None) -> dict[str, Any]:
        _check_text(text)  # items of generators and datasets are only seen here
        max_length = max_length or self.model.config.max_seq_length
        encoding = self.tokenizer(
            text,
            truncation=True,
            max_length=max_length,
            return_offsets_mapping=True,
            return_tensors="pt",
        )
        offsets = [tuple(pair) for pair in encoding.pop("offset_mapping")[0].tolist()]
        units = word_units(text, encoding.tokens(0), offsets, encoding.word_ids(0))
        read_until = max((offsets[unit[-1]][1] for unit in units), default=0)
        if text[read_until:].strip() and len(offsets) >= max_length:
            logger.warning(
                f"xnlu: input truncated to {max_length} tokens; slots cover only its first {read_until} characters"
            )
        return {
            "input_ids": encoding["input_ids"],
            "attention_mask": encoding["attention_mask"],
            "text": text,
            "offsets": offsets,
            "units": units,
        }

    def _forward(self, model_inputs: dict[str, Any]) -> dict[str, Any]:
        outputs = self.runtime_model(input_ids=model_inputs["input_ids"], attention_mask=model_inputs["attention_mask"])
        # Only probabilities leave the model: postprocessing must not depend on the batch's padding.
        return {
            "intent_probs": outputs.intent_logits.softmax(-1),
            "slot_probs": outputs.slot_logits.softmax(-1),
            "text": model_inputs["text"],
            "offsets": model_inputs["offsets"],
            "units": model_inputs["units"],
        }

    def postprocess(self, model_outputs: dict[str, Any], top_k: int | None = 1) -> dict[str, Any]:
        config = self.model.config
        intent_probs = model_outputs["intent_probs"][0]
        ranked_scores, ranked_ids = intent_probs.sort(descending=True)
        intent_score, intent_id = ranked_scores[0], ranked_ids[0]
        slot_probs = model_outputs["slot_probs"][0]
        text, offsets, units = model_outputs["text"], model_outputs["offsets"], model_outputs["units"]

        unit_heads = [unit[0] for unit in units]
        head_scores, head_ids = slot_probs[unit_heads].max(-1) if units else (torch.empty(0), torch.empty(0))
        unit_tags = io_to_bio([config.slot_labels[i] for i in head_ids.tolist()])
        slots = []
        for slot_type, first, last in tags_to_spans(unit_tags):
            start = offsets[units[first][0]][0]
            end = offsets[units[last - 1][-1]][1]
            # Offsets of a word-initial piece may include the space XLM-R's "▁" stands for: trim to the text.
            while start < end and text[start].isspace():
                start += 1
            # Normalisation can leave a word's final combining mark (e + U+0301) outside its token: keep it.
            while end < len(text) and unicodedata.category(text[end]).startswith("M"):
                end += 1
            # A word written with punctuation ("salón?", "«Paris»") is one unit; the slot is the word without it
            # (a final period stays: it may end an abbreviation).
            while start < end and _is_edge_punctuation(text[start]):
                start += 1
            while end > start and text[end - 1] != "." and _is_edge_punctuation(text[end - 1]):
                end -= 1
            if start == end:
                continue
            slots.append(
                {
                    "type": slot_type,
                    "text": text[start:end],
                    "start": start,
                    "end": end,
                    "score": float(head_scores[first:last].mean()),
                }
            )
        result = {"intent": config.intent_labels[int(intent_id)], "score": float(intent_score), "slots": slots}
        if top_k != 1:
            ranked = zip(ranked_ids[:top_k].tolist(), ranked_scores[:top_k].tolist())
            result["intents"] = [{"intent": config.intent_labels[i], "score": score} for i, score in ranked]
        return result


def _is_edge_punctuation(char: str) -> bool:
    """Punctuation that ends or opens a sentence, a clause or a quotation (Unicode P* categories but connectors and
    dashes, which join parts of a name: "Jean-Luc", "e_mail")."""
    return unicodedata.category(char) in ("Po", "Ps", "Pe", "Pi", "Pf") and char not in "&'#@%/\\*"


def _check_text(text) -> None:
    if not isinstance(text, str):
        raise TypeError(
            f"xnlu pipeline inputs must be str, a list of str, or a generator or dataset of str; got "
            f"{type(text).__name__}"
        )


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
