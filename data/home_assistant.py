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

How utterances are generated. hassil's own sampler enumerates every expansion and loses the slot spans, so this
module walks the parsed template trees itself: at every alternative it picks one branch at random, and it fills
every ``{list}`` reference with a value, remembering the character span and the canonical value. A template is
first chosen together with its slot set (``frame``); the walk is then constrained to produce exactly that slot
set, which is what lets a target utterance mirror an English one. Values for ``{area}``, ``{floor}``, ``{name}``
and a few wildcards come from ``home_assistant_values`` (the templates do not ship them); numbers are written as
digits in every language. Templates that need a value this module cannot supply (e.g. the free-text
``{message}`` wildcard) are skipped, and an intent left without templates is dropped and reported.
``requires_context`` blocks are kept (they are ordinary utterances whose area comes from the speaking device);
their ``domain`` restriction decides which device names may fill ``{name}``.

Words and tags. Text is split on whitespace AND at every slot-value boundary, so every entity covers whole
words even where the template glues a value to other text: Thai writes no spaces ("เปิดไฟในห้องครัว" ->
["เปิดไฟใน", "ห้องครัว"]), and Latin templates glue units or suffixes ("50%" -> ["50", "%"]). Thai text between
values stays one word per template chunk (no Thai word segmenter is used). Tags are BIO over the words.

Labelled rows go into ``datasets`` objects with the common schema (``data.corpus.EXAMPLE_FEATURES``). The
build takes seconds and is cached on disk, keyed by a hash of the generator code, seed, sizes, languages and
the versions of the two packages.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import random
import re
import shutil
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path

import datasets
from hassil.expression import Alternative, Group, ListReference, Permutation, RuleReference, TextChunk
from hassil.intents import Intents, RangeSlotList, TextSlotList, WildcardSlotList
from home_assistant_intents import get_intents

from . import home_assistant_values as values
from .corpus import EXAMPLE_FEATURES, TRANSLATION_FEATURES, XNLUCorpus

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
# Attempts per target frame before trying the next one (a frame can fail when the random walk reaches a list
# that cannot express the required value, e.g. "{brightness_level}" for brightness 35).
_TRIES_PER_FRAME = 4

MATCH_EXACT = "exact"  # same intent, same slot set, same canonical values
MATCH_SUBSET = "subset"  # same intent, only the largest expressible subset of the slots (values kept)
MATCH_INTENT_ONLY = "intent_only"  # same intent, but the target templates cannot say the values: values redrawn
MATCH_SOURCE_COPY = "source_copy"  # the target language lacks the intent: the English text is used unchanged
# Slots some languages capture as a list while English writes the same words as plain template text (German
# "{licht:domain}" vs English "lights" with a fixed ``domain: light``): rendered as text, never tagged, so that
# no language has an entity type English cannot show.
_UNTAGGED_SLOTS = frozenset({"domain"})


# ----------------------------------------------------------------------------------------------------------
# Generated utterances


@dataclass(frozen=True)
class Utterance:
    """One generated utterance: its text, its entity character spans and their canonical values."""

    intent: str
    text: str
    spans: tuple[tuple[str, int, int], ...]  # (slot type, start char, end char)
    slots: dict[str, str]  # slot type -> canonical value id (shared across languages)

    def words_and_tags(self) -> tuple[list[str], list[str]]:
        """Whitespace words, further split at entity boundaries, with BIO tags from the spans."""
        boundaries = {offset for _, start, end in self.spans for offset in (start, end)}
        words: list[tuple[int, int]] = []
        for match in re.finditer(r"\S+", self.text):
            cuts = sorted({match.start(), match.end()} | {b for b in boundaries if match.start() < b < match.end()})
            words.extend(zip(cuts, cuts[1:]))
        tags = ["O"] * len(words)
        starts = {start for start, _ in words}
        ends = {end for _, end in words}
        for slot, start, end in self.spans:
            if start not in starts or end not in ends:
                raise RuntimeError(f"entity {slot} [{start}:{end}] of {self.text!r} does not cover whole words")
            inside = [i for i, (s, e) in enumerate(words) if s >= start and e <= end]
            tags[inside[0]] = f"B-{slot}"
            for i in inside[1:]:
                tags[i] = f"I-{slot}"
        return [self.text[s:e] for s, e in words], tags


class _CannotExpress(Exception):
    """The walk reached a value list that cannot say the required canonical value."""


class _Supply:
    """The values that can fill one ``{list}`` reference: canonical id -> ways to write it."""

    def __init__(self, choices: dict[str, list] | None = None, number_range: tuple | None = None):
        self.choices = choices  # canonical -> list of surface forms (str or hassil Expression)
        self.number_range = number_range  # (start, stop, step, multiplier, window)

    def draw(self, rng: random.Random) -> str:
        if self.choices is not None:
            return rng.choice(list(self.choices))
        start, stop, step, multiplier, window = self.number_range
        low, high, wstep = window or (start, stop, step)
        numbers = [n for n in range(max(low, start), min(high, stop) + 1, wstep) if (n - start) % step == 0]
        return _format_number(rng.choice(numbers or list(range(start, stop + 1, step))) * multiplier)

    def surface(self, canonical: str, rng: random.Random):
        """A surface form (str or Expression) of ``canonical``, or raise _CannotExpress."""
        if self.choices is not None:
            if canonical not in self.choices:
                raise _CannotExpress
            return rng.choice(self.choices[canonical])
        start, stop, step, multiplier, _ = self.number_range
        try:
            number = float(canonical) / multiplier
        except ValueError:
            raise _CannotExpress from None
        if not number.is_integer() or not start <= number <= stop or (number - start) % step:
            raise _CannotExpress
        return str(int(number))


def _format_number(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _slot_key(slot_set: frozenset) -> tuple:
    # Sets of strings iterate in hash order, which changes between processes: always sort before choosing.
    return (len(slot_set), sorted(slot_set))


def _combine(left: set, right: set) -> set:
    """Slot sets of a sequence: each slot at most once per utterance (values are per slot type)."""
    return {a | b for a in left for b in right if not a & b}


class _Block:
    """One data block of one intent (sentences sharing slots/context) with its own fill rules."""

    def __init__(self, grammar: _Grammar, intent: str, data):
        self.grammar, self.intent, self.data = grammar, intent, data
        self.rules = {**grammar.intents.expansion_rules, **data.expansion_rules}
        self.lists = {**grammar.intents.slot_lists, **data.slot_lists}
        self._families: dict[int, set] = {}
        self._supplies: dict[tuple, _Supply | None] = {}

    @cached_property
    def name_domains(self) -> frozenset:
        required = self.data.requires_context.get("domain") or self.data.slots.get("domain")
        if required is None:
            return values.DEFAULT_NAME_DOMAINS
        return frozenset([required] if isinstance(required, str) else required)

    def supply(self, ref) -> _Supply | None:
        key = (ref.list_name, ref.is_inline_range)
        if key not in self._supplies:
            self._supplies[key] = self._make_supply(ref)
        return self._supplies[key]

    def _make_supply(self, ref) -> _Supply | None:
        lang = self.grammar.language
        name = ref.list_name
        if ref.is_inline_range:
            start, stop, step = ref.get_inline_range()
            return _Supply(number_range=(start, stop, step, 1, None))
        if name in ("area", "floor", "name"):
            table = {"area": values.AREAS, "floor": values.FLOORS, "name": values.NAMES}[name]
            choices = {
                vid: list(forms[lang])
                for vid, forms in table.items()
                if name != "name" or forms["domain"] in self.name_domains
            }
            return _Supply(choices=choices) if choices else None
        slot_list = self.lists.get(name)
        if isinstance(slot_list, WildcardSlotList) or slot_list is None:
            table = values.WILDCARD_VALUES.get(name)
            return _Supply(choices={vid: list(forms[lang]) for vid, forms in table.items()}) if table else None
        if isinstance(slot_list, RangeSlotList):
            multiplier = slot_list.multiplier if slot_list.multiplier is not None else 1
            window = values.NUMBER_WINDOWS.get(name)
            return _Supply(number_range=(slot_list.start, slot_list.stop, slot_list.step, multiplier, window))
        if isinstance(slot_list, TextSlotList):
            choices: dict[str, list] = {}
            for value in slot_list.values:
                # A value without "out" is its own canonical value (its template text).
                canonical = str(value.value_out) if value.value_out is not None else _expression_key(value.text_in)
                choices.setdefault(canonical, []).append(value.text_in)
            return _Supply(choices=choices) if choices else None
        raise TypeError(f"{lang}: unexpected slot list type {type(slot_list).__name__} for {{{name}}}")

    def family(self, expr) -> set:
        """All slot sets a walk through ``expr`` can produce (empty set: ``expr`` cannot be generated)."""
        key = id(expr)
        if key in self._families:
            return self._families[key]
        if isinstance(expr, TextChunk):
            result = {frozenset()}
        elif isinstance(expr, ListReference):
            if self.supply(expr) is None:
                result = set()
            else:
                result = {frozenset() if expr.slot_name in _UNTAGGED_SLOTS else frozenset([expr.slot_name])}
        elif isinstance(expr, RuleReference):
            if expr.rule_name not in self.rules:
                raise KeyError(f"{self.grammar.language}/{self.intent}: missing expansion rule <{expr.rule_name}>")
            result = self.family(self.rules[expr.rule_name].expression)
        elif isinstance(expr, Alternative):
            result = set().union(*(self.family(item) for item in expr.items))
        elif isinstance(expr, (Permutation, Group)):
            result = {frozenset()}
            for item in expr.items:
                result = _combine(result, self.family(item))
        else:
            raise TypeError(f"unexpected template expression {type(expr).__name__}")
        self._families[key] = result
        return result

    def walk(self, expr, need: frozenset, fixed: dict[str, str], rng: random.Random, out: list) -> None:
        """Append (text, slot or None, canonical) pieces producing exactly the slot set ``need``.

        ``fixed`` holds the canonical values slots must take; other slots draw a random value.
        """
        if isinstance(expr, TextChunk):
            out.append((expr.original_text, None, None))
        elif isinstance(expr, ListReference):
            supply = self.supply(expr)
            slot = expr.slot_name
            canonical = fixed[slot] if slot in fixed else supply.draw(rng)
            form = supply.surface(canonical, rng)
            if not isinstance(form, str):
                pieces: list = []
                self.walk(form, frozenset(), {}, rng, pieces)
                form = "".join(text for text, _, _ in pieces)
            out.append((form, None, None) if slot in _UNTAGGED_SLOTS else (form, slot, canonical))
        elif isinstance(expr, RuleReference):
            self.walk(self.rules[expr.rule_name].expression, need, fixed, rng, out)
        elif isinstance(expr, Alternative):
            options = [item for item in expr.items if need in self.family(item)]
            self.walk(rng.choice(options), need, fixed, rng, out)
        elif isinstance(expr, (Permutation, Group)):
            items = list(expr.items)
            if isinstance(expr, Permutation):
                rng.shuffle(items)
            # suffix[k]: slot sets items[k:] can produce, so each item takes a share the rest can complete.
            suffix = [{frozenset()}]
            for item in reversed(items):
                suffix.append(_combine(self.family(item), suffix[-1]))
            suffix.reverse()
            remaining = need
            for k, item in enumerate(items):
                shares = [s for s in self.family(item) if s <= remaining and remaining - s in suffix[k + 1]]
                share = rng.choice(sorted(shares, key=_slot_key))
                self.walk(item, share, fixed, rng, out)
                remaining = remaining - share
        else:
            raise TypeError(f"unexpected template expression {type(expr).__name__}")


def _expression_key(expr) -> str:
    """A stable text for a template expression (canonical value of list entries that have no "out")."""
    if isinstance(expr, TextChunk):
        return expr.original_text.strip()
    if isinstance(expr, Group):
        return "|".join(_expression_key(item) for item in expr.items)
    return type(expr).__name__


def _assemble(intent: str, pieces: list) -> Utterance:
    """Join pieces collapsing whitespace (as hassil does) while tracking entity character spans."""
    text, spans, slots = "", [], {}
    for piece, slot, canonical in pieces:
        if slot is None:
            for char in piece:
                if not char.isspace():
                    text += char
                elif text and text[-1] != " ":
                    text += " "
        else:
            value = " ".join(piece.split())
            spans.append((slot, len(text), len(text) + len(value)))
            slots[slot] = canonical
            text += value
    return Utterance(intent=intent, text=text.rstrip(), spans=tuple(spans), slots=slots)


@dataclass(frozen=True)
class _Frame:
    """A sentence template together with the slot set one walk through it will produce."""

    block: _Block
    sentence: object
    slot_set: frozenset

    def generate(self, rng: random.Random, fixed: dict[str, str] | None = None) -> Utterance:
        pieces: list = []
        self.block.walk(self.sentence.expression, self.slot_set, fixed or {}, rng, pieces)
        return _assemble(self.block.intent, pieces)


class _Grammar:
    """All generable frames of one language, by intent."""

    def __init__(self, language: str):
        raw = get_intents(language)
        if raw is None:
            raise ValueError(f"home-assistant-intents has no templates for language {language!r}")
        self.language = language
        self.intents = Intents.from_dict(raw)
        self.frames: dict[str, list[_Frame]] = {}
        self.unsupported: list[str] = []  # intents with templates, none of which can be generated
        for intent_name in sorted(self.intents.intents):
            frames = []
            for data in self.intents.intents[intent_name].data:
                block = _Block(self, intent_name, data)
                for sentence in data.sentences:
                    for slot_set in sorted(block.family(sentence.expression), key=_slot_key):
                        frames.append(_Frame(block, sentence, slot_set))
            if frames:
                self.frames[intent_name] = frames
            else:
                self.unsupported.append(intent_name)

    def sample(self, intent: str, rng: random.Random) -> Utterance:
        return rng.choice(self.frames[intent]).generate(rng)

    def mirror(
        self, source: Utterance, rng: random.Random, held_out: frozenset[str] = frozenset()
    ) -> tuple[Utterance | None, str]:
        """An utterance of ``source``'s intent saying its slot values, or the closest fallback (see MATCH_*); never
        one whose ``text_key`` is in ``held_out`` (the language's dev and test texts: training must not see them)."""
        frames = self.frames.get(source.intent)
        if not frames:
            return None, MATCH_SOURCE_COPY
        wanted = frozenset(source.slots)
        by_size: dict[int, list[_Frame]] = {}
        for frame in frames:
            if frame.slot_set <= wanted:
                by_size.setdefault(len(frame.slot_set), []).append(frame)
        for size in sorted(by_size, reverse=True):
            candidates = list(by_size[size])
            rng.shuffle(candidates)
            for frame in candidates:
                fixed = {slot: source.slots[slot] for slot in frame.slot_set}
                for _ in range(_TRIES_PER_FRAME):
                    try:
                        utterance = frame.generate(rng, fixed)
                    except _CannotExpress:
                        continue
                    if text_key(utterance.text) in held_out:
                        continue
                    return utterance, MATCH_EXACT if frame.slot_set == wanted else MATCH_SUBSET

        # No template of this intent can say the values: keep the intent, share as many slot types as possible.
        def closeness(frame: _Frame) -> tuple[int, int]:
            return len(frame.slot_set & wanted), -len(frame.slot_set - wanted)

        best = max(closeness(frame) for frame in frames)
        closest = [f for f in frames if closeness(f) == best]
        for _ in range(_TRIES_PER_FRAME * len(closest)):
            utterance = rng.choice(closest).generate(rng)
            if text_key(utterance.text) not in held_out:
                return utterance, MATCH_INTENT_ONLY
        return None, MATCH_SOURCE_COPY


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


def text_key(text: str) -> str:
    """What makes two utterances the same sentence: case and white space aside (Thai has no spaces between words)."""
    return "".join(text.casefold().split())


@cache
def _grammar(language: str) -> _Grammar:
    # Parsing and analysing the templates is most of a small build; the result is read-only, so share it.
    return _Grammar(language)


def _sample_pool(grammar: _Grammar, intents: list[str], size: int, rng: random.Random) -> list[Utterance]:
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


# ----------------------------------------------------------------------------------------------------------
# Build, cache and load


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
    here = Path(__file__).resolve().parent
    sources = hashlib.sha256()
    for name in ("home_assistant.py", "home_assistant_values.py"):
        sources.update((here / name).read_bytes())
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
    grammars = {lang: _grammar(lang) for lang in languages}
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
