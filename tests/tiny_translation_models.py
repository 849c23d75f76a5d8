"""Sequence-to-sequence translation models with random weights, built and saved offline (nothing is downloaded), each
with a sentencepiece tokenizer trained here on the sentences given: a Marian model for one language pair (as
Helsinki-NLP's opus-mt models are), M2M100 with its tokenizer and language codes, and NLLB-200's setup (an M2M100
model with an NLLB tokenizer and its codes). Loaded back through `from_pretrained`, as a Hub id is. Small by default
(for the tests); `architecture` and `vocab_size` give real sizes (benchmarks/translation_speed.py)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import sentencepiece
import torch
from transformers import (
    M2M100Config,
    M2M100ForConditionalGeneration,
    M2M100Tokenizer,
    MarianConfig,
    MarianMTModel,
    MarianTokenizer,
    NllbTokenizer,
)
from transformers.models.m2m_100.tokenization_m2m_100 import FAIRSEQ_LANGUAGE_CODES

TINY_ARCHITECTURE = dict(
    d_model=16,
    encoder_layers=1,
    decoder_layers=1,
    encoder_attention_heads=2,
    decoder_attention_heads=2,
    encoder_ffn_dim=32,
    decoder_ffn_dim=32,
    max_position_embeddings=256,
    init_std=1.0,  # large random weights: each sentence gets a translation of its own, as with a real model
)
MARIAN_SPECIALS = ("</s>", "<unk>", "<pad>")  # Marian's ids: eos 0, unk 1, pad (also the decoder start) 2
FAIRSEQ_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")  # M2M100's and NLLB's ids 0-3


def train_sentencepiece(sentences: list[str], vocab_size: int) -> bytes:
    """A unigram sentencepiece model of at most ``vocab_size`` pieces (fewer if the sentences hold fewer)."""
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=model,
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        character_coverage=1.0,
        bos_id=-1,
        eos_id=-1,
        unk_id=0,
        minloglevel=2,
    )
    return model.getvalue()


def _vocabulary(spm_model: bytes, specials: tuple[str, ...], size: int | None) -> dict[str, int]:
    """The special tokens, then the sentencepiece pieces; filled up to ``size`` entries with unused pieces (a real
    model's vocabulary size, for speed measurements)."""
    processor = sentencepiece.SentencePieceProcessor(model_proto=spm_model)
    vocab = {token: index for index, token in enumerate(specials)}
    for index in range(processor.get_piece_size()):
        vocab.setdefault(processor.id_to_piece(index), len(vocab))
    for filler in range(len(vocab), size or 0):
        vocab[f"<unused{filler}>"] = filler
    return vocab


def save_marian(
    folder: Path,
    sentences: list[str],
    *,
    target_lang: str = "de",
    seed: int = 0,
    spm_vocab_size: int = 80,
    vocab_size: int | None = None,
    architecture: dict = TINY_ARCHITECTURE,
) -> Path:
    """A Marian model for en -> ``target_lang`` with its tokenizer (source.spm, target.spm, vocab.json), saved."""
    folder.mkdir(parents=True, exist_ok=True)
    spm_model = train_sentencepiece(sentences, spm_vocab_size)
    for name in ("source.spm", "target.spm"):
        (folder / name).write_bytes(spm_model)
    (folder / "vocab.json").write_text(json.dumps(_vocabulary(spm_model, MARIAN_SPECIALS, vocab_size)), "utf-8")
    tokenizer = MarianTokenizer(
        str(folder / "source.spm"),
        str(folder / "target.spm"),
        str(folder / "vocab.json"),
        source_lang="en",
        target_lang=target_lang,
    )
    config = MarianConfig(
        **architecture,
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        forced_eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    MarianMTModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def save_nllb(
    folder: Path,
    sentences: list[str],
    *,
    language_codes: tuple[str, ...] = ("eng_Latn", "deu_Latn", "spa_Latn", "tha_Thai"),
    seed: int = 0,
    spm_vocab_size: int = 80,
    architecture: dict = TINY_ARCHITECTURE,
) -> Path:
    """NLLB-200's setup with only ``language_codes``: an M2M100 model and an NLLB tokenizer, saved."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = _vocabulary(train_sentencepiece(sentences, spm_vocab_size), FAIRSEQ_SPECIALS, None)
    tokenizer = NllbTokenizer(
        vocab=vocab, merges=[], src_lang=language_codes[0], extra_special_tokens=list(language_codes)
    )
    config = M2M100Config(
        **architecture,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    M2M100ForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def save_m2m100(
    folder: Path,
    sentences: list[str],
    *,
    seed: int = 0,
    spm_vocab_size: int = 80,
    vocab_size: int | None = None,
    architecture: dict = TINY_ARCHITECTURE,
) -> Path:
    """An M2M100 model with its tokenizer (vocab.json, sentencepiece.bpe.model; M2M100's 100 language codes after the
    pieces), saved; ``vocab_size``: the model's whole vocabulary, codes included."""
    folder.mkdir(parents=True, exist_ok=True)
    spm_model = train_sentencepiece(sentences, spm_vocab_size)
    (folder / "sentencepiece.bpe.model").write_bytes(spm_model)
    num_codes, num_madeup_words = len(FAIRSEQ_LANGUAGE_CODES["m2m100"]), 8
    pieces = vocab_size - num_codes - num_madeup_words if vocab_size else None
    (folder / "vocab.json").write_text(json.dumps(_vocabulary(spm_model, FAIRSEQ_SPECIALS, pieces)), "utf-8")
    tokenizer = M2M100Tokenizer(str(folder / "vocab.json"), str(folder / "sentencepiece.bpe.model"), src_lang="en")
    config = M2M100Config(
        **architecture,
        vocab_size=tokenizer.vocab_size + num_codes + num_madeup_words,
        bos_token_id=tokenizer.bos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    M2M100ForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
