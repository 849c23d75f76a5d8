"""Character spans to words and BIO tags (MTOP, MASSIVE and the project's JSON lines)."""

from __future__ import annotations

import os
from collections.abc import Iterable

from .corpus import DataFormatError


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
