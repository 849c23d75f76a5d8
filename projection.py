# Copyright 2026 The CrossAligner XNLU authors. Apache-2.0.
"""Annotation projection for the `projection` alignment: word alignment from contextual embeddings, and the English
gold slot tags carried over to the translation through it.

Alignment (SimAlign's argmax method, Jalili Sabet et al. 2020): cosine similarities between the vectors of the
English words and of the translation's units (one vector per word or unit: its head token's hidden state at one
encoder layer). Each English word links forward to its most similar unit, each unit back to its most similar word;
a word and a unit that link to each other are aligned (the intersection: one-to-one, high precision, and immune to
"hub" words that many units link back to).

Projection of one English example's IO tags (entities: maximal runs of words with the same slot type):
- the anchors of an entity E are the units aligned to its words; its span runs from the first to the last anchor
  (units in between belong to it), and grows over neighbouring units that link back into E and are aligned to no
  other word (one English word written as several units: "NYC" -> "nueva york");
- filter `consistent` (default): E is kept only if no unit of its span is aligned to a word outside E; `none`
  keeps every E with an anchor;
- `min_similarity`: weaker links do not count;
- every other unit that links back to an English word outside the entities is O; units that link back into an
  entity but are not in its projected span (all of them, if it was dropped), and units without a link that counts,
  are unlabelled (-100: no loss), never O.

Units are what `modeling_crossaligner.word_units` makes of a text: space-separated words, and in scripts written
without spaces (Thai, Chinese, Japanese) the tokenizer's sub-words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

from modeling_crossaligner import IGNORE_INDEX, io_to_bio, word_units

OUTSIDE_ID = 0  # "O" is slot label 0 of every joint model
FILTERS = ("consistent", "none")


@dataclass
class Projection:
    """The projected slot label id of every unit of one translation (IGNORE_INDEX: unlabelled), and the English
    entities kept and dropped as (type id, first word, end word)."""

    labels: list[int]
    kept: list[tuple[int, int, int]] = field(default_factory=list)
    dropped: list[tuple[int, int, int]] = field(default_factory=list)


def io_entities(word_labels: list[int]) -> list[tuple[int, int, int]]:
    """(label id, first word, end word exclusive) of each maximal run of one non-O label; IGNORE_INDEX (a word
    truncated away) ends a run."""
    entities: list[tuple[int, int, int]] = []
    for index, label in enumerate(word_labels):
        if label in (OUTSIDE_ID, IGNORE_INDEX):
            continue
        if entities and entities[-1][0] == label and entities[-1][2] == index:
            entities[-1] = (label, entities[-1][1], index + 1)
        else:
            entities.append((label, index, index + 1))
    return entities


def align(english: torch.Tensor, translation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Argmax word alignment of (words, hidden) English vectors and (units, hidden) translation vectors: (forward
    link of each word, backward link of each unit, cosine similarity matrix words x units)."""
    similarity = F.normalize(english.float(), dim=-1) @ F.normalize(translation.float(), dim=-1).T
    return similarity.argmax(dim=1), similarity.argmax(dim=0), similarity


def project(
    word_labels: list[int],
    english: torch.Tensor,
    translation: torch.Tensor,
    filter: str = "consistent",
    min_similarity: float | None = None,
) -> Projection:
    """Project one example's English word labels (IO label ids per word; IGNORE_INDEX for a word without a vector)
    onto the units of its translation, from the words' and units' vectors (see the module docstring)."""
    if filter not in FILTERS:
        raise ValueError(f"unknown projection filter {filter!r}; valid: {', '.join(FILTERS)}")
    if len(word_labels) != english.shape[0]:
        raise ValueError(f"{len(word_labels)} word labels but {english.shape[0]} English word vectors")
    units = translation.shape[0]
    usable = [index for index, label in enumerate(word_labels) if label != IGNORE_INDEX]
    if units == 0 or not usable:
        return Projection(labels=[IGNORE_INDEX] * units)
    forward, backward, similarity = align(english[usable], translation)
    strong_unit = [True] * units
    strong_word = [True] * len(usable)
    if min_similarity is not None:
        strong_unit = (similarity.max(dim=0).values >= min_similarity).tolist()
        strong_word = (similarity.max(dim=1).values >= min_similarity).tolist()
    # Each unit's English word (its backward link), and the word it is aligned to (both links agree), or None.
    linked = [usable[word] if strong_unit[unit] else None for unit, word in enumerate(backward.tolist())]
    aligned = [
        usable[word] if strong_unit[unit] and strong_word[word] and forward[word] == unit else None
        for unit, word in enumerate(backward.tolist())
    ]

    labels = [OUTSIDE_ID if word is not None else IGNORE_INDEX for word in linked]
    result = Projection(labels=labels)
    projected: dict[int, int] = {}  # unit -> label, of the kept entities' spans
    for entity in io_entities(word_labels):
        label, first, end = entity
        inside = range(first, end)
        anchors = [unit for unit, word in enumerate(aligned) if word in inside]
        span = range(0)
        if anchors:
            # From the first to the last anchor, grown over neighbours that link back into the entity and are
            # aligned to no word.
            start, stop = anchors[0], anchors[-1] + 1
            while start > 0 and linked[start - 1] in inside and aligned[start - 1] is None:
                start -= 1
            while stop < units and linked[stop] in inside and aligned[stop] is None:
                stop += 1
            span = range(start, stop)
        crossing = any(aligned[unit] is not None and aligned[unit] not in inside for unit in span)
        kept = bool(span) and (filter == "none" or not crossing)
        (result.kept if kept else result.dropped).append(entity)
        if kept:
            projected.update(dict.fromkeys(span, label))
    for unit, word in enumerate(linked):
        if unit in projected:
            labels[unit] = projected[unit]
        elif word is not None and word_labels[word] != OUTSIDE_ID:
            labels[unit] = IGNORE_INDEX  # part of an entity by its link, but in no projected span: unknown
    return result


def project_batch(
    english_states: torch.Tensor,
    translation_states: torch.Tensor,
    word_token_index: torch.Tensor,
    word_labels: torch.Tensor,
    unit_heads: torch.Tensor,
    filter: str = "consistent",
    min_similarity: float | None = None,
) -> tuple[torch.Tensor, list[Projection]]:
    """`project` for a batch of pairs: hidden states (batch, tokens, hidden) of each side, the English head token of
    each word (batch, words; -1: none), the English words' label ids (batch, words) and the translation's head token
    of each unit (batch, units; -1: padding). Returns the slot labels of the translation tokens (batch, tokens;
    IGNORE_INDEX except on unit heads) and each example's Projection."""
    labels = torch.full(translation_states.shape[:2], IGNORE_INDEX, dtype=torch.long, device=translation_states.device)
    projections = []
    for row in range(english_states.shape[0]):
        words = word_token_index[row]
        heads = unit_heads[row][unit_heads[row] >= 0]
        word_vectors = english_states[row, words.clamp(min=0)]
        row_labels = [
            IGNORE_INDEX if head < 0 else int(label) for head, label in zip(words.tolist(), word_labels[row].tolist())
        ]
        projection = project(row_labels, word_vectors, translation_states[row, heads], filter, min_similarity)
        labels[row, heads] = torch.tensor(projection.labels, dtype=torch.long, device=labels.device)
        projections.append(projection)
    return labels, projections


def projection_layer(num_layers: int, requested: int | None = None) -> int:
    """The encoder layer whose hidden states align words: `requested`, or two thirds of the depth (middle layers
    align best: 8 of 12, 16 of 24)."""
    layer = requested if requested is not None else round(2 * num_layers / 3)
    if not 0 <= layer <= num_layers:
        raise ValueError(f"projection_layer {layer}: the encoder has layers 0 (embeddings) to {num_layers}")
    return layer


def projected_records(dataset, labels: Sequence[Sequence[int]], tokenizer, slot_labels: Sequence[str]) -> dict:
    """Per target language, what projection trains on for each pair of `dataset` (data.encode_pairs rows): the
    translation's units (`words`) and their projected BIO `tags` (None: unlabelled), with the English words and
    tags; `labels` are the projected slot label ids of each pair's translation tokens."""
    records: dict[str, list[dict]] = {}
    for row, row_labels in zip(dataset, labels):
        # The tokens the translation was encoded into (the same truncation), with their offsets.
        encoding = tokenizer(
            row["translation_text"],
            truncation=True,
            max_length=len(row["translation_input_ids"]),
            return_offsets_mapping=True,
        )
        offsets = encoding["offset_mapping"]
        units = word_units(row["translation_text"], encoding.tokens(), offsets, encoding.word_ids())
        words = [row["translation_text"][offsets[unit[0]][0] : offsets[unit[-1]][1]].strip() for unit in units]
        io_tags = [
            None if row_labels[head] == IGNORE_INDEX else slot_labels[row_labels[head]]
            for head in row["translation_unit_heads"]
        ]
        records.setdefault(row["translation_language"], []).append(
            {
                "id": row["id"],
                "words": words,
                "tags": bio_with_gaps(io_tags),
                "english_words": row["words"],
                "english_tags": row["tags"],
            }
        )
    return records


def bio_with_gaps(io_tags: list[str | None]) -> list[str | None]:
    """`io_to_bio` over runs of labelled units; an unlabelled unit (None) stays None and ends a run."""
    tags: list[str | None] = []
    run: list[str] = []
    for tag in [*io_tags, None]:
        if tag is None:
            tags += io_to_bio(run)
            run = []
            if len(tags) < len(io_tags):
                tags.append(None)
        else:
            run.append(tag)
    return tags
