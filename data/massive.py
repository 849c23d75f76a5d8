"""MASSIVE (FitzGerald et al. 2022): one JSON-lines file per locale, ``<data_dir>/<locale>.jsonl``.

MASSIVE 1.1 lines have the fields ``id, locale, partition, scenario, intent, utt, annot_utt, worker_id,
slot_method, judgments``. The reader uses ``id``, ``partition`` (train, dev or test: the split), ``intent`` and
``annot_utt``, where slots are bracketed: ``wake me up at [time : nine am]`` (and ``utt`` for translations); the
other fields are never checked. Words are the whitespace-separated tokens of the utterance, also cut at slot
boundaries, so that slots of unspaced scripts (Chinese, Japanese, Thai) are words of their own.

Locales map to language codes (``de-DE`` -> ``de``) unless two locales share a language (``zh-CN``,
``zh-TW``), which then keep their lower-cased locale (``zh-cn``). ``languages`` may name either form.
The same id in two locales is a translation pair: the translations of English are the ``utt`` of the
target-locale train partition whose id is an English training id.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from .corpus import (
    SPLITS,
    TRANSLATION_FEATURES,
    DataFormatError,
    XNLUCorpus,
    cached_dataset,
    ensure_not_empty,
    json_lines,
    labelled_splits,
    make_example,
    malformed,
    outermost_spans,
    parsed_examples,
    requested_splits,
    spans_to_bio,
    split_words,
    translation_targets,
    translations_by_id,
)

SLOT = re.compile(r"\[([^\[\]:]+):([^\[\]]*)\]")  # [type : value]; a value may hold ":" (10:30), never brackets
FIELDS = ("intent", "utt", "annot_utt")  # besides id and partition, what an example needs


def load_massive(
    data_dir: str | Path,
    languages: list[str] | None = None,
    cache_dir: str | None = None,
    splits: Mapping[str, Iterable[str]] | None = None,
    translation_languages: Iterable[str] | None = None,
    skip_malformed: bool = False,
) -> XNLUCorpus:
    files = locale_files(Path(data_dir), languages)
    labelled = {
        lang: labelled_splits(
            read_massive, dict.fromkeys(requested_splits(splits, lang), path), lang, cache_dir, skip_malformed
        )  # fmt: skip
        for lang, path in files.items()
    }
    translations = {}
    if "en" in labelled and "train" in labelled["en"]:
        for lang in translation_targets(files, "en", translation_languages):
            candidates = cached_dataset(
                read_massive_utterances,
                [files[lang]],
                TRANSLATION_FEATURES,
                cache_dir,
                skip_malformed,
                path=str(files[lang]),
            )
            translations[lang] = translations_by_id(candidates, labelled["en"]["train"], lang)
    return XNLUCorpus("massive", labelled, translations)


def read_massive(path: str, language: str, split: str) -> Iterator[dict]:
    """Examples of one partition of a locale file, in file order. Lines of other partitions are not parsed."""
    yield from parsed_examples(
        path,
        _partition(path, split),
        lambda line, record, _: _example(path, line, record, language),
        missing=f"no examples in partition {split!r}: expected train, dev and test partitions",
    )


def _example(path: str, line_number: int, record: dict, language: str) -> dict:
    missing = [name for name in FIELDS if not isinstance(record.get(name), str)]
    if missing:
        raise DataFormatError(path, line_number, f"missing or non-string field(s) {missing}: expected {list(FIELDS)}")
    text, spans = parse_annotation(record["annot_utt"], path, line_number)
    offsets = split_words(text, spans)
    words = [text[start:end] for start, end in offsets]
    tags = spans_to_bio(offsets, spans, path, line_number)
    return make_example(path, line_number, str(record["id"]), language, words, tags, record["intent"])


def read_massive_utterances(path: str) -> Iterator[dict]:
    """(id, utt) of the train partition of a locale file: the candidates for pairing with English training
    examples by id (MASSIVE's partitions are parallel across locales). Labels are never read."""
    for line_number, record in _partition(path, "train"):
        if not isinstance(record.get("utt"), str):
            malformed(DataFormatError(path, line_number, "missing or non-string field 'utt'"))
            continue
        yield {"id": str(record["id"]), "text": record["utt"]}


def parse_annotation(annotated: str, path: str, line_number: int) -> tuple[str, list[tuple[str, int, int]]]:
    """Plain text and (type, start, end) character spans of a MASSIVE ``annot_utt``."""
    text, spans, position = [], [], 0
    length = 0
    for match in SLOT.finditer(annotated):
        before = annotated[position : match.start()]
        value = match.group(2).strip()
        text.append(before + value)
        length += len(before)
        spans.append((match.group(1).strip(), length, length + len(value)))
        length += len(value)
        position = match.end()
    text.append(annotated[position:])
    plain = "".join(text)
    if "[" in plain or "]" in plain:
        raise DataFormatError(path, line_number, f"malformed annot_utt {annotated!r}: expected slots as [type : value]")
    return plain, outermost_spans(spans, plain, path, line_number)


def _partition(path: str, split: str) -> Iterator[tuple[int, dict]]:
    """(line number, record) of the lines of one partition. Every line needs an ``id`` and a valid ``partition``;
    the other fields are checked only for the partition being read, and fields the project does not use
    (``scenario``, ``worker_id``, ``slot_method``, ``judgments``, ...) never are."""
    count = 0
    for line_number, record in json_lines(path):
        count += 1
        partition = record.get("partition")
        if partition not in SPLITS or not isinstance(record.get("id"), (str, int)):
            malformed(
                DataFormatError(
                    path,
                    line_number,
                    f"partition {partition!r}, id {record.get('id')!r}: expected an id and a partition in "
                    f"{list(SPLITS)}",
                )
            )
            continue
        if partition == split:
            yield line_number, record
    ensure_not_empty(path, count)


def locale_files(root: Path, languages: list[str] | None) -> dict[str, Path]:
    """Language code -> locale file, for the requested languages (codes or locales) or all."""
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist")
    locales = sorted(path.stem for path in root.glob("*.jsonl"))
    if not locales:
        raise FileNotFoundError(f"{root}: no MASSIVE locale files (<locale>.jsonl) found")
    shared = Counter(locale.split("-")[0].lower() for locale in locales)
    code = {
        locale: locale.split("-")[0].lower() if shared[locale.split("-")[0].lower()] == 1 else locale.lower()
        for locale in locales
    }
    files = {code[locale]: root / f"{locale}.jsonl" for locale in locales}
    if languages is None:
        return files
    by_name = {**{locale.lower(): code[locale] for locale in locales}, **{c: c for c in files}}
    missing = [lang for lang in languages if lang.lower() not in by_name]
    if missing:
        raise FileNotFoundError(f"{root}: no locale file for language(s) {missing}; found {sorted(files)}")
    return {by_name[lang.lower()]: files[by_name[lang.lower()]] for lang in languages}
