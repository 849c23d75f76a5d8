"""MTOP (Li et al. 2021): per language ``train.txt``, ``eval.txt`` (the dev split), ``test.txt``.

Tab-separated, no header, 8 columns: id, intent, slots, utterance, domain, locale, decoupled form, JSON with
``tokens`` and ``tokenSpans`` (``start``, ``length``); some distributions omit the id (7 columns; ids then
become ``<lang>-<split>-<index>``). Slots are ``start:end:SL:TYPE`` spans over the utterance, comma-separated,
possibly empty; nested slots keep only the outermost ones (the slot column of a compositional utterance lists only
its top-level slots). Words are the JSON tokens and each word takes the slot whose span it overlaps. Slot types and
intents keep MTOP's names (``SL:DATE_TIME``, ``IN:GET_WEATHER``).

Every offset, in the slot column and in ``tokenSpans``, counts UTF-8 BYTES of the utterance, not characters: they
differ on English lines with a curly apostrophe and on nearly every Hindi and Thai line. An offset outside the
utterance's bytes or inside a multi-byte character is malformed.

The lines are split at tabs only, never read with CSV quoting: utterances hold literally doubled quotes
(``Remove ""Pay the mortgage"" from my reminders.``) and double spaces, which stay as written.

Translations: ``<lang>/train.tsv`` (line-aligned with English train) when present, otherwise the utterances of the
target language's training file that share an id with an English training example (MTOP is parallel by id; only
the id and utterance columns of that file are read, never its labels).

A UTF-8 byte-order mark, CRLF line ends, a trailing tab and a last line without a line end are accepted; the domain,
locale and decoupled-form columns and any field of the tokens JSON besides ``tokens`` and ``tokenSpans`` are not
used and never checked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from .cache import cached_dataset, labelled_splits
from .corpus import TRANSLATION_FEATURES, DataFormatError, XNLUCorpus, make_example
from .reading import (
    SkippedExamples,
    language_dirs,
    parsed_examples,
    requested_splits,
    require_file,
    tab_columns,
    text_lines,
)
from .spans import outermost_spans, spans_to_bio
from .translations import folder_translations, translation_targets, translations_by_id

SPLIT_FILES = {"train": "train.txt", "dev": "eval.txt", "test": "test.txt"}
TRANSLATION_FILE = "train.tsv"


def load_mtop(
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
            split: require_file(folder / SPLIT_FILES[split], f"MTOP {split} split of {lang!r}")
            for split in requested_splits(splits, lang)
        }
        labelled[lang] = labelled_splits(read_mtop, paths, lang, cache_dir, skipped)
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


def read_mtop(path: str, language: str, split: str, skipped: SkippedExamples | None = None) -> Iterator[dict]:
    """Examples of one MTOP split file, in file order. Ids of 7-column files number the lines with an example,
    skipped malformed ones included."""
    yield from parsed_examples(
        path,
        _lines(path),
        lambda line, text, index: _example(path, line, text, f"{language}-{split}-{index}", language),
        skipped=skipped,
    )


def _example(path: str, line_number: int, line: str, default_id: str, language: str) -> dict:
    example_id, intent, slots, utterance, tokens_json = _fields(_columns(path, line_number, line), default_id)
    offsets = _ByteOffsets(utterance, path, line_number)
    words, word_offsets = _tokens(tokens_json, offsets, path, line_number)
    slot_spans = _parse_slots(slots, offsets, path, line_number)
    spans = outermost_spans(slot_spans, offsets.encoded, path, line_number)
    tags = spans_to_bio(word_offsets, spans, path, line_number)
    return make_example(path, line_number, example_id, language, words, tags, intent)


def read_mtop_utterances(path: str, language: str) -> Iterator[dict]:
    """(id, utterance) of every example of a language's training file: the candidates for pairing with English by
    id. Only the id and utterance columns are read, so a line with malformed labels still gives its utterance."""

    def utterance(line_number: int, line: str, index: int) -> dict:
        example_id, _, _, text, _ = _fields(_columns(path, line_number, line), f"{language}-train-{index}")
        return {"id": example_id, "text": text}

    yield from parsed_examples(path, _lines(path), utterance, skipped=None)


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


class _ByteOffsets:
    """Checks MTOP's offsets into one utterance, which count its UTF-8 bytes. Slots and tokens are matched in bytes
    (a slot covers the tokens whose byte spans it overlaps), so errors quote the file's own numbers."""

    def __init__(self, utterance: str, path: str, line_number: int):
        self.utterance, self.path, self.line_number = utterance, path, line_number
        self.encoded = utterance.encode("utf-8")
        self.boundaries, position = {0}, 0  # byte offsets between characters
        for char in utterance:
            position += len(char.encode("utf-8"))
            self.boundaries.add(position)

    def span(self, start: int, end: int, what: str) -> tuple[int, int]:
        """``(start, end)`` once checked: within the utterance's bytes and at character boundaries."""
        if not 0 <= start < end <= len(self.encoded):
            raise DataFormatError(
                self.path,
                self.line_number,
                f"malformed {what}: expected 0 <= start < end <= {len(self.encoded)} (MTOP's offsets count the "
                "utterance's UTF-8 bytes)",
            )
        for offset in (start, end):
            if offset not in self.boundaries:
                inside = self.utterance[len(self.encoded[:offset].decode("utf-8", "ignore"))]
                raise DataFormatError(
                    self.path,
                    self.line_number,
                    f"{what}: byte offset {offset} falls inside the character {inside!r}: expected UTF-8 byte "
                    "offsets at character boundaries",
                )
        return start, end


def _tokens(
    tokens_json: str, offsets: _ByteOffsets, path: str, line_number: int
) -> tuple[list[str], list[tuple[int, int]]]:
    """The JSON tokens (the words) and their byte offsets."""
    try:
        record = json.loads(tokens_json)
        words = list(record["tokens"])
        byte_spans = [(span["start"], span["length"]) for span in record["tokenSpans"]]
        if not all(isinstance(number, int) for span in byte_spans for number in span):
            raise TypeError("non-integer start or length")
    except (ValueError, KeyError, TypeError) as error:
        raise DataFormatError(
            path,
            line_number,
            f"bad tokens JSON ({error!r}): expected {{'tokens': [...], 'tokenSpans': [{{'start', 'length'}}, ...]}}",
        ) from None
    if len(words) != len(byte_spans):
        raise DataFormatError(
            path, line_number, f"{len(words)} tokens but {len(byte_spans)} tokenSpans: expected one span per token"
        )
    word_offsets = [
        offsets.span(start, start + length, f"tokenSpan {start}+{length} of token {word!r}")
        for word, (start, length) in zip(words, byte_spans)
    ]
    return words, word_offsets


def _parse_slots(slots: str, offsets: _ByteOffsets, path: str, line_number: int) -> list[tuple[str, int, int]]:
    """(type, start, end) byte spans of the slot column."""
    spans = []
    for item in filter(None, slots.split(",")):
        start, _, rest = item.partition(":")
        end, _, label = rest.partition(":")
        if not (start.isdigit() and end.isdigit() and label.startswith("SL:")):
            raise DataFormatError(path, line_number, f"malformed slot {item!r}: expected start:end:SL:TYPE")
        spans.append((label, *offsets.span(int(start), int(end), f"span {item}")))
    return spans
