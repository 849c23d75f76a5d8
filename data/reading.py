"""What readers share to read their files: lines, blocks, columns and JSON records, the language folders and split
files of a distribution, and what becomes of an example a reader cannot read (an error, or skipped)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from .corpus import SPLITS, DataFormatError

logger = logging.getLogger(__name__)


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


def requested_splits(splits: Mapping[str, Iterable[str]] | None, language: str) -> tuple[str, ...]:
    """The splits to read of ``language``: those ``splits`` names (none if it names other languages only), or all."""
    return tuple(splits.get(language, ())) if splits is not None else SPLITS
