"""MASSIVE (FitzGerald et al. 2022): the raw release, one JSON-lines file per locale, ``<data_dir>/<locale>.jsonl``;
the Hub's export (a ``datasets`` DatasetDict, or its parquet or JSON-lines files) is read by ``massive_hub.py``.

MASSIVE 1.1 lines have the fields ``id, locale, partition, scenario, intent, utt, annot_utt, worker_id,
slot_method, judgments`` (the ``en-US`` lines have no ``slot_method`` and no ``judgments``). The reader uses ``id``,
``partition`` (train, dev or test: the split), ``intent`` and ``annot_utt``, where slots are bracketed: ``wake me up
at [time : nine am]``, a value possibly holding a colon (``[time : 10:30]``) (and ``utt`` for translations); the
other fields are never checked. Words are the whitespace-separated tokens of the utterance, also cut at slot
boundaries, so that slots of unspaced scripts (Chinese, Japanese, Thai) are words of their own.

Locales map to language codes (``de-DE`` -> ``de``) unless two locales share a language (``zh-CN``,
``zh-TW``), which then keep their lower-cased locale (``zh-cn``). ``languages`` may name either form.
The same id in two locales is a translation pair: the translations of English are the ``utt`` of the
target-locale train partition whose id is an English training id. A partition that a run reads (a requested split,
or the train partition of a locale translated into) and that a locale file lacks is an error naming the file.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from .cache import cached_dataset, labelled_splits
from .corpus import SPLITS, TRANSLATION_FEATURES, DataFormatError, XNLUCorpus, make_example
from .reading import SkippedExamples, ensure_not_empty, json_lines, malformed, parsed_examples, requested_splits
from .spans import outermost_spans, spans_to_bio, split_words
from .translations import translation_targets, translations_by_id

SLOT = re.compile(r"\[([^\[\]:]+):([^\[\]]*)\]")  # [type : value]; a value may hold ":" (10:30), never brackets
FIELDS = ("intent", "utt", "annot_utt")  # besides id and partition, what an example needs
# Why a locale translated into needs its train partition (MASSIVE's translations are that partition's utterances).
ALIGNED_NEEDS_TRAIN = (
    "an aligned run pairs the English training ids with this locale's train partition, whose utterances are the "
    "translations; give the locale's train partition too, or train without alignment (run_xnlu.py --alignment none)"
)


def load_massive_release(
    data_dir: str | Path,
    languages: list[str] | None = None,
    cache_dir: str | None = None,
    splits: Mapping[str, Iterable[str]] | None = None,
    translation_languages: Iterable[str] | None = None,
    skipped: SkippedExamples | None = None,
) -> XNLUCorpus:
    """The raw release's locale files (``massive_hub.load_massive`` reads a folder of either kind)."""
    files = locale_files(Path(data_dir), languages)
    labelled = {
        lang: labelled_splits(
            read_massive, dict.fromkeys(requested_splits(splits, lang), path), lang, cache_dir, skipped
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
                skipped,
                path=str(files[lang]),
            )
            translations[lang] = translations_by_id(candidates, labelled["en"]["train"], lang)
    return XNLUCorpus("massive", labelled, translations)


def release_languages(data_dir: str | Path) -> list[str]:
    """The language codes of the raw release's locale files."""
    return list(locale_files(Path(data_dir), None))


def read_massive(path: str, language: str, split: str, skipped: SkippedExamples | None = None) -> Iterator[dict]:
    """Examples of one partition of a locale file, in file order. Lines of other partitions are not parsed."""
    yield from parsed_examples(
        path,
        _partition(path, split, skipped),
        lambda line, record, _: massive_example(path, line, record, language),
        skipped=skipped,
        missing=f'holds no {split!r} partition (no line with "partition": "{split}"): the run reads this '
        f"locale's {split} split",
    )


def massive_example(path: str, line_number: int | None, record: dict, language: str) -> dict:
    """The example of one MASSIVE record (a line of a locale file, or a row of the Hub's export, intent as a name)."""
    missing = [name for name in FIELDS if not isinstance(record.get(name), str)]
    if missing:
        raise DataFormatError(path, line_number, f"missing or non-string field(s) {missing}: expected {list(FIELDS)}")
    text, spans = parse_annotation(record["annot_utt"], path, line_number)
    offsets = split_words(text, spans)
    words = [text[start:end] for start, end in offsets]
    tags = spans_to_bio(offsets, spans, path, line_number)
    return make_example(path, line_number, str(record["id"]), language, words, tags, record["intent"])


def read_massive_utterances(path: str, skipped: SkippedExamples | None = None) -> Iterator[dict]:
    """(id, utt) of the train partition of a locale file: the candidates for pairing with English training
    examples by id (MASSIVE's partitions are parallel across locales). Labels are never read."""
    yield from parsed_examples(
        path,
        _partition(path, "train", skipped),
        lambda line, record, _: massive_utterance(path, line, record),
        skipped=skipped,
        missing=f"holds no 'train' partition: {ALIGNED_NEEDS_TRAIN}",
    )


def massive_utterance(path: str, line_number: int | None, record: dict) -> dict:
    """The (id, text) translation candidate of one MASSIVE record."""
    if not isinstance(record.get("utt"), str):
        raise DataFormatError(path, line_number, "missing or non-string field 'utt'")
    return {"id": str(record["id"]), "text": record["utt"]}


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


def _partition(path: str, split: str, skipped: SkippedExamples | None) -> Iterator[tuple[int, dict]]:
    """(line number, record) of the lines of one partition. Every line needs an ``id`` and a valid ``partition``;
    the other fields are checked only for the partition being read, and fields the project does not use
    (``scenario``, ``worker_id``, ``slot_method``, ``judgments``, ...) never are."""
    count = 0
    for line_number, record in json_lines(path, skipped=skipped):
        count += 1
        partition = record.get("partition")
        if partition not in SPLITS or not isinstance(record.get("id"), (str, int)):
            malformed(
                DataFormatError(
                    path,
                    line_number,
                    f"partition {partition!r}, id {record.get('id')!r}: expected an id and a partition in "
                    f"{list(SPLITS)}",
                ),
                skipped,
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
    return {code: root / f"{locale}.jsonl" for code, locale in requested_locales(locales, languages, root).items()}


def requested_locales(locales: Iterable[str], languages: Iterable[str] | None, where: str | Path) -> dict[str, str]:
    """Language code -> locale, for the requested languages (codes or locales; ``where`` names the data in errors) or
    all. A locale's code is its language (``de-DE`` -> ``de``), or the lower-cased locale when two share it."""
    locales = sorted(locales)
    shared = Counter(locale.split("-")[0].lower() for locale in locales)
    code = {
        locale: locale.split("-")[0].lower() if shared[locale.split("-")[0].lower()] == 1 else locale.lower()
        for locale in locales
    }
    by_code = {code[locale]: locale for locale in locales}
    if languages is None:
        return by_code
    by_name = {**{locale.lower(): code[locale] for locale in locales}, **{c: c for c in by_code}}
    missing = [lang for lang in languages if lang.lower() not in by_name]
    if missing:
        raise FileNotFoundError(f"{where}: no locale for language(s) {missing}; found {sorted(by_code)}")
    return {by_name[lang.lower()]: by_code[by_name[lang.lower()]] for lang in languages}
