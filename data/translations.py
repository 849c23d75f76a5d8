"""The translations of the English training data: line-aligned files, files joined to the English rows by id, and
which languages' translations a run reads."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import datasets
from datasets import Features, Value

from .cache import cached_dataset
from .corpus import DataFormatError, arrow_column
from .reading import ensure_not_empty, text_lines

logger = logging.getLogger(__name__)


def translation_targets(
    loaded: Iterable[str], source_language: str = "en", languages: Iterable[str] | None = None
) -> list[str]:
    """The loaded languages whose translations of the source training data are wanted: all but the source language,
    or those of ``languages`` (which must be loaded)."""
    loaded = [lang for lang in loaded if lang != source_language]
    if languages is None:
        return loaded
    languages = [lang.lower() for lang in languages]
    missing = sorted(set(languages) - set(loaded))
    if missing:
        raise ValueError(f"translations requested for {missing}, which are not loaded (loaded: {sorted(loaded)})")
    return [lang for lang in loaded if lang in languages]


def folder_translations(
    folders: dict[str, Path],
    labelled: dict[str, datasets.DatasetDict],
    filename: str,
    source_language: str = "en",
    cache_dir: str | None = None,
    languages: Iterable[str] | None = None,
) -> dict[str, datasets.Dataset]:
    """Line-aligned translation files ``<language folder>/<filename>`` of the loaded target languages (of
    ``languages`` among them, when given).

    The source language's own file (MTOD ships the English utterances as ``en/train.tsv``) is not a translation.
    Translations need the English training set to align with, so none are read when it is not loaded.
    """
    wanted = translation_targets(folders, source_language, languages)
    if not wanted:
        return {}
    if source_language not in labelled or "train" not in labelled[source_language]:
        logger.info("no %s training data loaded: translations are not read", source_language)
        return {}
    english_train = labelled[source_language]["train"]
    return translation_files(
        {lang: folders[lang] / filename for lang in wanted},
        lambda lang, path: read_line_aligned_translations(path, english_train, cache_dir),
    )


def translation_files(
    paths: Mapping[str, Path], read: Callable[[str, Path], datasets.Dataset]
) -> dict[str, datasets.Dataset]:
    """Language -> ``read(language, path)`` of its translation file; a language whose file is missing is logged and
    left out."""
    translations = {}
    for lang, path in paths.items():
        if path.is_file():
            translations[lang] = read(lang, path)
        else:
            logger.warning("no translations for %s: %s is missing (aligned training cannot use %s)", lang, path, lang)
    return translations


def read_line_aligned_translations(
    path: str | os.PathLike, english_train: datasets.Dataset, cache_dir: str | None = None
) -> datasets.Dataset:
    """A translation file with one line per English training example (line i translates row i), no header.

    The rows get the English examples' ids (column ``id``), so that pairs can also be joined by id later.
    """
    lines = cached_dataset(_read_lines, [path], Features({"text": Value("string")}), cache_dir, path=str(path))
    if len(lines) != len(english_train):
        raise DataFormatError(
            path,
            None,
            f"{len(lines)} translation lines, expected one per English training example ({len(english_train)})",
        )
    return datasets.concatenate_datasets([english_train.select_columns(["id"]), lines], axis=1)


def _read_lines(path: str) -> Iterator[dict]:
    count = 0
    for _, line in text_lines(path):
        count += 1
        yield {"text": line.strip()}
    ensure_not_empty(path, count, "translations")


def translations_by_id(
    candidates: datasets.Dataset, english_train: datasets.Dataset, language: str
) -> datasets.Dataset:
    """The rows of ``candidates`` (id, text) whose id is an English training id, in English training order.

    For distributions that are parallel by id (MASSIVE, MTOP without ``train.tsv``). English examples without
    a translation are reported here; pairing then joins by id.
    """
    english_ids = arrow_column(english_train, "id").to_pylist()
    english_rows, rows = join_by_id(english_ids, arrow_column(candidates, "id").to_pylist())
    if len(english_rows) < len(english_ids):
        logger.warning(
            "%d of %d English training examples have no %s example with the same id (no translation for them)",
            len(english_ids) - len(english_rows),
            len(english_ids),
            language,
        )
    return candidates.select(rows)


def join_by_id(english_ids: list[str], translation_ids: list[str]) -> tuple[list[int], list[int]]:
    """(English rows, translation rows) of the English examples that have a translation with their id, in English
    order; of several translations with one id, the first."""
    translation_row: dict[str, int] = {}
    for row, example_id in enumerate(translation_ids):
        translation_row.setdefault(example_id, row)
    english_rows = [row for row, example_id in enumerate(english_ids) if example_id in translation_row]
    return english_rows, [translation_row[english_ids[row]] for row in english_rows]
