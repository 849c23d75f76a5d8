"""MASSIVE as the Hugging Face Hub exports it (``AmazonScience/massive``): a ``datasets`` DatasetDict with the splits
``train``, ``validation`` (read as dev) and ``test``, every locale in one table with a ``locale`` column.

``data_dir`` holds, found by its contents (the first kind present is read):

- a folder written by ``DatasetDict.save_to_disk`` (``dataset_dict.json``), or subfolders that each hold one (one
  per configuration saved, e.g. one per locale);
- the export's parquet files, anywhere below ``data_dir``, the split named by the file or its folder:
  ``<config>/<split>/0000.parquet`` (the Hub's conversion), ``<split>-00000-of-00001.parquet`` (``push_to_hub``),
  ``massive-<split>.parquet``;
- the export's JSON-lines files named the same way (``validation.jsonl``, as ``Dataset.to_json`` writes them).

Columns: ``id, locale, partition, scenario, intent, utt, annot_utt, worker_id, slot_method, judgments``; the reader
uses ``id``, ``locale``, ``intent``, ``utt`` and ``annot_utt`` (parsed as in the raw release) and never checks the
others. ``intent`` and ``scenario`` are ``ClassLabel`` integers: an intent is mapped to its name through the
features, which save_to_disk folders and the parquet files (their schema metadata) carry. JSON lines carry none:
their integer intents need the ``dataset_info.json`` the export wrote (beside the files or in ``data_dir``), while
intents written as names are taken as they are.

Only the rows of the requested locales and splits are converted; a requested locale and split without rows is an
error naming the export and the split. `load_massive` and `massive_languages` read a folder of either kind: the
export if it holds one, else the raw release (massive.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import datasets
import pyarrow.compute as pc
import pyarrow.parquet as pq
from datasets import ClassLabel, Features

from .cache import cached_dataset
from .corpus import EXAMPLE_FEATURES, TRANSLATION_FEATURES, DataFormatError, XNLUCorpus
from .massive import (
    ALIGNED_NEEDS_TRAIN,
    load_massive_release,
    massive_example,
    massive_utterance,
    release_languages,
    requested_locales,
)
from .reading import SkippedExamples, json_lines, parsed_examples, requested_splits
from .translations import translation_targets, translations_by_id

EXPORT_SPLITS = {"train": "train", "validation": "dev", "test": "test"}  # the export's split -> the split read
COLUMNS = ("id", "locale", "intent", "utt", "annot_utt")  # what the reader uses


@dataclass(frozen=True)
class ExportPart:
    """One file (or save_to_disk split folder) of the export and the split it holds."""

    split: str  # train, dev or test
    path: Path
    kind: str  # "disk" (a save_to_disk split folder), "parquet" or "jsonl"
    info: Path | None = None  # JSON lines: the dataset_info.json with the features, if the export wrote one


def export_parts(root: Path) -> list[ExportPart]:
    """The parts of the Hub export under ``root``, or none when ``root`` holds no export (the raw release)."""
    if not root.is_dir():
        return []
    folders = sorted(path.parent for path in root.glob("*/dataset_dict.json"))
    if (root / "dataset_dict.json").is_file():
        folders = [root]
    if folders:
        return [part for folder in folders for part in _saved_splits(folder)]
    for kind in ("parquet", "jsonl"):
        named = {path: _split_of(path, root) for path in sorted(root.rglob(f"*.{kind}"))}
        if not any(named.values()):
            continue  # none, or <locale>.jsonl files: the raw release
        unnamed = [path for path, split in named.items() if split is None]
        if unnamed:
            raise DataFormatError(
                unnamed[0],
                None,
                f"cannot tell which split of the MASSIVE export this file holds: expected one of "
                f"{list(EXPORT_SPLITS)} in its name or its folder's name",
            )
        return [
            ExportPart(EXPORT_SPLITS[split], path, kind, _info_file(path, root) if kind == "jsonl" else None)
            for path, split in named.items()
        ]
    return []


def _saved_splits(folder: Path) -> list[ExportPart]:
    path = folder / "dataset_dict.json"
    names = json.loads(path.read_text(encoding="utf-8")).get("splits", [])
    unknown = [name for name in names if name not in EXPORT_SPLITS]
    if unknown or not names:
        raise DataFormatError(path, None, f"splits {names}: expected MASSIVE's {list(EXPORT_SPLITS)}")
    return [ExportPart(EXPORT_SPLITS[name], folder / name, "disk") for name in names]


def _split_of(path: Path, root: Path) -> str | None:
    """The export split a file holds, from its name's words (``train-00000-of-00001``) or its folder's name."""
    names = set(re.split(r"[-_.]", path.stem))
    if path.parent != root:
        names.add(path.parent.name)
    found = sorted(names & set(EXPORT_SPLITS))
    return found[0] if len(found) == 1 else None


def _info_file(path: Path, root: Path) -> Path | None:
    """The dataset_info.json beside a JSON-lines file, or in the data folder."""
    candidates = (path.parent / "dataset_info.json", root / "dataset_info.json")
    return next((info for info in candidates if info.is_file()), None)


def load_massive(
    data_dir: str | Path,
    languages: list[str] | None = None,
    cache_dir: str | None = None,
    splits: Mapping[str, Iterable[str]] | None = None,
    translation_languages: Iterable[str] | None = None,
    skipped: SkippedExamples | None = None,
) -> XNLUCorpus:
    """MASSIVE from ``data_dir``: its Hub export when it holds one, else the raw release."""
    parts = export_parts(Path(data_dir))
    if parts:
        return load_massive_export(Path(data_dir), parts, languages, cache_dir, splits, translation_languages, skipped)
    return load_massive_release(data_dir, languages, cache_dir, splits, translation_languages, skipped)


def massive_languages(data_dir: str | Path) -> list[str]:
    """The language codes of a MASSIVE folder: of the locales in its Hub export, or of its locale files."""
    parts = export_parts(Path(data_dir))
    if parts:
        return list(requested_locales(export_locales(parts), None, data_dir))
    return release_languages(data_dir)


def export_locales(parts: Iterable[ExportPart]) -> list[str]:
    """Every locale of the export (only its ``locale`` column is read)."""
    locales: set[str] = set()
    for part in parts:
        if part.kind == "jsonl":
            for line_number, record in json_lines(part.path, skipped=None):
                if not isinstance(record.get("locale"), str):
                    raise DataFormatError(part.path, line_number, "no 'locale': expected every row to name its locale")
                locales.add(record["locale"])
        else:
            found = pc.unique(_table(part, ["locale"])["locale"]).to_pylist()
            if None in found:
                raise DataFormatError(part.path, None, "rows without a locale: expected every row to name its locale")
            locales.update(found)
    return sorted(locales)


def load_massive_export(
    root: Path,
    parts: list[ExportPart],
    languages: list[str] | None,
    cache_dir: str | None,
    splits: Mapping[str, Iterable[str]] | None,
    translation_languages: Iterable[str] | None,
    skipped: SkippedExamples | None,
) -> XNLUCorpus:
    locales = requested_locales(export_locales(parts), languages, root)
    labelled = {}
    for lang, locale in locales.items():
        labelled[lang] = datasets.DatasetDict(
            {
                split: cached_dataset(
                    read_export_split,
                    _sources(parts, split),
                    EXAMPLE_FEATURES,
                    cache_dir,
                    skipped,
                    root=str(root),
                    split=split,
                    locale=locale,
                    language=lang,
                )
                for split in requested_splits(splits, lang)
            }
        )
    translations = {}
    if "en" in labelled and "train" in labelled["en"]:
        for lang in translation_targets(locales, "en", translation_languages):
            candidates = cached_dataset(
                read_export_utterances,
                _sources(parts, "train"),
                TRANSLATION_FEATURES,
                cache_dir,
                skipped,
                root=str(root),
                locale=locales[lang],
            )
            translations[lang] = translations_by_id(candidates, labelled["en"]["train"], lang)
    return XNLUCorpus("massive", labelled, translations)


def read_export_split(
    root: str, split: str, locale: str, language: str, skipped: SkippedExamples | None = None
) -> Iterator[dict]:
    """Examples of one locale in one split of the export, in the export's order."""
    yield from parsed_examples(
        root,
        _rows(Path(root), split, locale, skipped),
        lambda _, row, __: row.convert(massive_example, language),
        skipped=skipped,
        missing=f"no rows of locale {locale!r} in the export's {_export_name(split)!r} split: the run reads its "
        f"{split} split",
    )


def read_export_utterances(root: str, locale: str, skipped: SkippedExamples | None = None) -> Iterator[dict]:
    """(id, utt) of one locale's train rows: the candidates for pairing with English training examples by id."""
    yield from parsed_examples(
        root,
        _rows(Path(root), "train", locale, skipped),
        lambda _, row, __: row.convert(massive_utterance),
        skipped=skipped,
        missing=f"no rows of locale {locale!r} in the export's 'train' split: {ALIGNED_NEEDS_TRAIN}",
    )


@dataclass(frozen=True)
class _Row:
    """One row of the export: where it is (a line of JSON lines, a row number from 0 of a table) and its values."""

    part: ExportPart
    position: int
    record: dict
    intent_names: list[str] | None  # the intent ClassLabel's names, None when the part carries no features

    def convert(self, convert: Callable[..., dict], *args) -> dict:
        """``convert(path, line, record, *args)`` with the intent as a name; errors name the line or the row."""
        path = str(self.part.path)
        line = self.position if self.part.kind == "jsonl" else None
        try:
            return convert(path, line, self._named_intent(path, line), *args)
        except DataFormatError as error:
            if line is not None:
                raise
            where = f"row {self.position} (id {self.record.get('id')!r})"
            raise DataFormatError(path, None, f"{where}: {error.reason}") from None

    def _named_intent(self, path: str, line: int | None) -> dict:
        intent = self.record.get("intent")
        if not isinstance(intent, int) or isinstance(intent, bool):
            return self.record  # a name already (or not a label: reported by the conversion)
        if not 0 <= intent < len(self.intent_names):
            raise DataFormatError(path, line, f"intent {intent}: expected a label index below {len(self.intent_names)}")
        return {**self.record, "intent": self.intent_names[intent]}


def _rows(root: Path, split: str, locale: str, skipped: SkippedExamples | None) -> Iterator[tuple[int, _Row]]:
    """(position, row) of the rows of ``locale`` in ``split``, part after part."""
    for part in export_parts(root):
        if part.split != split:
            continue
        names = _intent_names(part)
        if part.kind == "jsonl":
            lines = json_lines(part.path, skipped=skipped)
            records = ((number, record) for number, record in lines if record.get("locale") == locale)
        else:
            table = _table(part, list(COLUMNS))
            rows = pc.indices_nonzero(pc.equal(table["locale"], locale)).to_pylist()
            records = zip(rows, table.take(rows).to_pylist()) if rows else ()
        for position, record in records:
            if names is None and isinstance(record.get("intent"), int):  # the file's problem: never skipped
                line, where = (position, "") if part.kind == "jsonl" else (None, f"row {position}: ")
                raise DataFormatError(
                    part.path,
                    line,
                    f"{where}integer intent {record['intent']} without label names: expected the export's features "
                    "(a dataset_info.json beside JSON-lines files or in the data folder), or intents written as names",
                )
            yield position, _Row(part, position, record, names)


def _intent_names(part: ExportPart) -> list[str] | None:
    """The names of the intent ClassLabel in the features a part carries (a save_to_disk folder's, a parquet
    schema's, a JSON-lines file's dataset_info.json's); None without such features."""
    if part.kind == "disk":
        features = datasets.load_from_disk(str(part.path)).features
    elif part.kind == "parquet":
        features = Features.from_arrow_schema(pq.read_schema(part.path))
    else:
        features = datasets.DatasetInfo.from_directory(str(part.info.parent)).features if part.info else None
    intent = (features or {}).get("intent")
    return intent.names if isinstance(intent, ClassLabel) else None


def _table(part: ExportPart, columns: list[str]):
    """The Arrow table of ``columns`` of a save_to_disk split folder or a parquet file."""
    if part.kind == "disk":
        table = datasets.load_from_disk(str(part.path)).data.table
    else:
        table = pq.read_table(part.path, columns=[name for name in columns if name in pq.read_schema(part.path).names])
    missing = [name for name in columns if name not in table.column_names]
    if missing:
        raise DataFormatError(part.path, None, f"no column(s) {missing}: expected MASSIVE's columns {list(COLUMNS)}")
    return table.select(columns)


def _sources(parts: list[ExportPart], split: str) -> list[Path]:
    """The files behind one split (for the cache key); with none, every part's (the reader reports the split)."""
    chosen = [part for part in parts if part.split == split] or parts
    files = set()
    for part in chosen:
        files.update(sorted(part.path.iterdir()) if part.kind == "disk" else [part.path])
        if part.info:
            files.add(part.info)
    return sorted(files)


def _export_name(split: str) -> str:
    return next(name for name, ours in EXPORT_SPLITS.items() if ours == split)
