"""MultiATIS++ (Xu et al. 2020) in the layout of the CrossAligner release.

One folder per language with ``train.txt``, ``dev.txt``, ``test.txt``: tab-separated, header row
``id	utterance	slot_labels	intent``, utterance tokens and BIO tags separated by single ASCII spaces (one tag per
token), multi-label intents joined with ``#`` (kept as one intent string). ``train.tsv`` (no header) holds one
translation per English training example, line i translating example i.

The real files are split exactly as the format says: on ``' '`` only, because some tokens contain a non-breaking
space (the Spanish and French ``D.`` + U+00A0 + ``C.`` is one token with one tag). A UTF-8 byte-order mark, CRLF
line ends and a trailing tab are accepted; an empty token or tag (two spaces in a row) is a malformed example.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from .cache import labelled_splits
from .corpus import DataFormatError, XNLUCorpus, make_example
from .reading import (
    SkippedExamples,
    language_dirs,
    parsed_examples,
    requested_splits,
    require_file,
    tab_columns,
    text_lines,
)
from .translations import folder_translations

HEADER = ["id", "utterance", "slot_labels", "intent"]


def load_multiatis(
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
        paths = {
            split: require_file(folder / f"{split}.txt", f"MultiATIS++ {split} split of {lang!r}")
            for split in requested_splits(splits, lang)
        }
        labelled[lang] = labelled_splits(read_tsv, paths, lang, cache_dir, skipped)
    translations = folder_translations(
        folders, labelled, "train.tsv", cache_dir=cache_dir, languages=translation_languages
    )
    return XNLUCorpus("m_atis", labelled, translations)


def read_tsv(
    path: str, language: str, split: str | None = None, skipped: SkippedExamples | None = None
) -> Iterator[dict]:
    """Examples of one MultiATIS++ split file, in file order (the ids are the file's; `split` names it)."""
    yield from parsed_examples(
        path, _rows(path), lambda line, columns, _: _example(path, line, columns, language), skipped=skipped
    )


def _rows(path: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, columns) of each non-blank line after the header, which is checked."""
    for line_number, line in text_lines(path):
        columns = tab_columns(line)
        if line_number == 1:
            if columns != HEADER:
                raise DataFormatError(path, 1, f"header {columns}: expected {HEADER} (tab-separated)")
        elif line.strip():
            yield line_number, columns


def _example(path: str, line_number: int, columns: list[str], language: str) -> dict:
    if len(columns) != len(HEADER):
        raise DataFormatError(
            path, line_number, f"{len(columns)} columns: expected {len(HEADER)} ({', '.join(HEADER)})"
        )
    example_id, utterance, tags, intent = columns
    words, tags = _tokens(utterance, "token", path, line_number), _tokens(tags, "tag", path, line_number)
    return make_example(path, line_number, example_id, language, words, tags, intent.strip())


def _tokens(column: str, what: str, path: str, line_number: int) -> list[str]:
    """Split on single ASCII spaces only: a token may hold a non-breaking space."""
    column = column.strip(" ")
    if not column:
        return []  # make_example reports the empty utterance
    tokens = column.split(" ")
    if "" in tokens:
        raise DataFormatError(
            path,
            line_number,
            f"empty {what} at position {tokens.index('') + 1} (two spaces in a row): expected one {what} per "
            "position, separated by single spaces",
        )
    return tokens
