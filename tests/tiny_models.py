"""Tiny, offline XLM-R tokenizer and joint models for the tests (nothing is downloaded)."""

from __future__ import annotations

import string

from transformers import XLMRobertaTokenizer

from modeling_crossaligner import XLMRobertaForJointXNLU, XLMRobertaJointXNLUConfig

# Word-initial pieces ("▁word") for the fixtures' vocabulary. Chinese has text pieces WITHOUT a "▁" variant, so the
# tokenizer splits "美国航空" as a bare "▁" followed by "美国", "航空": the label must go on the first piece that
# carries text, never on the bare "▁".
_WORDS = (
    "the a to in at on for me my of and is what weather tell report half moon bay wake up set alarm nine am pm "
    "seven tomorrow morning remind call mom cancel show play music turn lights kitchen off book flight from "
    "boston denver new york madrid hoy mañana tiempo en la el de despierta alarma pon las siete wetter in berlin "
    "weck mich um sieben uhr réveille moi à sept heures"
).split()
_TEXT_PIECES = ["美国", "航空", "天气", "北京", "明天", "ส", "วัสดี", "พรุ่งนี้", "ตั้ง", "นาฬิกา", "ปลุก", "นमस्ते", "कल", "मौसम"]


def build_tiny_tokenizer() -> XLMRobertaTokenizer:
    specials = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces = [("▁", -2.0)] + [(f"▁{word}", -1.0) for word in _WORDS] + [(piece, -1.5) for piece in _TEXT_PIECES]
    characters = sorted(set("".join(_WORDS + _TEXT_PIECES)) | set(string.ascii_letters + string.digits + ".,?!'"))
    pieces += [(char, -6.0) for char in characters] + [(f"▁{char}", -6.5) for char in string.ascii_lowercase]
    return XLMRobertaTokenizer(vocab=specials + pieces + [("<mask>", 0.0)])


def tiny_config(tokenizer, intent_labels, slot_labels, max_seq_length=24, **overrides) -> XLMRobertaJointXNLUConfig:
    settings = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_seq_length + 2 + 8,
        type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        intent_labels=list(intent_labels),
        slot_labels=list(slot_labels),
        max_seq_length=max_seq_length,
    )
    settings.update(overrides)
    return XLMRobertaJointXNLUConfig(**settings)


def build_tiny_model(tokenizer, intent_labels, slot_labels, seed=0, **overrides) -> XLMRobertaForJointXNLU:
    import torch

    torch.manual_seed(seed)
    return XLMRobertaForJointXNLU(tiny_config(tokenizer, intent_labels, slot_labels, **overrides)).eval()


INTENTS = ["alarm/set_alarm", "weather/find", "reminder/set_reminder"]
SLOT_LABELS = ["O", "datetime", "location", "weather/noun"]
