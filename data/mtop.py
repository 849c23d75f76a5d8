"""MTOP (Li et al. 2021): per language ``train.txt``, ``eval.txt`` (the dev split), ``test.txt``.

Tab-separated, no header, 8 columns: id, intent, slots, utterance, domain, locale, decoupled form, JSON with
``tokens`` and ``tokenSpans`` (``start``, ``length``); some distributions omit the id (7 columns; ids then
become ``<lang>-<split>-<index>``). Slots are ``start:end:SL:TYPE`` character spans over the utterance,
comma-separated, possibly empty; nested slots keep only the outermost ones. Words are the JSON tokens and each
word takes the slot whose span it overlaps. Slot types and intents keep MTOP's names (``SL:DATE_TIME``,
``IN:GET_WEATHER``).

Translations: ``<lang>/train.tsv`` (line-aligned with English train) when present, otherwise the utterances of the
target language's training file that share an id with an English training example (MTOP is parallel by id; only
the id and utterance columns of that file are read, never its labels).

A UTF-8 byte-order mark, CRLF line ends and a trailing tab are accepted; the domain, locale and decoupled-form
columns and any field of the tokens JSON besides ``tokens`` and ``tokenSpans`` are not used and never checked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from .corpus import (
    TRANSLATION_FEATURES,
    DataFormatError,
    XNLUCorpus,
    cached_dataset,
    folder_translations,
    labelled_splits,
    language_dirs,
    make_example,
    outermost_spans,
    parsed_examples,
    requested_splits,
    require_file,
    spans_to_bio,
    tab_columns,
    text_lines,
    translation_targets,
    translations_by_id,
)

SPLIT_FILES = {"train": "train.txt", "dev": "eval.txt", "test": "test.txt"}
TRANSLATION_FILE = "train.tsv"


def load_mtop(
    data_dir: str | Path,
    languages: list[str] | None = None,
    cache_dir: str | None = None,
    splits: Mapping[str, Iterable[str]] | None = None,
    translation_languages: Iterable[str] | None = None,
    skip_malformed: bool = False,
) -> XNLUCorpus:
    folders = language_dirs(data_dir, languages)
    labelled = {}
    for lang, folder in folders.items():
        paths = {
            split: require_file(folder / SPLIT_FILES[split], f"MTOP {split} split of {lang!r}")
            for split in requested_splits(splits, lang)
        }
        labelled[lang] = labelled_splits(read_mtop, paths, lang, cache_dir, skip_malformed)
    wanted = translation_targets(folders, "en", translation_languages)
    # Line-aligned files where the distribution has them; the others fall back to pairing by id.
    translations = folder_translations(
        {lang: folder for lang, folder in folders.items() if (folder / TRANSLATION_FILE).is_file()},
        labelled,
        TRANSLATION_FILE,
        cache_dir=cache_dir,
        languages=[lang for lang in wanted if (folders[lang] / TRANSLATION_FILE).is_file()],
    )
    if "en" in labelled and "train" in labelled["en"]:
        for lang in [lang for lang in wanted if lang not in translations]:
            # Only the utterances (never the labels) of the target language's TRAINING file: MTOP's splits are
            # parallel by id, so no English training example has its translation among the test utterances.
            path = require_file(folders[lang] / SPLIT_FILES["train"], f"MTOP train split of {lang!r}")
            candidates = cached_dataset(
                read_mtop_utterances, [path], TRANSLATION_FEATURES, cache_dir, path=str(path), language=lang
            )
            translations[lang] = translations_by_id(candidates, labelled["en"]["train"], lang)
    return XNLUCorpus("mtop", labelled, translations)


def read_mtop(path: str, language: str, split: str) -> Iterator[dict]:
    """Examples of one MTOP split file, in file order. Ids of 7-column files number the lines with an example,
    skipped malformed ones included."""
    yield from parsed_examples(
        path,
        _lines(path),
        lambda line, text, index: _example(path, line, text, f"{language}-{split}-{index}", language),
    )


def _example(path: str, line_number: int, line: str, default_id: str, language: str) -> dict:
    example_id, intent, slots, utterance, tokens_json = _fields(_columns(path, line_number, line), default_id)
    words, offsets = _tokens(tokens_json, path, line_number)
    spans = outermost_spans(_parse_slots(slots, path, line_number), utterance, path, line_number)
    tags = spans_to_bio(offsets, spans, path, line_number)
    return make_example(path, line_number, example_id, language, words, tags, intent)


def read_mtop_utterances(path: str, language: str) -> Iterator[dict]:
    """(id, utterance) of every example of a language's training file: the candidates for pairing with English by
    id. Only the id and utterance columns are read, so a line with malformed labels still gives its utterance."""

    def utterance(line_number: int, line: str, index: int) -> dict:
        example_id, _, _, text, _ = _fields(_columns(path, line_number, line), f"{language}-train-{index}")
        return {"id": example_id, "text": text}

    yield from parsed_examples(path, _lines(path), utterance)


def _lines(path: str) -> Iterator[tuple[int, str]]:
    return ((line_number, line) for line_number, line in text_lines(path) if line.strip())


def _columns(path: str, line_number: int, line: str) -> list[str]:
    columns = tab_columns(line)
    if len(columns) not in (7, 8):
        raise DataFormatError(
            path,
            line_number,
            f"{len(columns)} columns: expected 8 tab-separated (id, intent, slots, utterance, domain, "
            "locale, decoupled form, tokens JSON) or 7 without the id",
        )
    return columns


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
            path,
            line_number,
            f"bad tokens JSON ({error!r}): expected {{'tokens': [...], 'tokenSpans': [{{'start', 'length'}}, ...]}}",
        ) from None
    if len(words) != len(offsets):
        raise DataFormatError(
            path, line_number, f"{len(words)} tokens but {len(offsets)} tokenSpans: expected one span per token"
        )
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
