"""The corpus object every reader returns, the common example schema, and the error a malformed file raises.

Every reader turns its native files into examples of one schema::

    {"id": str, "language": str, "words": list[str], "tags": list[str] (BIO, "O" for none), "intent": str}

and translations into rows ``{"id": <id of the ENGLISH training example>, "text": <its translation>}``. The building
blocks readers share are ``reading.py`` (lines, records, malformed examples), ``spans.py`` (spans to words and BIO
tags), ``cache.py`` (the parsed datasets' on-disk cache) and ``translations.py`` (translations and their English
rows).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import datasets
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Features, Sequence, Value

from modeling_crossaligner import bio_to_io

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
