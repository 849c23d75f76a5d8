"""Utterances generated from the Home Assistant intent templates of one language, with their entity spans.

hassil's own sampler enumerates every expansion and loses the slot spans, so this module walks the parsed template
trees itself: at every alternative it picks one branch at random, and it fills every ``{list}`` reference with a
value, remembering the character span and the canonical value. A template is first chosen together with its slot
set (``frame``); the walk is then constrained to produce exactly that slot set, which is what lets a target
utterance mirror an English one (``Grammar.mirror``). Values for ``{area}``, ``{floor}``, ``{name}`` and a few
wildcards come from ``home_assistant_values`` (the templates do not ship them); numbers are written as digits in
every language. Templates that need a value this module cannot supply (e.g. the free-text ``{message}`` wildcard)
are skipped, and an intent left without templates is listed in ``Grammar.unsupported``. ``requires_context`` blocks
are kept (they are ordinary utterances whose area comes from the speaking device); their ``domain`` restriction
decides which device names may fill ``{name}``.

Words and tags. Text is split on whitespace AND at every slot-value boundary, so every entity covers whole
words even where the template glues a value to other text: Thai writes no spaces ("เปิดไฟในห้องครัว" ->
["เปิดไฟใน", "ห้องครัว"]), and Latin templates glue units or suffixes ("50%" -> ["50", "%"]). Thai text between
values stays one word per template chunk (no Thai word segmenter is used). Tags are BIO over the words.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cache, cached_property

from hassil.expression import Alternative, Group, ListReference, Permutation, RuleReference, TextChunk
from hassil.intents import Intents, RangeSlotList, TextSlotList, WildcardSlotList
from home_assistant_intents import get_intents

from . import home_assistant_values as values

# Attempts per target frame before trying the next one (a frame can fail when the random walk reaches a list
# that cannot express the required value, e.g. "{brightness_level}" for brightness 35).
_TRIES_PER_FRAME = 4

# How a mirrored utterance (Grammar.mirror) relates to its source utterance.
MATCH_EXACT = "exact"  # same intent, same slot set, same canonical values
MATCH_SUBSET = "subset"  # same intent, only the largest expressible subset of the slots (values kept)
MATCH_INTENT_ONLY = "intent_only"  # same intent, but the target templates cannot say the values: values redrawn
MATCH_SOURCE_COPY = "source_copy"  # the target language lacks the intent: the English text is used unchanged
# Slots some languages capture as a list while English writes the same words as plain template text (German
# "{licht:domain}" vs English "lights" with a fixed ``domain: light``): rendered as text, never tagged, so that
# no language has an entity type English cannot show.
_UNTAGGED_SLOTS = frozenset({"domain"})


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

    def __init__(self, grammar: Grammar, intent: str, data):
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


class Grammar:
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


def text_key(text: str) -> str:
    """What makes two utterances the same sentence: case and white space aside (Thai has no spaces between words)."""
    return "".join(text.casefold().split())


@cache
def language_grammar(language: str) -> Grammar:
    """The grammar of ``language``, built once per process."""
    # Parsing and analysing the templates is most of a small build; the result is read-only, so share it.
    return Grammar(language)
