# Copyright 2026 The CrossAligner XNLU authors. Apache-2.0.
"""A sequence-to-sequence translation model from the Hub or a folder (`AutoModelForSeq2SeqLM` and its tokenizer):
what it is and which languages it translates into, checked from its config and tokenizer before any weights are
loaded, and its batched, deterministic generation.

Three kinds of models are told apart by their tokenizer:

- a model for one language pair (most Marian models, `Helsinki-NLP/opus-mt-en-de`): no language codes;
- a multilingual model whose tokenizer sets the source language (`src_lang`) and whose first generated token names
  the target language (M2M100 `de`, NLLB-200 `deu_Latn`, mBART-50 `de_DE`);
- a Marian model with several target languages, chosen by a `>>deu<<` written before the source text.

The project's language codes (the data folders' names, ISO 639-1 as the benchmarks write them) are mapped to the
model's: the code itself, its FLORES-200 code (NLLB-200's), that code's ISO 639-3 part (Marian's `>>deu<<`), or the
one code of the model that starts with it (mBART-50's `de_DE`); `language_codes` gives a mapping that wins.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer, PreTrainedTokenizerBase
from transformers.models.auto.modeling_auto import MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES
from transformers.utils.hub import cached_file, extract_commit_hash

from run_device import cpu_multiplies_bf16

logger = logging.getLogger("translate_data")

# Project language code -> FLORES-200 code (NLLB-200's): the languages of MTOD, MultiATIS++, MTOP, MASSIVE and xSID
# that have one. MASSIVE's Chinese locales keep their lower-cased locale (zh-cn, zh-tw).
FLORES_200 = {
    "af": "afr_Latn", "am": "amh_Ethi", "ar": "arb_Arab", "az": "azj_Latn", "bg": "bul_Cyrl", "bn": "ben_Beng",
    "ca": "cat_Latn", "cs": "ces_Latn", "cy": "cym_Latn", "da": "dan_Latn", "de": "deu_Latn", "el": "ell_Grek",
    "en": "eng_Latn", "es": "spa_Latn", "et": "est_Latn", "fa": "pes_Arab", "fi": "fin_Latn", "fr": "fra_Latn",
    "he": "heb_Hebr", "hi": "hin_Deva", "hr": "hrv_Latn", "hu": "hun_Latn", "hy": "hye_Armn", "id": "ind_Latn",
    "is": "isl_Latn", "it": "ita_Latn", "ja": "jpn_Jpan", "jv": "jav_Latn", "ka": "kat_Geor", "kk": "kaz_Cyrl",
    "km": "khm_Khmr", "kn": "kan_Knda", "ko": "kor_Hang", "lt": "lit_Latn", "lv": "lvs_Latn", "ml": "mal_Mlym",
    "mn": "khk_Cyrl", "ms": "zsm_Latn", "my": "mya_Mymr", "nb": "nob_Latn", "nl": "nld_Latn", "pl": "pol_Latn",
    "pt": "por_Latn", "ro": "ron_Latn", "ru": "rus_Cyrl", "sk": "slk_Latn", "sl": "slv_Latn", "sq": "als_Latn",
    "sv": "swe_Latn", "sw": "swh_Latn", "ta": "tam_Taml", "te": "tel_Telu", "th": "tha_Thai", "tl": "tgl_Latn",
    "tr": "tur_Latn", "uk": "ukr_Cyrl", "ur": "urd_Arab", "vi": "vie_Latn", "zh": "zho_Hans", "zh-cn": "zho_Hans",
    "zh-tw": "zho_Hant",
}  # fmt: skip


class TranslationSetupError(ValueError):
    """A model, language or setting that cannot do what was asked, found before any translation: one line."""


@dataclass(frozen=True)
class LanguageCodes:
    """The target languages a model can be told to translate into.

    ``kind`` is ``"token"`` (the source code is the tokenizer's ``src_lang``; the target code's token, ``codes``'
    value, is forced as the first generated token), ``"prefix"`` (``codes``' value is written before the source
    text) or ``"none"`` (a model for one language pair; ``codes`` is empty)."""

    kind: str
    codes: dict[str, int | str]


@dataclass(frozen=True)
class TranslationDirection:
    """How one model is asked to translate from the source language into one target language."""

    source_code: str | None  # set as the tokenizer's src_lang; None: the model has no source codes
    target_code: str | None  # the model's code of the target language; None: it translates into one language
    forced_bos_token_id: int | None = None  # multilingual models: the first generated token names the target
    source_prefix: str | None = None  # Marian with several targets: ">>deu<<" before the source text


@dataclass
class ModelInfo:
    """What is known of a model before its weights are loaded: its config and tokenizer, and the revision that pins
    it (a Hub commit, or the content hash of a local folder)."""

    name: str  # the Hub id as given, or the folder's absolute path
    revision: str
    config: object
    tokenizer: PreTrainedTokenizerBase
    codes: LanguageCodes

    @property
    def max_source_tokens(self) -> int:
        """The longest source the model takes: its position table's size, or the tokenizer's limit."""
        limits = [getattr(self.config, "max_position_embeddings", None), self.tokenizer.model_max_length]
        limits = [limit for limit in limits if isinstance(limit, int) and 0 < limit < 1_000_000]
        return min(limits) if limits else 1024


def check_max_new_tokens(info: ModelInfo, max_new_tokens: int) -> None:
    """A translation longer than the decoder's position table would fail in the middle of a run: refuse it now."""
    positions = getattr(info.config, "max_position_embeddings", None)
    if isinstance(positions, int) and max_new_tokens >= positions:  # the decoder's start token takes one position
        raise TranslationSetupError(
            f"--max_new_tokens {max_new_tokens}: {info.name} has {positions} decoder positions; give at most "
            f"{positions - 1}"
        )


def inspect_model(name: str, revision: str | None = None) -> ModelInfo:
    """Config, tokenizer and pinned revision of a Hub id or folder. A model that cannot be found, or that
    `AutoModelForSeq2SeqLM` cannot load, is a TranslationSetupError."""
    folder = Path(name).expanduser()
    if folder.is_dir():
        name, revision = str(folder.resolve()), None
    try:
        config = AutoConfig.from_pretrained(name, revision=revision)
        if config.model_type not in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES:
            raise TranslationSetupError(
                f"--model {name}: a {config.model_type!r} model, not a sequence-to-sequence model "
                "(AutoModelForSeq2SeqLM cannot load it); expected a translation model (Marian, M2M100, NLLB-200)"
            )
        tokenizer = AutoTokenizer.from_pretrained(name, revision=revision)
        if folder.is_dir():
            pinned = "sha256:" + folder_digest(folder)
        else:  # the commit the revision points to, from the cached file's snapshot folder
            pinned = (
                extract_commit_hash(cached_file(name, "config.json", revision=revision), None) or revision or "main"
            )
    except TranslationSetupError:
        raise
    except (OSError, ValueError) as error:
        raise TranslationSetupError(f"--model {name}: {str(error).strip().splitlines()[0]}") from None
    return ModelInfo(name, pinned, config, tokenizer, language_codes_of(tokenizer))


def folder_digest(folder: Path) -> str:
    """SHA-256 of a model folder's top-level files (names and contents): what pins a local model."""
    digest = hashlib.sha256()
    for path in sorted(child for child in folder.iterdir() if child.is_file()):
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def language_codes_of(tokenizer: PreTrainedTokenizerBase) -> LanguageCodes:
    marian_codes = getattr(tokenizer, "supported_language_codes", None)
    if marian_codes:
        return LanguageCodes("prefix", {code[2:-2]: code for code in marian_codes})
    if hasattr(tokenizer, "lang_code_to_id"):  # M2M100 ("de" -> the id of "__de__"), mBART-50 ("de_DE")
        return LanguageCodes("token", dict(tokenizer.lang_code_to_id))
    if hasattr(tokenizer, "src_lang"):  # NLLB-200: its codes ("deu_Latn") are its extra special tokens
        tokens = getattr(tokenizer, "extra_special_tokens", None) or []
        return LanguageCodes("token", {token: tokenizer.convert_tokens_to_ids(token) for token in tokens})
    return LanguageCodes("none", {})


def candidate_codes(language: str) -> list[str]:
    """The codes a model may use for a project language code, most likely first."""
    flores = FLORES_200.get(language)
    return [language] + ([flores, flores.split("_")[0]] if flores else [])


def model_code(info: ModelInfo, language: str, mapping: dict[str, str]) -> str:
    """The model's code for ``language``: the mapping's, else the first candidate the model has, else its one code
    that starts with ``<language>_``."""
    codes = info.codes.codes
    if language in mapping:
        if mapping[language] not in codes:
            raise TranslationSetupError(
                f"--language_codes {language}={mapping[language]}: not a language code of {info.name}"
                + _codes_hint(codes, mapping[language])
            )
        return mapping[language]
    found = [code for code in candidate_codes(language) if code in codes]
    prefixed = [code for code in codes if code.lower().startswith(f"{language}_")]
    if not found and len(prefixed) == 1:
        found = prefixed
    if not found:
        raise TranslationSetupError(
            f"{language}: unknown language code for {info.name}; give the model's code with "
            f"--language_codes {language}=CODE" + _codes_hint(codes, language)
        )
    return found[0]


def _codes_hint(codes, code: str) -> str:
    """' (its codes ...)': those that start like ``code``, or the first few."""
    like = [known for known in codes if known.lower().startswith(code.lower()[:2])]
    shown = like or list(codes)
    listed = ", ".join(shown[:12]) + (f", ... ({len(shown)} in all)" if len(shown) > 12 else "")
    return f" (its codes{f' starting with {code[:2]!r}' if like else ''}: {listed})"


def translation_direction(
    info: ModelInfo, source_language: str, target_language: str, mapping: dict[str, str]
) -> TranslationDirection:
    """How ``info``'s model translates ``source_language`` into ``target_language``; a language it has no code for
    (or, for a one-pair model that names its pair, another pair) is a TranslationSetupError."""
    kind, codes = info.codes.kind, info.codes.codes
    if kind == "token":
        target = model_code(info, target_language, mapping)
        return TranslationDirection(
            model_code(info, source_language, mapping), target, forced_bos_token_id=codes[target]
        )
    if kind == "prefix":
        target = model_code(info, target_language, mapping)
        return TranslationDirection(None, target, source_prefix=codes[target])
    # One language pair: Marian's tokenizer names it (source_lang, target_lang); the mapping may give its codes.
    declared = (getattr(info.tokenizer, "source_lang", None), getattr(info.tokenizer, "target_lang", None))
    for language, code in zip((source_language, target_language), declared):
        expected = [mapping[language]] if language in mapping else candidate_codes(language)
        if code and code.lower() not in [name.lower() for name in expected]:
            raise TranslationSetupError(
                f"{target_language}: {info.name} translates {declared[0]} -> {declared[1]} (its tokenizer says), not "
                f"{source_language} -> {target_language}; give a model for that pair, or --language_codes "
                f"{language}={code} if {code} is {language}"
            )
    return TranslationDirection(None, None)


def translation_dtype(bf16: bool | None, device: torch.device) -> torch.dtype:
    """bf16 when asked, or by default where the device computes it natively (a GPU with bf16; a CPU with AVX512-BF16
    or AMX), as training chooses; fp32 elsewhere (emulated bf16 is slower)."""
    if bf16 is None:
        if device.type == "cuda":
            bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
        else:
            bf16 = device.type == "cpu" and cpu_multiplies_bf16()
    return torch.bfloat16 if bf16 else torch.float32


def load_model(info: ModelInfo, device: torch.device, dtype: torch.dtype):
    revision = None if Path(info.name).is_dir() else info.revision
    model = AutoModelForSeq2SeqLM.from_pretrained(info.name, revision=revision, dtype=dtype)
    return model.to(device).eval()


def encode_sources(info: ModelInfo, direction: TranslationDirection, texts: list[str]) -> list[list[int]]:
    """Token ids of each source text as the model reads it for ``direction``; longer sources than the model takes
    are truncated, with a warning."""
    tokenizer = info.tokenizer
    if direction.source_code is not None:
        tokenizer.src_lang = direction.source_code
    if direction.source_prefix is not None:
        texts = [f"{direction.source_prefix} {text}" for text in texts]
    encoded = tokenizer(texts)["input_ids"]
    limit = info.max_source_tokens
    long = [row for row, ids in enumerate(encoded) if len(ids) > limit]
    if long:
        logger.warning("%d source sentences are longer than %d tokens: they are truncated", len(long), limit)
        shortened = tokenizer([texts[row] for row in long], truncation=True, max_length=limit)["input_ids"]
        for row, ids in zip(long, shortened):
            encoded[row] = ids
    return encoded


def generate_translations(
    model,
    tokenizer: PreTrainedTokenizerBase,
    direction: TranslationDirection,
    input_ids: list[list[int]],
    num_beams: int,
    max_new_tokens: int,
) -> list[str]:
    """The translations of one batch of encoded sources: beam search (greedy with one beam), never sampled, so the
    same inputs give the same outputs."""
    batch = tokenizer.pad({"input_ids": input_ids}, return_tensors="pt").to(model.device)
    extra = {} if direction.forced_bos_token_id is None else {"forced_bos_token_id": direction.forced_bos_token_id}
    with torch.inference_mode():
        output = model.generate(
            **batch,
            num_beams=num_beams,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_return_sequences=1,
            **extra,
        )
    return [text.strip() for text in tokenizer.batch_decode(output, skip_special_tokens=True)]
