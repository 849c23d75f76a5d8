"""MTOD (Schuster et al. 2019) as released with CrossAligner: conllu-like blocks, one folder per language.

Layout (see FORMATS.md): ``<lang>/{train,dev,test}-<lang>.conllu`` and ``<lang>/train.tsv`` (line i translates
English training example i). A block is::

    # text: <utterance>
    # intent: <intent>
    # slots: <start>:<end>:<type>,...
    1<TAB>token<TAB>intent<TAB>BIO tag or NoLabel
    ...
    <blank line>

The token rows are authoritative for words and tags (``# slots`` repeats them as character spans). The files
have no ids: examples get ``<lang>-<split>-<index>``. Duplicate utterances are real examples and are kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from datasets import DatasetDict

from .corpus import (
    EXAMPLE_FEATURES,
    SPLITS,
    DataFormatError,
    XNLUCorpus,
    cached_dataset,
    ensure_not_empty,
    folder_translations,
    language_dirs,
    make_example,
    require_file,
)

NO_LABEL = "NoLabel"  # MTOD's spelling of the O tag


def load_mtod(
    data_dir: str | Path, languages: list[str] | None = None, cache_dir: str | None = None
) -> XNLUCorpus:
    folders = language_dirs(data_dir, languages)
    labelled = {}
    for lang, folder in folders.items():
        splits = {}
        for split in SPLITS:
            path = require_file(folder / f"{split}-{lang}.conllu", f"MTOD {split} split of {lang!r}")
            splits[split] = cached_dataset(
                read_conllu, [path], EXAMPLE_FEATURES, cache_dir, path=str(path), language=lang, split=split
            )
        labelled[lang] = DatasetDict(splits)
    return XNLUCorpus("mtod", labelled, folder_translations(folders, labelled, "train.tsv", cache_dir=cache_dir))


def read_conllu(path: str, language: str, split: str) -> Iterator[dict]:
    """Examples of one MTOD file, in file order."""
    count = 0
    for start_line, block in _blocks(path):
        intent, words, tags = None, [], []
        for line_number, line in enumerate(block, start=start_line):
            if line.startswith("#"):
                key, _, value = line[1:].partition(":")
                if key.strip() == "intent":
                    intent = value.strip()
                continue
            columns = line.split("\t")
            if len(columns) != 4:
                raise DataFormatError(
                    path, line_number, f"{len(columns)} columns: expected index, token, intent and tag (4, tab-separated)"
                )
            words.append(columns[1])
            tags.append("O" if columns[3] == NO_LABEL else columns[3])
        if intent is None:
            raise DataFormatError(path, start_line, "block without a '# intent:' line")
        yield make_example(path, start_line, f"{language}-{split}-{count}", language, words, tags, intent)
        count += 1
    ensure_not_empty(path, count)


def _blocks(path: str) -> Iterator[tuple[int, list[str]]]:
    """(first line number, lines) of each blank-line-separated block."""
    block, start = [], 0
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            line = line.rstrip("\n")
            if line.strip():
                if not block:
                    start = line_number
                block.append(line)
            elif block:
                yield start, block
                block = []
    if block:
        yield start, block
