"""The corpus object every reader returns, the common example schema, and the building blocks readers share.

Every reader turns its native files into examples of one schema::

    {"id": str, "language": str, "words": list[str], "tags": list[str] (BIO, "O" for none), "intent": str}

and translations into rows ``{"id": <id of the ENGLISH training example>, "text": <its translation>}``.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Features, Sequence, Value
from datasets.exceptions import DatasetGenerationError

from modeling_crossaligner import bio_to_io

logger = logging.getLogger(__name__)

EXAMPLE_FEATURES = Features(
    {
        "id": Value("string"),
        "language": Value("string"),
        "words": Sequence(Value("string")),
        "tags": Sequence(Value("string")),
        "intent": Value("string"),
    }
)
TRANSLATION_FEATURES = Features({"id": Value("string"), "text": Value("string")})
SPLITS = ("train", "dev", "test")


class DataFormatError(ValueError):
    """A data file does not hold what its format promises; the message names file, line and what was expected."""

    def __init__(self, path: str | os.PathLike, line: int | None, message: str):
        self.path, self.line, self.reason = str(path), line, message
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")


@dataclass
class XNLUCorpus:
    """Labelled data per language and split, plus the translations of the English training data.

    ``labelled[lang]`` is a DatasetDict with any of the splits "train", "dev", "test" (target languages often
    have no train split). ``translations[lang]`` has one row per English training example, in the same order
    (row i translates English train row i) unless a reader documents otherwise; its ``id`` column holds the
    English example's id, so pairs can always be joined by id.
    """

    name: str
    labelled: dict[str, datasets.DatasetDict]
    translations: dict[str, datasets.Dataset] = field(default_factory=dict)
    source_language: str = "en"
    # ``{"path", "line", "reason"}`` of each malformed example skipped while reading (``skip_malformed``).
    skipped: list[dict] = field(default_factory=list)

    def skipped_counts(self) -> dict[str, int]:
        """Number of skipped malformed examples per file."""
        return dict(Counter(record["path"] for record in self.skipped))

    def intent_labels(self, train_languages: Iterable[str] = ("en",)) -> list[str]:
        """Sorted intents of the training data of ``train_languages`` (multi-label intents "a#b" stay one label)."""
        return sorted(self._train_values(train_languages, "intent"))

    def slot_labels(self, train_languages: Iterable[str] = ("en",)) -> list[str]:
        """``["O"]`` followed by the sorted IO slot types of the training data of ``train_languages``."""
        bio_tags = self._train_values(train_languages, "tags")
        return ["O"] + sorted(set(bio_to_io(sorted(bio_tags))) - {"O"})

    def train_examples(self, languages: Iterable[str] = ("en",)) -> datasets.Dataset:
        """The training splits of ``languages`` in one Dataset (training without translations)."""
        return datasets.concatenate_datasets([self.labelled[lang]["train"] for lang in languages])

    def target_languages(self) -> list[str]:
        """Languages other than the source language that have a test split, sorted."""
        return sorted(
            lang for lang, splits in self.labelled.items() if lang != self.source_language and "test" in splits
        )

    def _train_values(self, train_languages: Iterable[str], column: str) -> set[str]:
        values: set[str] = set()
        for lang in train_languages:
            if lang not in self.labelled or "train" not in self.labelled[lang]:
                with_train = sorted(name for name, parts in self.labelled.items() if "train" in parts)
                raise ValueError(
                    f"{self.name}: no training data for language {lang!r} (languages with a train split: {with_train})"
                )
            # Read the label column straight from Arrow: tens of thousands of rows in milliseconds.
            array = arrow_column(self.labelled[lang]["train"], column)
            if column == "tags":
                array = pc.list_flatten(array)
            values.update(pc.unique(array).to_pylist())
        return values


def arrow_column(dataset: datasets.Dataset, name: str) -> pa.ChunkedArray:
    """One column as Arrow, rows as the dataset shows them (after select/shuffle): fast label statistics."""
    return dataset.with_format("arrow")[name]


@functools.cache
def code_signature(function: Callable) -> str:
    """Hash of the source files behind ``function``'s output: its module, this module and the BIO helpers.

    datasets fingerprints an importable function by its name only, so without this an edited reader or
    encoder would keep serving results cached by the old code.
    """
    digest = hashlib.sha256()
    for path in sorted({inspect.getsourcefile(function), __file__, inspect.getsourcefile(bio_to_io)}):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def file_signature(paths: Iterable[str | os.PathLike]) -> str:
    """Path, size and modification time of each file: part of a dataset's cache key, so edited files are re-read."""
    parts = []
    for path in paths:
        stat = Path(path).stat()
        parts.append(f"{Path(path).resolve()}:{stat.st_size}:{stat.st_mtime_ns}")
    return "|".join(parts)


def cached_dataset(
    generator: Callable[..., Iterator[dict]],
    sources: Iterable[str | os.PathLike],
    features: Features,
    cache_dir: str | None = None,
    skipped: SkippedExamples | None = None,
    **gen_kwargs,
) -> datasets.Dataset:
    """Build a Dataset from ``generator(**gen_kwargs)`` once, then reuse it from the cache.

    The dataset is written to Arrow cache files under ``cache_dir`` (default: the datasets cache). Its cache key
    hashes the generator's source, ``gen_kwargs`` and the signature of the ``sources`` files, so a second run with
    unchanged files skips the reading, and because the result is backed by a cache file, later ``.map`` calls
    (the encoding) are cached too. ``gen_kwargs`` must not hold lists: datasets would take them for shards.

    ``skipped`` (``skip_malformed``): the generator is called with ``skipped=`` too and skips its malformed examples
    (see :func:`malformed`); they are kept beside the cache file, so that a run that loads the dataset from the
    cache reports them too, and added to ``skipped`` either way. Without it a malformed example is an error.
    """
    sources = list(sources)
    if not sources:
        raise ValueError("cached_dataset needs at least one source file")
    reading = _Reading(SkippedExamples() if skipped is not None else None)
    try:
        dataset = datasets.Dataset.from_generator(
            _generate,
            features=features,
            cache_dir=cache_dir,
            gen_kwargs={
                "generator": generator,
                "kwargs": gen_kwargs,
                "reading": reading,
                "signature": f"{file_signature(sources)}|{code_signature(generator)}",
            },
        )
    except DatasetGenerationError as error:
        # datasets wraps the reader's error in a generic one; surface the message that names file and line.
        if isinstance(error.__cause__, DataFormatError):
            raise error.__cause__ from None
        raise
    sidecar = Path(dataset.cache_files[0]["filename"] + ".skipped.json") if dataset.cache_files else None
    if reading.ran:
        records = reading.skipped.records if reading.skipped is not None else []
        if sidecar is not None:
            sidecar.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
        if skipped is not None:
            skipped.records.extend(records)
    elif skipped is not None and sidecar is not None and sidecar.is_file():
        # Loaded from the cache: the examples skipped when the reader ran were kept beside it.
        for record in json.loads(sidecar.read_text(encoding="utf-8")):
            skipped.add(DataFormatError(record["path"], record["line"], record["reason"]))
    return dataset


@dataclass
class _Reading:
    """One call of cached_dataset's generator, handed to it through datasets (which runs it in this process), so
    that what it skipped comes back, and whether it ran at all (not when the dataset came from the cache)."""

    skipped: SkippedExamples | None  # None: a malformed example is an error
    ran: bool = False


def _generate(
    generator: Callable[..., Iterator[dict]], kwargs: dict, reading: _Reading, signature: str
) -> Iterator[dict]:
    # ``signature`` is unused here on purpose: it only enters the cache key that datasets derives from gen_kwargs.
    reading.ran = True
    if reading.skipped is not None:
        kwargs = {**kwargs, "skipped": reading.skipped}
    yield from generator(**kwargs)


class SkippedExamples:
    """The malformed examples skipped while reading with ``skip_malformed``: ``{"path", "line", "reason"}`` each.

    A reader given one (its ``skipped`` argument) skips its malformed examples into it (see :func:`malformed`); a
    reader given none stops at the first with its DataFormatError.
    """

    def __init__(self) -> None:
        self.records: list[dict] = []

    def add(self, error: DataFormatError) -> None:
        """Skip the example of ``error``: logged with file, line and reason, and recorded."""
        logger.warning("skipped malformed example: %s", error)
        self.records.append({"path": error.path, "line": error.line, "reason": error.reason})


def malformed(error: DataFormatError, skipped: SkippedExamples | None) -> None:
    """Called by a reader for an example it cannot read: raises ``error``, unless the reader skips malformed
    examples into ``skipped`` (``skip_malformed``)."""
    if skipped is None:
        raise error
    skipped.add(error)


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
    translations = {}
    for lang in wanted:
        path = folders[lang] / filename
        if path.is_file():
            translations[lang] = read_line_aligned_translations(path, labelled[source_language]["train"], cache_dir)
        else:
            logger.warning("no translations for %s: %s is missing (aligned training cannot use %s)", lang, path, lang)
    return translations


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


def translations_by_id(
    candidates: datasets.Dataset, english_train: datasets.Dataset, language: str
) -> datasets.Dataset:
    """The rows of ``candidates`` (id, text) whose id is an English training id, in English training order.

    For distributions that are parallel by id (MASSIVE, MTOP without ``train.tsv``). English examples without
    a translation are reported here; pairing then joins by id.
    """
    row_of: dict[str, int] = {}
    for row, example_id in enumerate(arrow_column(candidates, "id").to_pylist()):
        row_of.setdefault(example_id, row)
    english_ids = arrow_column(english_train, "id").to_pylist()
    rows = [row_of[example_id] for example_id in english_ids if example_id in row_of]
    if len(rows) < len(english_ids):
        logger.warning(
            "%d of %d English training examples have no %s example with the same id (no translation for them)",
            len(english_ids) - len(rows),
            len(english_ids),
            language,
        )
    return candidates.select(rows)


def _read_lines(path: str) -> Iterator[dict]:
    count = 0
    for _, line in text_lines(path):
        count += 1
        yield {"text": line.strip()}
    ensure_not_empty(path, count, "translations")


def text_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """(line number, line without its line end) of a UTF-8 text file, as released files come: a byte-order mark
    is dropped, and LF or CRLF line ends are both accepted (a lone CR inside a line stays part of it)."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        for line_number, line in enumerate(handle, start=1):
            yield line_number, line.rstrip("\r\n")


def blank_line_blocks(path: str | os.PathLike) -> Iterator[tuple[int, list[str]]]:
    """(first line number, lines) of each block of a file whose blocks are separated by blank lines (the CoNLL-like
    files of MTOD and xSID)."""
    block, start = [], 0
    for line_number, line in text_lines(path):
        if line.strip():
            if not block:
                start = line_number
            block.append(line)
        elif block:
            yield start, block
            block = []
    if block:
        yield start, block


def tab_columns(line: str) -> list[str]:
    """The tab-separated columns of a line, without the empty columns a trailing tab leaves."""
    columns = line.split("\t")
    while len(columns) > 1 and columns[-1] == "":
        columns.pop()
    return columns


def language_dirs(data_dir: str | os.PathLike, languages: Iterable[str] | None) -> dict[str, Path]:
    """Language code (lower case) -> folder, for the per-language layouts; a requested folder that is missing is an
    error."""
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist")
    found = {child.name.lower(): child for child in sorted(root.iterdir()) if child.is_dir()}
    if languages is None:
        if not found:
            raise FileNotFoundError(f"{root}: no language folders found")
        return found
    missing = [lang for lang in languages if lang.lower() not in found]
    if missing:
        raise FileNotFoundError(f"{root}: no folder for language(s) {missing}; found {sorted(found)}")
    return {lang.lower(): found[lang.lower()] for lang in languages}


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"missing {what}: expected the file {path}")
    return path


def make_example(
    path: str | os.PathLike, line: int, example_id: str, language: str, words: list[str], tags: list[str], intent: str
) -> dict:
    """One example of the common schema, after the checks every format needs (non-empty, one BIO tag per word)."""
    if not words:
        raise DataFormatError(path, line, "empty utterance: expected at least one word")
    if len(words) != len(tags):
        raise DataFormatError(path, line, f"{len(words)} words but {len(tags)} tags: expected one tag per word")
    try:
        bio_to_io(tags)
    except ValueError as error:
        raise DataFormatError(path, line, str(error)) from None
    if not intent:
        raise DataFormatError(path, line, "empty intent")
    return {"id": example_id, "language": language, "words": words, "tags": tags, "intent": intent}


# ---------------------------------------------------------------------------------------------------------------
# Spans -> words and BIO tags (MTOP, MASSIVE and the project's JSON lines)
# ---------------------------------------------------------------------------------------------------------------


def outermost_spans(
    spans: Iterable[tuple[str, int, int]], text: str | bytes, path: str | os.PathLike, line: int
) -> list[tuple[str, int, int]]:
    """Check (type, start, end) spans against ``text`` (character offsets of a str; MTOP's offsets index the UTF-8
    bytes) and keep the top-level ones of nested spans.

    Spans inside another span are dropped (MTOP nests slots inside slots); spans that cross without nesting
    are malformed.
    """
    kept: list[tuple[str, int, int]] = []
    for slot_type, start, end in sorted(spans, key=lambda span: (span[1], -span[2])):
        if not slot_type or not 0 <= start < end <= len(text):
            raise DataFormatError(
                path, line, f"malformed span {start}:{end}:{slot_type}: expected 0 <= start < end <= {len(text)}"
            )
        if kept and start < kept[-1][2]:
            if end <= kept[-1][2]:
                continue
            raise DataFormatError(
                path, line, f"span {start}:{end}:{slot_type} crosses span {kept[-1][1]}:{kept[-1][2]}"
            )
        kept.append((slot_type, start, end))
    return kept


def spans_to_bio(
    word_offsets: list[tuple[int, int]], spans: list[tuple[str, int, int]], path: str | os.PathLike, line: int
) -> list[str]:
    """BIO tags of words from non-overlapping spans, both as offsets into the same text (characters; MTOP: bytes): a
    word belongs to the span it overlaps."""
    tags = ["O"] * len(word_offsets)
    for slot_type, start, end in spans:
        inside = [i for i, (w_start, w_end) in enumerate(word_offsets) if w_start < end and start < w_end]
        if not inside:
            raise DataFormatError(path, line, f"span {start}:{end}:{slot_type} covers no word")
        tags[inside[0]] = f"B-{slot_type}"
        for i in inside[1:]:
            tags[i] = f"I-{slot_type}"
    return tags


def split_words(text: str, spans: list[tuple[str, int, int]]) -> list[tuple[int, int]]:
    """Character offsets of the words of ``text``: whitespace-separated, and also cut at span boundaries.

    Cutting at span boundaries keeps slots of unspaced scripts (Chinese, Japanese, Thai) as words of their own.
    """
    cuts = {boundary for _, start, end in spans for boundary in (start, end)}
    offsets, start = [], None
    for i, char in enumerate(text + " "):
        if start is not None and (char.isspace() or i in cuts):
            offsets.append((start, i))
            start = None
        if start is None and not char.isspace():
            start = i
    return offsets


def json_lines(path: str | os.PathLike, *, skipped: SkippedExamples | None) -> Iterator[tuple[int, dict]]:
    """(line number, object) of each non-blank line of a JSON-lines file; a line that is no JSON object goes to
    :func:`malformed` (an error, or skipped into ``skipped``)."""
    for line_number, line in text_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            malformed(
                DataFormatError(path, line_number, f"not JSON ({error}): expected one JSON object per line"), skipped
            )
            continue
        if not isinstance(record, dict):
            malformed(DataFormatError(path, line_number, "expected a JSON object"), skipped)
            continue
        yield line_number, record


def requested_splits(splits: Mapping[str, Iterable[str]] | None, language: str) -> tuple[str, ...]:
    """The splits to read of ``language``: those ``splits`` names (none if it names other languages only), or all."""
    return tuple(splits.get(language, ())) if splits is not None else SPLITS


def labelled_splits(
    reader: Callable[..., Iterator[dict]],
    paths: Mapping[str, Path],
    language: str,
    cache_dir: str | None,
    skipped: SkippedExamples | None,
) -> datasets.DatasetDict:
    """The labelled examples of each split file of one language, ``reader(path=..., language=..., split=...)``,
    through the cache (:func:`cached_dataset`)."""
    return datasets.DatasetDict(
        {
            split: cached_dataset(
                reader,
                [path],
                EXAMPLE_FEATURES,
                cache_dir,
                skipped,
                path=str(path),
                language=language,
                split=split,
            )  # fmt: skip
            for split, path in paths.items()
        }
    )


def parsed_examples(
    path: str | os.PathLike,
    records: Iterable[tuple[int, object]],
    parse: Callable[[int, object, int], dict],
    *,
    skipped: SkippedExamples | None,
    missing: str | None = None,
) -> Iterator[dict]:
    """The examples ``parse(line number, record, index)`` makes of a file's (line number, record) pairs, in order. A
    malformed one (DataFormatError) goes to :func:`malformed`: an error, or skipped into ``skipped``.
    ``index`` counts every record, skipped ones included, so that default ids never depend on what was skipped. No
    record at all is an error (``missing``: its message; default: an empty file)."""
    count = 0
    for count, (line_number, record) in enumerate(records, start=1):
        try:
            yield parse(line_number, record, count - 1)
        except DataFormatError as error:
            malformed(error, skipped)
    if count == 0 and missing is not None:
        raise DataFormatError(path, None, missing)
    ensure_not_empty(path, count)


def ensure_not_empty(path: str | os.PathLike, count: int, what: str = "examples") -> None:
    """An empty file is a mistake (wrong path, truncated download), never a valid split."""
    if count == 0:
        raise DataFormatError(path, None, f"empty file: expected at least one line of {what}")
