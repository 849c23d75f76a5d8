"""The embedded offline default corpus: utterances generated from the Home Assistant intent templates.

The pip packages ``home-assistant-intents`` (templates for dozens of languages) and ``hassil`` (their parser),
both Apache-2.0, ship everything needed to generate a small multilingual intent + slot corpus without
downloading anything. This module builds, deterministically from a seed:

- labelled English train/dev/test (intent = the Home Assistant intent name such as ``HassTurnOn``; slot types =
  the templates' slot names such as ``area``, ``name``, ``brightness``);
- labelled dev/test sets for the target languages (de, es, fr, th by default; hi on request);
- pseudo-parallel training pairs: for every English training row and target language, an utterance of the same
  intent carrying the same canonical slot values (``area=kitchen`` -> German "Küche"), generated from a target
  template with the same slot set. That is what a translation of the English row would say, so it stands in for
  machine translation. Where the target templates cannot say the same slot types (only some of them, or not the
  intent at all), the English row gets no translation into that language (see ``is_translation``).

The utterances come from ``home_assistant_grammar`` (the template walker), the slot values the templates do not
ship from ``home_assistant_values``. Labelled rows go into ``datasets`` objects with the common schema
(``data.corpus.EXAMPLE_FEATURES``). The build takes seconds and is cached on disk, keyed by a hash of the generator
code, seed, sizes, languages and the versions of the two packages.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import random
import shutil
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from . import home_assistant_grammar
from . import home_assistant_values as values
from .corpus import EXAMPLE_FEATURES, TRANSLATION_FEATURES, XNLUCorpus
from .home_assistant_grammar import (
    MATCH_EXACT,
    MATCH_INTENT_ONLY,
    Grammar,
    Utterance,
    language_grammar,
    text_key,
)

logger = logging.getLogger(__name__)

# Bump when the generated data changes for reasons the source hash in the cache key cannot see.
GENERATOR_VERSION = 2
SOURCE_LANGUAGE = "en"
# Hindi is supported on request but not a default: its templates cover only 19 of the 41 English intents, so
# more than half of its translation pairs would be copies of the English text.
DEFAULT_LANGUAGES = ("en", "de", "es", "fr", "th")
DEFAULT_SIZES = {"train": 3000, "dev": 400, "test": 600}  # English
DEFAULT_TARGET_SIZES = {"dev": 200, "test": 600}  # every target language
# A sampled intent whose utterances keep repeating has run out of distinct templates x values: stop drawing it.
_MAX_CONSECUTIVE_DUPLICATES = 50


def is_translation(pair: dict) -> bool:
    """Whether a generated target utterance can stand in for a translation of its English row: same intent and the
    same slot types (values may differ). Fallbacks that say only some of the slots, and English text copied where the
    target language lacks the intent, are not translations: a translation says what the English says, and the
    alignment losses take the English row's intent and slot types as the translation's too (CrossAligner's target)."""
    return (
        pair["match"] in (MATCH_EXACT, MATCH_INTENT_ONLY)
        and pair["target_intent"] == pair["intent"]
        and set(pair["target_slots"]) == set(pair["slots"])
    )


def _sample_pool(grammar: Grammar, intents: list[str], size: int, rng: random.Random) -> list[Utterance]:
    """``size`` distinct utterances, intents drawn in shuffled rounds so that every intent is well represented."""
    active, misses = list(intents), Counter()
    seen, pool = set(), []
    while len(pool) < size and active:
        rng.shuffle(active)
        for intent in list(active):
            utterance = grammar.sample(intent, rng)
            if utterance.text in seen:
                misses[intent] += 1
                if misses[intent] >= _MAX_CONSECUTIVE_DUPLICATES:
                    active.remove(intent)
                continue
            misses[intent] = 0
            seen.add(utterance.text)
            pool.append(utterance)
            if len(pool) == size:
                break
    if len(pool) < size:
        logger.warning(
            "home_assistant/%s: only %d distinct utterances (asked for %d)", grammar.language, len(pool), size
        )
    rng.shuffle(pool)
    return pool


def _split(pool: list[Utterance], sizes: dict[str, int]) -> dict[str, list[Utterance]]:
    total = sum(sizes.values())
    splits, start = {}, 0
    for name, size in sizes.items():
        # When the pool came out short, every split shrinks in proportion.
        take = size if len(pool) >= total else len(pool) * size // total
        splits[name] = pool[start : start + take]
        start += take
    return splits


def _rows(utterances: list[Utterance], language: str, split: str) -> list[dict]:
    rows = []
    for i, utterance in enumerate(utterances):
        words, tags = utterance.words_and_tags()
        rows.append(
            {
                "id": f"ha-{language}-{split}-{i:05d}",
                "language": language,
                "words": words,
                "tags": tags,
                "intent": utterance.intent,
            }
        )
    return rows


def _rng(seed: int, *parts: str) -> random.Random:
    # str seeds are hashed with SHA-512 by random.Random: stable across processes, unlike hash().
    return random.Random("/".join([str(seed), *parts]))


@dataclass
class HomeAssistantBuild:
    """The corpus plus what the generator knows about it.

    ``pairs[lang][i]`` describes the target utterance generated for English training row i: the English row's
    ``intent`` and canonical ``slots``, the ``match`` kind (exact / subset / intent_only / source_copy, see
    ``MATCH_*``), the ``target_intent`` and ``target_slots`` of the text, and ``kept``: whether it is one of the
    translations (``is_translation``; ``corpus.translations[lang]`` holds the kept ones, by English id).
    ``report`` holds sizes, dropped intents per language, fallback counts, coverage gaps and timings.
    """

    corpus: XNLUCorpus
    pairs: dict[str, list[dict]] = field(default_factory=dict)
    report: dict = field(default_factory=dict)


def load_home_assistant(
    data_dir: str | None = None, languages: list[str] | None = None, cache_dir: str | None = None, **kwargs
) -> XNLUCorpus:
    """The Home Assistant corpus (``data.load_corpus("home_assistant", ...)``); nothing needs downloading.

    ``cache_dir`` (or, as this corpus reads no files, ``data_dir``): where the generated corpus is cached
    (default ``$XNLU_CACHE/home_assistant`` or ``~/.cache/crossaligner_xnlu/home_assistant``). ``languages``:
    English plus the target languages (default en, de, es, fr, th; hi on request); English is always included.
    Other keyword arguments (``seed``, ``sizes``, ``target_sizes``) go to :func:`build_home_assistant`.
    """
    return build_home_assistant(languages, cache_dir=cache_dir or data_dir, **kwargs).corpus


def build_home_assistant(
    languages: list[str] | None = None,
    *,
    seed: int = 0,
    sizes: dict[str, int] | None = None,
    target_sizes: dict[str, int] | None = None,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
) -> HomeAssistantBuild:
    """Generate (or load from the cache) the corpus, its translation-pair metadata and a build report.

    ``sizes``: English split sizes (default ``DEFAULT_SIZES``); ``target_sizes``: dev/test sizes of every target
    language (default ``DEFAULT_TARGET_SIZES``; a size of 0 leaves the split out).
    """
    languages = _check_languages(languages)
    sizes = _check_sizes(sizes or DEFAULT_SIZES, ("train", "dev", "test"), required=("train",))
    target_sizes = _check_sizes(target_sizes or DEFAULT_TARGET_SIZES, ("dev", "test"), required=("test",))
    key = _cache_key(languages, seed, sizes, target_sizes)
    root = _cache_root(cache_dir)
    path = root / key
    if use_cache and (path / "build.json").is_file():
        started = time.perf_counter()
        build = _load(path)
        build.report.update(cache_hit=True, load_seconds=round(time.perf_counter() - started, 3))
        return build

    started = time.perf_counter()
    build = _generate(languages, seed, sizes, target_sizes)
    build.report.update(cache_key=key, build_seconds=round(time.perf_counter() - started, 3))
    if use_cache:
        _save(build, root, key)
    build.report["cache_hit"] = False
    return build


def _check_languages(languages) -> list[str]:
    if languages is None:
        return list(DEFAULT_LANGUAGES)
    if isinstance(languages, str):
        languages = [languages]
    unknown = sorted(set(languages) - set(values.LANGUAGES))
    if unknown:
        raise ValueError(
            f"home_assistant: no slot values for language(s) {unknown}; supported: {list(values.LANGUAGES)} "
            "(add them to data/home_assistant_values.py)"
        )
    # English first, the rest sorted: the cache key and the output must not depend on the caller's order.
    return [SOURCE_LANGUAGE] + sorted(set(languages) - {SOURCE_LANGUAGE})


def _check_sizes(sizes: dict[str, int], allowed: tuple, required: tuple) -> dict[str, int]:
    unknown = set(sizes) - set(allowed)
    if unknown:
        raise ValueError(f"home_assistant: unknown split(s) {sorted(unknown)}; allowed: {list(allowed)}")
    for name in required:
        if sizes.get(name, 0) <= 0:
            raise ValueError(f"home_assistant: split {name!r} needs a positive size, got {sizes.get(name)}")
    if any(not isinstance(n, int) or n < 0 for n in sizes.values()):
        raise ValueError(f"home_assistant: split sizes must be non-negative integers, got {sizes}")
    return {name: sizes[name] for name in allowed if sizes.get(name, 0) > 0}


def _cache_root(cache_dir) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get("XNLU_CACHE"):
        return Path(os.environ["XNLU_CACHE"]) / "home_assistant"
    return Path.home() / ".cache" / "crossaligner_xnlu" / "home_assistant"


def _cache_key(languages, seed, sizes, target_sizes) -> str:
    sources = hashlib.sha256()
    for module_file in (__file__, home_assistant_grammar.__file__, values.__file__):  # the generator's code
        sources.update(Path(module_file).read_bytes())
    description = {
        "generator": GENERATOR_VERSION,
        "sources": sources.hexdigest(),
        "seed": seed,
        "sizes": sizes,
        "target_sizes": target_sizes,
        "languages": languages,
        "packages": {p: importlib.metadata.version(p) for p in ("hassil", "home-assistant-intents", "datasets")},
    }
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:16]


def _generate(languages, seed, sizes, target_sizes) -> HomeAssistantBuild:
    grammars = {lang: language_grammar(lang) for lang in languages}
    english = grammars[SOURCE_LANGUAGE]
    source_intents = sorted(english.frames)
    report: dict = {"languages": languages, "seed": seed, "dropped_intents": {}, "sizes": {}}
    report["dropped_intents"][SOURCE_LANGUAGE] = {"unsupported": english.unsupported}

    english_splits = _split(_sample_pool(english, source_intents, sum(sizes.values()), _rng(seed, "en")), sizes)
    labelled = {SOURCE_LANGUAGE: english_splits}
    for lang in languages[1:]:
        grammar = grammars[lang]
        report["dropped_intents"][lang] = {
            "absent": sorted(set(source_intents) - set(grammar.frames) - set(grammar.unsupported)),
            "unsupported": sorted(set(grammar.unsupported) & set(source_intents)),
            "not_in_english": sorted(set(grammar.frames) - set(source_intents)),
        }
        intents = sorted(set(grammar.frames) & set(source_intents))
        pool = _sample_pool(grammar, intents, sum(target_sizes.values()), _rng(seed, lang))
        labelled[lang] = _split(pool, target_sizes)

    translations, pairs, fallbacks, kept = {}, {}, {}, {}
    for lang in languages[1:]:
        rng = _rng(seed, lang, "pairs")
        held_out = frozenset(text_key(u.text) for split in labelled[lang].values() for u in split)
        ids, texts, pairs[lang] = [], [], []
        for index, utterance in enumerate(english_splits["train"]):
            mirrored, match = grammars[lang].mirror(utterance, rng, held_out)
            pair = {
                "intent": utterance.intent,
                "slots": utterance.slots,
                "match": match,
                "target_intent": mirrored.intent if mirrored else utterance.intent,
                "target_slots": mirrored.slots if mirrored else utterance.slots,
            }
            pair["kept"] = is_translation(pair)
            pairs[lang].append(pair)
            if pair["kept"]:
                ids.append(f"ha-en-train-{index:05d}")
                texts.append(mirrored.text)
        translations[lang] = datasets.Dataset.from_dict({"id": ids, "text": texts}, features=TRANSLATION_FEATURES)
        fallbacks[lang] = dict(Counter(pair["match"] for pair in pairs[lang]))
        kept[lang] = len(ids)
    report["pair_matches"] = fallbacks
    report["kept_pairs"] = kept

    corpus = XNLUCorpus(
        name="home_assistant",
        labelled={
            lang: datasets.DatasetDict(
                {
                    split: datasets.Dataset.from_list(_rows(utts, lang, split), features=EXAMPLE_FEATURES)
                    for split, utts in splits.items()
                }
            )
            for lang, splits in labelled.items()
        },
        translations=translations,
        source_language=SOURCE_LANGUAGE,
    )
    report["sizes"] = {lang: {split: len(ds) for split, ds in dd.items()} for lang, dd in corpus.labelled.items()}
    report["uncovered"] = _coverage_gaps(corpus)
    _log_report(report)
    return HomeAssistantBuild(corpus=corpus, pairs=pairs, report=report)


def _coverage_gaps(corpus: XNLUCorpus) -> dict[str, dict[str, list[str]]]:
    """Intents and slot types of each target test set that English training never shows (zero-shot blind spots)."""
    intents = set(corpus.intent_labels())
    slot_types = set(corpus.slot_labels())
    gaps = {}
    for lang in corpus.target_languages():
        test = corpus.labelled[lang]["test"]
        test_types = {tag[2:] for tags in test["tags"] for tag in tags if tag != "O"}
        missing = {"intents": sorted(set(test["intent"]) - intents), "slot_types": sorted(test_types - slot_types)}
        if missing["intents"] or missing["slot_types"]:
            gaps[lang] = missing
    return gaps


def _log_report(report: dict) -> None:
    for lang, dropped in report["dropped_intents"].items():
        lost = {reason: names for reason, names in dropped.items() if names}
        if lost:
            logger.warning("home_assistant/%s: intents left out: %s", lang, lost)
    for lang, matches in report["pair_matches"].items():
        fallback = {kind: n for kind, n in matches.items() if kind != MATCH_EXACT}
        if fallback:
            logger.info(
                "home_assistant/%s: %d of %d English training examples have a translation (of the others the target "
                "templates could only say: %s)",
                lang,
                report["kept_pairs"][lang],
                sum(matches.values()),
                fallback,
            )
    for lang, missing in report["uncovered"].items():
        logger.warning("home_assistant/%s: test labels absent from English train: %s", lang, missing)
    logger.info("home_assistant: sizes %s", report["sizes"])


def _save(build: HomeAssistantBuild, root: Path, key: str) -> None:
    """Write to a private temporary folder, then rename: readers never see a half-written corpus."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{key}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        for lang, dataset_dict in build.corpus.labelled.items():
            dataset_dict.save_to_disk(str(tmp / "labelled" / lang))
        for lang, dataset in build.corpus.translations.items():
            dataset.save_to_disk(str(tmp / "translations" / lang))
        (tmp / "build.json").write_text(
            json.dumps({"pairs": build.pairs, "report": build.report}, ensure_ascii=False), encoding="utf-8"
        )
        try:
            os.rename(tmp, root / key)
        except OSError:
            # Another process finished the same build first; its copy is identical.
            if not (root / key / "build.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _load(path: Path) -> HomeAssistantBuild:
    saved = json.loads((path / "build.json").read_text(encoding="utf-8"))
    languages = saved["report"]["languages"]
    corpus = XNLUCorpus(
        name="home_assistant",
        labelled={lang: datasets.load_from_disk(str(path / "labelled" / lang)) for lang in languages},
        translations={lang: datasets.load_from_disk(str(path / "translations" / lang)) for lang in languages[1:]},
        source_language=SOURCE_LANGUAGE,
    )
    return HomeAssistantBuild(corpus=corpus, pairs=saved["pairs"], report=saved["report"])
