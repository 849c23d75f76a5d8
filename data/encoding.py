"""Encoding of common-schema examples into model inputs: XLM-R tokens, IO slot labels, intents, CrossAligner targets.

- ``encode_labelled``: labelled examples (training without translations, i.e. the Zero-Shot and Target Language
  baselines, and every evaluation set).
- ``encode_pairs``: English labelled training examples paired with their translations (aligned training).

Both map over the corpus datasets with batched fast tokenization; the corpus datasets are backed by cache files,
so datasets caches the encoding too and a second run with the same tokenizer, labels and length loads it. Padding
is left to the collator. Truncation at ``max_seq_length`` is flagged per row and reported with a warning.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter

import datasets
import numpy as np
import pyarrow.compute as pc
from datasets import Features, Sequence, Value
from datasets.fingerprint import Hasher

from modeling_crossaligner import IGNORE_INDEX, bio_to_io, word_units

from .cache import code_signature
from .corpus import EXAMPLE_FEATURES, arrow_column
from .translations import join_by_id

logger = logging.getLogger(__name__)

WORD_START = "▁"  # sentencepiece's word-start marker; alone it is a piece that carries no text

LABELLED_FEATURES = Features(
    {
        **EXAMPLE_FEATURES,
        "input_ids": Sequence(Value("int32")),
        "attention_mask": Sequence(Value("int8")),
        "intent_labels": Value("int64"),
        "slot_labels": Sequence(Value("int64")),
        "word_token_index": Sequence(Value("int32")),
        "truncated": Value("bool"),
    }
)
TRANSLATION_ENCODING_FEATURES = Features(
    {
        "id": Value("string"),
        "translation_text": Value("string"),
        "translation_language": Value("string"),
        "translation_input_ids": Sequence(Value("int32")),
        "translation_attention_mask": Sequence(Value("int8")),
        "translation_unit_heads": Sequence(Value("int32")),
        "translation_truncated": Value("bool"),
    }
)


def first_text_piece_index(
    word_ids: list[int | None], input_ids: list[int], num_words: int, bare_piece_id: int | None
) -> list[int]:
    """Per word, the index of the token that carries its label; -1 for a word without tokens (truncated away).

    That token is the word's first sub-word that carries text. XLM-R splits words of unspaced scripts as a bare
    "▁" followed by the text pieces (``美国航空`` -> ``▁``, ``美国``, ``航空``): the label goes on ``美国``, never on
    the bare ``▁`` (labelling it collapses Chinese and Japanese slot F1). ``word_ids`` is the tokenizer's
    ``BatchEncoding.word_ids(i)``; ``bare_piece_id`` is ``bare_piece_id(tokenizer)``.
    """
    index = [-1] * num_words
    for position, word in enumerate(word_ids):
        if word is not None and index[word] == -1 and input_ids[position] != bare_piece_id:
            index[word] = position
    return index


def bare_piece_id(tokenizer) -> int | None:
    """Id of the bare word-start piece "▁", or None when the vocabulary has no such piece."""
    piece_id = tokenizer.convert_tokens_to_ids(WORD_START)
    return None if piece_id == tokenizer.unk_token_id else piece_id


def encode_labelled(
    dataset: datasets.Dataset | datasets.DatasetDict,
    tokenizer,
    intent_labels: list[str],
    slot_labels: list[str],
    max_seq_length: int,
) -> datasets.Dataset | datasets.DatasetDict:
    """Tokenize labelled examples and attach their labels (a DatasetDict is encoded split by split).

    Adds input_ids, attention_mask, intent_labels (-100 for an intent not in ``intent_labels``), slot_labels
    (per token: the word's IO label id on its first text-carrying sub-word, -100 elsewhere and for slot types
    not in ``slot_labels``), word_token_index (per word: the token carrying its label, -1 if truncated away)
    and truncated (the example lost tokens to ``max_seq_length``, which counts <s> and </s>). The original
    columns stay, so predictions can be scored against the original BIO gold: an intent or slot type the label lists
    lack (a test-only label) stays gold and counts as a miss; ``unseen_labels`` lists them.

    For Zero-Shot training pass the English training set; for the Target Language baseline, the training sets of
    the languages trained on.
    """
    _check_tokenizer(tokenizer, max_seq_length)
    tokenizer_hash = tokenizer_fingerprint(tokenizer)
    if isinstance(dataset, datasets.DatasetDict):
        return datasets.DatasetDict(
            {
                split: _encode_labelled(part, tokenizer, tokenizer_hash, intent_labels, slot_labels, max_seq_length)
                for split, part in dataset.items()
            }
        )
    return _encode_labelled(dataset, tokenizer, tokenizer_hash, intent_labels, slot_labels, max_seq_length)


def encode_pairs(
    english_train: datasets.Dataset,
    translations: dict[str, datasets.Dataset],
    tokenizer,
    intent_labels: list[str],
    slot_labels: list[str],
    max_seq_length: int,
    target_languages: list[str] | None = None,
) -> datasets.Dataset:
    """Training pairs: one row per (English training example, target language) whose translation exists.

    Every English example is paired with its translation in every target language (N examples and L languages
    give N * L rows, grouped by language; the trainer's PairSampler orders them; subsampling such as
    ``max_train_samples`` is the caller's job). Rows hold the ``encode_labelled`` columns of the English example plus
    translation_input_ids and translation_attention_mask (the translation tokenized on its own as plain
    text), translation_unit_heads (the head token of each unit the pipeline would label: words, and sub-words in
    scripts without spaces), translation_text, translation_language, translation_truncated, and
    crossaligner_targets: the multi-hot over ``slot_labels`` of the IO labels the English example's encoded words
    carry ("O" included).

    Translations are matched by row when their ids follow the English training set (line-aligned files), and
    by id otherwise (MASSIVE); English examples without a translation are counted and reported.
    """
    target_languages = list(translations if target_languages is None else target_languages)
    missing = [lang for lang in target_languages if lang not in translations]
    if missing:
        raise ValueError(f"no translations for target language(s) {missing}; available: {sorted(translations)}")
    if not target_languages:
        raise ValueError("encode_pairs needs at least one target language")
    _check_tokenizer(tokenizer, max_seq_length)
    tokenizer_hash = tokenizer_fingerprint(tokenizer)
    english = _encode_labelled(english_train, tokenizer, tokenizer_hash, intent_labels, slot_labels, max_seq_length)
    english = _cached_map(
        english,
        _add_crossaligner_targets,
        {"num_labels": len(slot_labels)},
        features=Features({**english.features, "crossaligner_targets": Sequence(Value("float32"))}),
        desc="CrossAligner targets",
    )
    parts = []
    for lang in target_languages:
        translated = _cached_map(
            translations[lang],
            _encode_translation_batch,
            {"max_seq_length": max_seq_length, "language": lang},
            tokenizer=tokenizer,
            tokenizer_hash=tokenizer_hash,
            features=TRANSLATION_ENCODING_FEATURES,
            desc=f"Encoding {lang} translations",
            remove_columns=["text"],
        )
        english_rows, translation_rows = _match_translations(english_train, translated, lang)
        part = datasets.concatenate_datasets(
            [
                english if english_rows is None else english.select(english_rows),
                (translated if translation_rows is None else translated.select(translation_rows)).remove_columns("id"),
            ],
            axis=1,
        )
        parts.append(part)
        truncated = pc.sum(arrow_column(part, "translation_truncated")).as_py() or 0
        if truncated:
            logger.warning(
                "%d of %d %s translations were truncated to max_seq_length=%d tokens",
                truncated,
                len(part),
                lang,
                max_seq_length,
            )
    return datasets.concatenate_datasets(parts)


def tokenizer_fingerprint(tokenizer) -> str:
    """A stable hash of everything in the tokenizer that shapes its output.

    datasets would otherwise fingerprint each map call by pickling the tokenizer, i.e. its whole vocabulary
    (about 2 s for XLM-R's 250k pieces, every call, also when the result is then loaded from the cache). The
    backend's truncation and padding state is left out (calling the tokenizer changes it, and the calls pass their
    own settings): it is switched off while the backend is serialised, then restored, which is 15 times faster
    than parsing the serialised vocabulary to drop those two keys.
    """
    backend = tokenizer.backend_tokenizer
    truncation, padding = backend.truncation, backend.padding
    backend.no_truncation()
    backend.no_padding()
    try:
        state = backend.to_str()
    finally:
        if truncation is not None:
            backend.enable_truncation(**truncation)
        if padding is not None:
            backend.enable_padding(**padding)
    text = f"{type(tokenizer).__name__}|{tokenizer.truncation_side}|{state}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _cached_map(
    dataset, function, fn_kwargs: dict, tokenizer=None, tokenizer_hash: str | None = None, **map_kwargs
) -> datasets.Dataset:
    """``dataset.map(function, batched=True)`` under an explicit fingerprint, so that the cache is reused and
    invalidated right.

    The fingerprint covers the input's fingerprint, the source of ``function`` (datasets would hash only its
    name), its arguments, and the tokenizer's ``tokenizer_fingerprint`` instead of its pickled vocabulary.
    """
    fingerprint = Hasher.hash(
        [
            dataset._fingerprint,
            function.__qualname__,
            code_signature(function),
            tokenizer_hash,
            fn_kwargs,
            sorted(map_kwargs.items()),
        ]
    )
    if tokenizer is not None:
        fn_kwargs = {"tokenizer": tokenizer, **fn_kwargs}
    return dataset.map(function, batched=True, fn_kwargs=fn_kwargs, new_fingerprint=fingerprint, **map_kwargs)


def _encode_labelled(dataset, tokenizer, tokenizer_hash, intent_labels, slot_labels, max_seq_length):
    name = _describe(dataset)
    encoded = _cached_map(
        dataset,
        _encode_labelled_batch,
        {"intent_labels": list(intent_labels), "slot_labels": list(slot_labels), "max_seq_length": max_seq_length},
        tokenizer=tokenizer,
        tokenizer_hash=tokenizer_hash,
        features=LABELLED_FEATURES,
        desc=f"Encoding {name}",
    )
    _report_truncation(encoded, max_seq_length, name)
    return encoded


def _check_tokenizer(tokenizer, max_seq_length: int) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("encoding needs a fast (tokenizers-backed) XLM-R tokenizer: it maps tokens to words")
    if max_seq_length < 3:
        raise ValueError(f"max_seq_length={max_seq_length}: expected at least 3 (<s>, one token, </s>)")


def _encode_labelled_batch(batch, tokenizer, intent_labels, slot_labels, max_seq_length):
    intent_index = {label: i for i, label in enumerate(intent_labels)}
    slot_index = {label: i for i, label in enumerate(slot_labels)}
    bare_id = bare_piece_id(tokenizer)
    encoding = tokenizer(
        batch["words"],
        is_split_into_words=True,
        truncation=True,
        max_length=max_seq_length,
        # Overflow rows tell which examples were truncated; only each example's first row is kept.
        return_overflowing_tokens=True,
    )
    out = {name: [] for name in ("input_ids", "attention_mask", "slot_labels", "word_token_index", "truncated")}
    previous = None
    for row, example in enumerate(encoding["overflow_to_sample_mapping"]):
        if example == previous:
            out["truncated"][-1] = True
            continue
        previous = example
        input_ids = encoding["input_ids"][row]
        words = batch["words"][example]
        index = first_text_piece_index(encoding.word_ids(row), input_ids, len(words), bare_id)
        labels = [IGNORE_INDEX] * len(input_ids)
        for position, tag in zip(index, bio_to_io(batch["tags"][example])):
            if position >= 0:
                labels[position] = slot_index.get(tag, IGNORE_INDEX)
        out["input_ids"].append(input_ids)
        out["attention_mask"].append(encoding["attention_mask"][row])
        out["slot_labels"].append(labels)
        out["word_token_index"].append(index)
        out["truncated"].append(False)
    out["intent_labels"] = [intent_index.get(intent, IGNORE_INDEX) for intent in batch["intent"]]
    return out


def _encode_translation_batch(batch, tokenizer, max_seq_length, language):
    encoding = tokenizer(
        batch["text"],
        truncation=True,
        max_length=max_seq_length,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    out = {
        "translation_input_ids": [],
        "translation_attention_mask": [],
        "translation_unit_heads": [],
        "translation_truncated": [],
    }
    previous = None
    for row, example in enumerate(encoding["overflow_to_sample_mapping"]):
        if example == previous:
            out["translation_truncated"][-1] = True
            continue
        previous = example
        out["translation_input_ids"].append(encoding["input_ids"][row])
        out["translation_attention_mask"].append(encoding["attention_mask"][row])
        # The units the pipeline labels (words; sub-words in unspaced scripts), by their head token.
        units = word_units(
            batch["text"][example], encoding.tokens(row), encoding["offset_mapping"][row], encoding.word_ids(row)
        )
        out["translation_unit_heads"].append([unit[0] for unit in units])
        out["translation_truncated"].append(False)
    out["translation_text"] = batch["text"]
    out["translation_language"] = [language] * len(batch["text"])
    return out


def _add_crossaligner_targets(batch, num_labels):
    # From the encoded labels, i.e. the words the model sees: a truncated-away word adds nothing to the target.
    targets = np.zeros((len(batch["slot_labels"]), num_labels), dtype=np.float32)
    for row, labels in enumerate(batch["slot_labels"]):
        targets[row, [label for label in labels if label != IGNORE_INDEX]] = 1.0
    return {"crossaligner_targets": targets.tolist()}


def _match_translations(
    english_train: datasets.Dataset, translated: datasets.Dataset, language: str
) -> tuple[list[int] | None, list[int] | None]:
    """(English rows, translation rows) to pair, or (None, None) when the rows already correspond one to one."""
    english_ids = arrow_column(english_train, "id")
    translation_ids = arrow_column(translated, "id")
    if english_ids.equals(translation_ids):
        return None, None
    english_ids, translation_ids = english_ids.to_pylist(), translation_ids.to_pylist()
    if len(set(english_ids)) != len(english_ids):
        raise ValueError(
            f"{language} translations are not row-aligned with the English training set, and the English ids "
            "are not unique, so they cannot be joined by id"
        )
    english_rows, translation_rows = join_by_id(english_ids, translation_ids)
    if len(english_rows) < len(english_ids):
        logger.warning(
            "%d of %d English training examples have no %s translation and are not paired with %s",
            len(english_ids) - len(english_rows),
            len(english_ids),
            language,
            language,
        )
    return english_rows, translation_rows


def _describe(dataset: datasets.Dataset) -> str:
    languages = pc.unique(arrow_column(dataset, "language")).to_pylist()
    return f"{len(dataset)} {'/'.join(sorted(languages))} examples"


def unseen_labels(dataset: datasets.Dataset, intent_labels, slot_labels) -> dict[str, dict[str, int]]:
    """Intents and slot types of labelled examples that are not in the label lists (a model trained on other data
    cannot predict them), each with the number of examples that have it: ``{"intents": {...}, "slot_types": {...}}``,
    only the kinds that have some ({} when every label is known).

    The one scan for such labels: encoding does not look for them (it gives them -100), so a caller that reports
    them calls this once per set it scores."""
    known_intents, known_types = set(intent_labels), set(slot_labels)
    intents = Counter(intent for intent in arrow_column(dataset, "intent").to_pylist() if intent not in known_intents)
    slot_types = Counter(
        slot_type
        for tags in arrow_column(dataset, "tags").to_pylist()
        for slot_type in set(bio_to_io(tags)) - known_types
    )
    found = {"intents": dict(sorted(intents.items())), "slot_types": dict(sorted(slot_types.items()))}
    return {kind: counts for kind, counts in found.items() if counts}


def _report_truncation(encoded: datasets.Dataset, max_seq_length: int, name: str) -> None:
    truncated = pc.sum(arrow_column(encoded, "truncated")).as_py() or 0
    if truncated:
        lost = pc.sum(pc.equal(pc.list_flatten(arrow_column(encoded, "word_token_index")), -1)).as_py()
        logger.warning(
            "%s: %d were truncated to max_seq_length=%d tokens (%d words lost their token)",
            name,
            truncated,
            max_seq_length,
            lost,
        )
