"""The project's own JSON-lines format, for users' data (specified in FORMATS.md).

    <data_dir>/<lang>/train.jsonl, dev.jsonl, test.jsonl   labelled examples, any split may be absent
    <data_dir>/<lang>/translations.jsonl                   {"id": <English train id>, "text": <translation>}

A labelled line is either ``{"words": [...], "tags": [BIO per word], "intent": ...}`` or
``{"text": "...", "spans": [{"start": s, "end": e, "type": t}, ...], "intent": ...}`` (character offsets, end
exclusive; nested spans keep the outermost); ``tags``/``spans`` may be omitted for an utterance without slots,
and ``id`` is optional (default ``<lang>-<split>-<index>``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import datasets

from .cache import cached_dataset, labelled_splits
from .corpus import SPLITS, TRANSLATION_FEATURES, DataFormatError, XNLUCorpus, make_example
from .reading import (
    SkippedExamples,
    ensure_not_empty,
    json_lines,
    language_dirs,
    malformed,
    parsed_examples,
    require_file,
)
from .spans import outermost_spans, spans_to_bio, split_words
from .translations import translation_files, translation_targets, translations_by_id

TRANSLATION_FILE = "translations.jsonl"


def load_jsonl(
    data_dir: str | Path,
    languages: list[str] | None = None,
    cache_dir: str | None = None,
    splits: Mapping[str, Iterable[str]] | None = None,
    translation_languages: Iterable[str] | None = None,
    skipped: SkippedExamples | None = None,
) -> XNLUCorpus:
    folders = language_dirs(data_dir, languages)
    labelled = {}
    for lang, folder in folders.items():
        if splits is not None:
            paths = {
                split: require_file(folder / f"{split}.jsonl", f"{split} split of {lang!r}")
                for split in splits.get(lang, ())
            }
        else:
            paths = {split: folder / f"{split}.jsonl" for split in SPLITS if (folder / f"{split}.jsonl").is_file()}
            if not paths:
                raise FileNotFoundError(
                    f"{folder}: no labelled data: expected train.jsonl, dev.jsonl and/or test.jsonl"
                )
        labelled[lang] = labelled_splits(read_labelled, paths, lang, cache_dir, skipped)
    translations = {}
    if "en" in labelled and "train" in labelled["en"]:
        targets = translation_targets(folders, "en", translation_languages)
        paths = {lang: folders[lang] / TRANSLATION_FILE for lang in targets}
        translations = jsonl_translations(paths, labelled["en"]["train"], cache_dir, skipped)
    return XNLUCorpus("jsonl", labelled, translations)


def jsonl_translations(
    paths: Mapping[str, Path],
    english_train: datasets.Dataset,
    cache_dir: str | None,
    skipped: SkippedExamples | None,
) -> dict[str, datasets.Dataset]:
    """Language -> its translations of ``english_train``, from files of ``{"id", "text"}`` lines (this format's and
    xSID's): the rows whose id is an English training id, in English order. A missing file is logged."""

    def read(lang: str, path: Path) -> datasets.Dataset:
        candidates = cached_dataset(read_translations, [path], TRANSLATION_FEATURES, cache_dir, skipped, path=str(path))
        return translations_by_id(candidates, english_train, lang)

    return translation_files(paths, read)


def read_labelled(path: str, language: str, split: str, skipped: SkippedExamples | None = None) -> Iterator[dict]:
    """Labelled examples of one file. Default ids number the lines with an example, skipped malformed ones
    included."""
    yield from parsed_examples(
        path,
        json_lines(path, skipped=skipped),
        lambda line, record, index: _example(path, line, record, f"{language}-{split}-{index}", language),
        skipped=skipped,
    )


def read_utterances(path: str | Path, language: str = "en", split: str = "train") -> Iterator[tuple[str, str]]:
    """(id, utterance) of each labelled example of a file, for translating it: the line's ``text``, or its ``words``
    joined by spaces. The ids are those :func:`read_labelled` gives, which translation lines refer to; a malformed
    example is an error, as it is when the file is read for training."""

    def parse(line_number: int, record: dict, index: int) -> tuple[str, str]:
        example = _example(str(path), line_number, record, f"{language}-{split}-{index}", language)
        return example["id"], record["text"] if "text" in record else " ".join(example["words"])

    yield from parsed_examples(path, json_lines(path, skipped=None), parse, skipped=None)


def _example(path: str, line_number: int, record: dict, default_id: str, language: str) -> dict:
    if "words" in record and "text" in record:
        raise DataFormatError(path, line_number, "both 'words' and 'text': expected one of them")
    if "words" in record:
        if "spans" in record:
            raise DataFormatError(path, line_number, "'spans' go with 'text': with 'words' give BIO 'tags'")
        words = _strings(record, "words", path, line_number)
        tags = _strings(record, "tags", path, line_number) if "tags" in record else ["O"] * len(words)
    elif "text" in record:
        if "tags" in record:
            raise DataFormatError(path, line_number, "'tags' go with 'words': with 'text' give character 'spans'")
        text = record["text"]
        if not isinstance(text, str):
            raise DataFormatError(path, line_number, "'text' must be a string")
        spans = outermost_spans(_spans(record.get("spans", []), path, line_number), text, path, line_number)
        offsets = split_words(text, spans)
        words = [text[start:end] for start, end in offsets]
        tags = spans_to_bio(offsets, spans, path, line_number)
    else:
        raise DataFormatError(
            path, line_number, "no utterance: expected 'words' (with 'tags') or 'text' (with 'spans')"
        )
    example_id = str(record.get("id", default_id))
    return make_example(path, line_number, example_id, language, words, tags, str(record.get("intent", "")))


def read_translations(path: str, skipped: SkippedExamples | None = None) -> Iterator[dict]:
    count = 0
    for line_number, record in json_lines(path, skipped=skipped):
        count += 1
        if not isinstance(record.get("id"), (str, int)) or not isinstance(record.get("text"), str):
            malformed(
                DataFormatError(path, line_number, 'expected {"id": <English training id>, "text": <translation>}'),
                skipped,
            )
            continue
        yield {"id": str(record["id"]), "text": record["text"]}
    ensure_not_empty(path, count, "translations")


def _strings(record: dict, key: str, path: str, line_number: int) -> list[str]:
    value = record[key]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise DataFormatError(path, line_number, f"'{key}' must be a list of strings")
    return value


def _spans(spans, path: str, line_number: int) -> list[tuple[str, int, int]]:
    try:
        return [(str(span["type"]), int(span["start"]), int(span["end"])) for span in spans]
    except (KeyError, TypeError, ValueError):
        raise DataFormatError(
            path, line_number, 'malformed \'spans\': expected a list of {"start": int, "end": int, "type": str}'
        ) from None
