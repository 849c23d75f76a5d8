"""xSID (van der Goot et al. 2021), 0.x releases: one folder of CoNLL files ``<lang>.<split>.conll``.

``<split>`` is ``train``, ``valid`` (read as dev) or ``test``; ``<lang>`` is the language code as the file names
write it, dialect codes included (``de-ba``, ``de-st``, ``gsw``, ``nap``). English has ``en.train.conll`` (MTOD
plus SNIPS, the training data of a zero-shot run) beside its valid and test files; the other languages have only
valid and test. Other files (``*.projectedTrain.conll``, read-mes) are not read.

A sentence is a block of comment lines, then one line per token with 4 tab-separated columns (index, token, intent,
BIO tag); blocks are separated by a blank line. Comments are ``# key = value`` or ``# key: value`` (both occur:
``# text-de: ...``). The reader uses ``# intent`` (required) and ``# id`` (the Norwegian variants of one sentence
are ``100/0`` ... ``100/10``; without it, ids are ``<lang>-<split>-<index>``: the English files have none). The
tokens and tags are the words and tags; ``# text``, ``# text-en``, ``# dialect`` and the English ``# slots:``
character spans (domain-qualified types, an empty line on some sentences) are not used. When a token line's
intent column differs from the sentence's ``# intent``, the sentence's intent is kept and the difference is logged.
Files are never paired by position (they are parallel by ``# text-en``, not always by position).

xSID ships no translations: an aligned run needs ``<lang>.translations.jsonl`` beside the CoNLL files, one JSON
object per line, ``{"id": <English training id>, "text": <translation>}`` (as the ``jsonl`` format's translation
files); the English training ids are ``en-train-<index>``, the sentence's position in ``en.train.conll`` from 0.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from .cache import labelled_splits
from .corpus import DataFormatError, XNLUCorpus, make_example
from .jsonl import jsonl_translations
from .reading import SkippedExamples, blank_line_blocks, parsed_examples
from .translations import translation_targets

logger = logging.getLogger(__name__)

SPLIT_NAMES = {"train": "train", "dev": "valid", "test": "test"}  # split -> its name in the file names
FILE_NAME = re.compile(r"(?P<lang>[^.]+)\.(?P<split>train|valid|test)\.conll")
COMMENT = re.compile(r"#\s*(?P<key>[A-Za-z][\w-]*)\s*[=:]\s?(?P<value>.*)")
TRANSLATION_FILE = "{lang}.translations.jsonl"


def load_xsid(
    data_dir: str | Path,
    languages: list[str] | None = None,
    cache_dir: str | None = None,
    splits: Mapping[str, Iterable[str]] | None = None,
    translation_languages: Iterable[str] | None = None,
    skipped: SkippedExamples | None = None,
) -> XNLUCorpus:
    root = Path(data_dir)
    found = split_files(root, languages)
    labelled = {}
    for lang, files in found.items():
        if splits is not None:
            files = {split: _required(root, lang, files, split) for split in splits.get(lang, ())}
        labelled[lang] = labelled_splits(read_xsid, files, lang, cache_dir, skipped)
    translations = {}
    if "en" in labelled and "train" in labelled["en"]:
        targets = translation_targets(found, "en", translation_languages)
        paths = {lang: root / TRANSLATION_FILE.format(lang=lang) for lang in targets}
        translations = jsonl_translations(paths, labelled["en"]["train"], cache_dir, skipped)
    return XNLUCorpus("xsid", labelled, translations)


def split_files(root: Path, languages: Iterable[str] | None) -> dict[str, dict[str, Path]]:
    """Language code (lower case) -> split -> file, of the requested languages or all found."""
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist")
    found: dict[str, dict[str, Path]] = {}
    for path in sorted(root.iterdir()):
        match = FILE_NAME.fullmatch(path.name)
        if match and path.is_file():
            split = next(ours for ours, name in SPLIT_NAMES.items() if name == match["split"])
            found.setdefault(match["lang"].lower(), {})[split] = path
    if not found:
        raise FileNotFoundError(f"{root}: no xSID files (<lang>.train.conll, <lang>.valid.conll, <lang>.test.conll)")
    if languages is None:
        return dict(sorted(found.items()))
    missing = [lang for lang in languages if lang.lower() not in found]
    if missing:
        raise FileNotFoundError(f"{root}: no xSID files for language(s) {missing}; found {sorted(found)}")
    return {lang.lower(): found[lang.lower()] for lang in languages}


def _required(root: Path, lang: str, files: dict[str, Path], split: str) -> Path:
    if split not in files:
        raise FileNotFoundError(
            f"missing xSID {split} split of {lang!r}: expected the file {root / f'{lang}.{SPLIT_NAMES[split]}.conll'}"
        )
    return files[split]


def read_xsid(path: str, language: str, split: str, skipped: SkippedExamples | None = None) -> Iterator[dict]:
    """Examples of one xSID file, in file order. Default ids number the sentences, skipped malformed ones included."""
    yield from parsed_examples(
        path,
        blank_line_blocks(path),
        lambda line, block, index: _example(path, line, block, f"{language}-{split}-{index}", language),
        skipped=skipped,
    )


def _example(path: str, start_line: int, block: list[str], default_id: str, language: str) -> dict:
    comments: dict[str, str] = {}
    words, tags, token_intents = [], [], []
    for line_number, line in enumerate(block, start=start_line):
        if line.startswith("#"):
            match = COMMENT.match(line)
            if match:
                comments.setdefault(match["key"].lower(), match["value"].strip())
            continue
        columns = line.split("\t")
        if len(columns) != 4:
            raise DataFormatError(
                path,
                line_number,
                f"{len(columns)} columns: expected index, token, intent and BIO tag (4, tab-separated)",
            )
        words.append(columns[1])
        tags.append(columns[3].strip())
        token_intents.append((line_number, columns[2].strip()))
    intent = comments.get("intent")
    if not intent:
        raise DataFormatError(path, start_line, "sentence without an '# intent = ...' comment")
    differing = next(((number, value) for number, value in token_intents if value != intent), None)
    if differing:
        logger.warning(
            "%s, line %d: intent column %r differs from the sentence's '# intent = %s' (the sentence's is kept)",
            path,
            *differing,
            intent,
        )
    return make_example(path, start_line, comments.get("id") or default_id, language, words, tags, intent)
