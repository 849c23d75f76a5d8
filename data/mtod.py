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

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from .cache import labelled_splits
from .corpus import DataFormatError, XNLUCorpus, make_example
from .reading import SkippedExamples, blank_line_blocks, language_dirs, parsed_examples, requested_splits, require_file
from .translations import folder_translations

NO_LABEL = "NoLabel"  # MTOD's spelling of the O tag


def load_mtod(
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
            split: require_file(folder / f"{split}-{lang}.conllu", f"MTOD {split} split of {lang!r}")
            for split in requested_splits(splits, lang)
        }
        labelled[lang] = labelled_splits(read_conllu, paths, lang, cache_dir, skipped)
    translations = folder_translations(
        folders, labelled, "train.tsv", cache_dir=cache_dir, languages=translation_languages
    )
    return XNLUCorpus("mtod", labelled, translations)


def read_conllu(path: str, language: str, split: str, skipped: SkippedExamples | None = None) -> Iterator[dict]:
    """Examples of one MTOD file, in file order. Ids number the blocks, skipped malformed ones included, so that
    an example keeps its id whether or not other blocks were skipped."""
    yield from parsed_examples(
        path,
        blank_line_blocks(path),
        lambda line, block, index: _example(path, line, block, f"{language}-{split}-{index}", language),
        skipped=skipped,
    )


def _example(path: str, start_line: int, block: list[str], example_id: str, language: str) -> dict:
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
    return make_example(path, start_line, example_id, language, words, tags, intent)
