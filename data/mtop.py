"""MTOP (Li et al. 2021): per language ``train.txt``, ``eval.txt`` (the dev split), ``test.txt``.

Tab-separated, no header, 8 columns: id, intent, slots, utterance, domain, locale, decoupled form, JSON with
``tokens`` and ``tokenSpans`` (``start``, ``length``); some distributions omit the id (7 columns; ids then
become ``<lang>-<split>-<index>``). Slots are ``start:end:SL:TYPE`` character spans over the utterance,
comma-separated, possibly empty; nested slots keep only the outermost ones. Words are the JSON tokens and each
word takes the slot whose span it overlaps. Slot types and intents keep MTOP's names (``SL:DATE_TIME``,
``IN:GET_WEATHER``).

Translations: ``<lang>/train.tsv`` (line-aligned with English train) when present, otherwise the examples of
the target language that share an id with an English training example (MTOP is parallel by id).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from datasets import DatasetDict

from .corpus import (
    EXAMPLE_FEATURES,
    TRANSLATION_FEATURES,
    DataFormatError,
    XNLUCorpus,
    cached_dataset,
    ensure_not_empty,
    folder_translations,
    language_dirs,
    make_example,
    outermost_spans,
    require_file,
    spans_to_bio,
    translations_by_id,
)

SPLIT_FILES = {"train": "train.txt", "dev": "eval.txt", "test": "test.txt"}
TRANSLATION_FILE = "train.tsv"


def load_mtop(data_dir: str | Path, languages: list[str] | None = None, cache_dir: str | None = None) -> XNLUCorpus:
    folders = language_dirs(data_dir, languages)
    labelled, paths = {}, {}
    for lang, folder in folders.items():
        paths[lang] = {
            split: require_file(folder / name, f"MTOP {split} split of {lang!r}") for split, name in SPLIT_FILES.items()
        }
        labelled[lang] = DatasetDict(
            {
                split: cached_dataset(read_mtop, [path], EXAMPLE_FEATURES, cache_dir, path=str(path), language=lang, split=split)
                for split, path in paths[lang].items()
            }
        )
    # Line-aligned files where the distribution has them; the others fall back to pairing by id.
    translations = folder_translations(
        {lang: folder for lang, folder in folders.items() if (folder / TRANSLATION_FILE).is_file()},
        labelled,
        TRANSLATION_FILE,
        cache_dir=cache_dir,
    )
    if "en" in labelled:
        for lang in folders.keys() - translations.keys() - {"en"}:
            candidates = cached_dataset(
                read_mtop_utterances, paths[lang].values(), TRANSLATION_FEATURES, cache_dir,
                paths=tuple(str(path) for path in paths[lang].values()), language=lang,
            )
            translations[lang] = translations_by_id(candidates, labelled["en"]["train"], lang)
    return XNLUCorpus("mtop", labelled, translations)


def read_mtop(path: str, language: str, split: str) -> Iterator[dict]:
    """Examples of one MTOP split file, in file order."""
    count = 0
    for line_number, columns in _rows(path):
        example_id, intent, slots, utterance, tokens_json = _fields(columns, f"{language}-{split}-{count}")
        words, offsets = _tokens(tokens_json, path, line_number)
        spans = outermost_spans(_parse_slots(slots, path, line_number), utterance, path, line_number)
        tags = spans_to_bio(offsets, spans, path, line_number)
        yield make_example(path, line_number, example_id, language, words, tags, intent)
        count += 1
    ensure_not_empty(path, count)


def read_mtop_utterances(paths: tuple[str, ...], language: str) -> Iterator[dict]:
    """(id, utterance) of every example of a language: the candidates for pairing with English by id."""
    for path in paths:
        for count, (_, columns) in enumerate(_rows(path)):
            example_id, _, _, utterance, _ = _fields(columns, f"{language}-{count}")
            yield {"id": example_id, "text": utterance}


def _rows(path: str) -> Iterator[tuple[int, list[str]]]:
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            columns = line.rstrip("\r\n").split("\t")
            if len(columns) not in (7, 8):
                raise DataFormatError(
                    path, line_number,
                    f"{len(columns)} columns: expected 8 tab-separated (id, intent, slots, utterance, domain, "
                    "locale, decoupled form, tokens JSON) or 7 without the id",
                )
            yield line_number, columns


def _fields(columns: list[str], default_id: str) -> tuple[str, str, str, str, str]:
    """(id, intent, slots, utterance, tokens JSON) of a 7- or 8-column row."""
    if len(columns) == 7:
        columns = [default_id, *columns]
    return columns[0], columns[1], columns[2], columns[3], columns[7]


def _tokens(tokens_json: str, path: str, line_number: int) -> tuple[list[str], list[tuple[int, int]]]:
    try:
        record = json.loads(tokens_json)
        words = list(record["tokens"])
        offsets = [(span["start"], span["start"] + span["length"]) for span in record["tokenSpans"]]
    except (ValueError, KeyError, TypeError) as error:
        raise DataFormatError(
            path, line_number, f"bad tokens JSON ({error!r}): expected {{'tokens': [...], 'tokenSpans': [{{'start', 'length'}}, ...]}}"
        ) from None
    if len(words) != len(offsets):
        raise DataFormatError(path, line_number, f"{len(words)} tokens but {len(offsets)} tokenSpans: expected one span per token")
    return words, offsets


def _parse_slots(slots: str, path: str, line_number: int) -> list[tuple[str, int, int]]:
    spans = []
    for item in filter(None, slots.split(",")):
        start, _, rest = item.partition(":")
        end, _, label = rest.partition(":")
        if not (start.isdigit() and end.isdigit() and label.startswith("SL:")):
            raise DataFormatError(path, line_number, f"malformed slot {item!r}: expected start:end:SL:TYPE")
        spans.append((label, int(start), int(end)))
    return spans
