"""The projection alignment: word alignment from vectors and the English tags projected onto the translation, on
hand-made pairs whose alignment is known, a Thai pair encoded with XLM-R's real tokenizer, and training with it."""

import json

import pytest
import torch
from trainer_helpers import labelled_dataset, make_trainer, pair_dataset
from transformers import AutoTokenizer

from data.encoding import encode_pairs
from projection import IGNORE_INDEX, io_entities, project, project_batch

OUT, DATETIME, LOCATION, WEATHER, TODO = 0, 1, 2, 3, 4  # slot label ids
X = IGNORE_INDEX


def vectors(*rows):
    """One vector per word or unit; rows name the concepts (dimensions) each one expresses."""
    dimensions = sorted({concept for row in rows for concept in row.split("+")})
    table = torch.zeros(len(rows), len(dimensions))
    for index, row in enumerate(rows):
        for concept in row.split("+"):
            table[index, dimensions.index(concept)] = 1.0
    return table


def pair(english: list[str], units: list[str]):
    """Vectors of English words and translation units over the same concept dimensions."""
    table = vectors(*english, *units)
    return table[: len(english)], table[len(english) :]


def test_one_to_one_alignment_projects_every_tag():
    # "flights to new york" -> "vuelos a nueva york"
    english, units = pair(["flight", "to", "new", "york"], ["flight", "to", "new", "york"])
    result = project([OUT, OUT, LOCATION, LOCATION], english, units)
    assert result.labels == [OUT, OUT, LOCATION, LOCATION]
    assert result.kept == [(LOCATION, 2, 4)] and result.dropped == []


def test_one_to_many_and_many_to_one():
    # "the weather report in NYC" -> "el tiempo en nueva york": one unit for two words, two units for one word.
    english, units = pair(
        ["the", "weather", "weather+report", "in", "nyc"], ["the", "weather+report", "in", "nyc+new", "nyc+york"]
    )
    result = project([OUT, WEATHER, WEATHER, OUT, LOCATION], english, units)
    assert result.labels == [OUT, WEATHER, OUT, LOCATION, LOCATION]
    assert result.kept == [(WEATHER, 1, 3), (LOCATION, 4, 5)]


def test_unaligned_english_words_and_units_linked_to_o_words():
    # "please wake me at seven" -> "despiértame a las siete": "please" has no unit; "las" links to "at" (OUT).
    english, units = pair(["please", "wake", "me", "at", "seven"], ["wake+me", "at", "at+the", "seven"])
    assert project([OUT, OUT, OUT, OUT, DATETIME], english, units).labels == [OUT, OUT, OUT, DATETIME]


def test_an_entity_whose_span_crosses_another_words_alignment_is_dropped_and_its_units_unlabelled():
    # "fly new york tomorrow" -> "nueva fly york mañana": the location's anchors enclose a unit aligned to "fly".
    english, units = pair(["fly", "new", "york", "tomorrow"], ["new", "fly", "york", "tomorrow"])
    result = project([OUT, LOCATION, LOCATION, DATETIME], english, units)
    assert result.labels == [X, OUT, X, DATETIME]  # its units get no label, never O
    assert result.dropped == [(LOCATION, 1, 3)] and result.kept == [(DATETIME, 3, 4)]
    # Without the filter the span from its first to its last anchor is projected, the unit inside it included.
    unfiltered = project([OUT, LOCATION, LOCATION, DATETIME], english, units, filter="none")
    assert unfiltered.labels == [LOCATION, LOCATION, LOCATION, DATETIME]


def test_units_between_anchors_belong_to_the_entity_and_hubs_do_not_grow_it():
    # "call the lawyer tomorrow" -> "llama al abogado mañana": "al" is aligned to nothing and lies between the
    # todo's anchors; the datetime word "tomorrow" is a hub (every unit links back to it a little), yet only its
    # aligned unit is projected: a unit aligned to another word stops the growth.
    english, units = pair(
        ["call", "the", "lawyer", "tomorrow+hub"], ["call+hub", "x+hub", "lawyer+hub", "tomorrow+hub"]
    )
    result = project([TODO, TODO, TODO, DATETIME], english, units)
    assert result.labels == [TODO, TODO, TODO, DATETIME]
    assert result.kept == [(TODO, 0, 3), (DATETIME, 3, 4)]


def test_units_linking_into_a_kept_entity_outside_its_span_are_unlabelled():
    # "new+york" is aligned to the first unit; the third unit also links back to it, but the unit between them is
    # aligned to "fly": the span stays the first unit and the third gets no label.
    english, units = pair(["fly", "new+york", "tomorrow"], ["new+york", "fly", "new+york+city", "tomorrow"])
    result = project([OUT, LOCATION, DATETIME], english, units)
    assert result.labels == [LOCATION, OUT, X, DATETIME] and result.dropped == []


def test_weak_links_do_not_count():
    english, units = pair(["boston", "weather"], ["boston", "weather+rain+snow+wind"])
    assert project([LOCATION, WEATHER], english, units, min_similarity=0.6).labels == [LOCATION, X]
    assert project([LOCATION, WEATHER], english, units).labels == [LOCATION, WEATHER]


def test_entities_are_runs_of_one_type_and_truncated_words_end_them():
    assert io_entities([OUT, DATETIME, DATETIME, LOCATION, OUT, LOCATION, X, LOCATION]) == [
        (DATETIME, 1, 3),
        (LOCATION, 3, 4),
        (LOCATION, 5, 6),
        (LOCATION, 7, 8),
    ]


def test_bad_arguments():
    english, units = pair(["a"], ["a"])
    with pytest.raises(ValueError, match="consistent, none"):
        project([OUT], english, units, filter="strict")
    with pytest.raises(ValueError, match="2 word labels but 1"):
        project([OUT, OUT], english, units)
    assert project([X], english, units).labels == [X]  # no usable English word: nothing projected


def test_a_thai_translation_is_projected_onto_its_sub_word_units(embedded_encoder):
    """Thai has no spaces: its units are XLM-R's sub-words (as in the pipeline), and the English tag lands on the
    head token of the unit it aligns with."""
    import datasets

    tokenizer = AutoTokenizer.from_pretrained(embedded_encoder["path"])
    english = datasets.Dataset.from_list(
        [
            {
                "id": "0",
                "language": "en",
                "words": ["set", "an", "alarm", "for", "tomorrow"],
                "tags": ["O", "O", "O", "O", "B-datetime"],
                "intent": "alarm/set_alarm",
            }
        ]
    )
    thai = datasets.Dataset.from_dict({"id": ["0"], "text": ["ตั้งนาฬิกาปลุกพรุ่งนี้"]})
    row = encode_pairs(english, {"th": thai}, tokenizer, ["alarm/set_alarm"], ["O", "datetime"], 32)[0]
    pieces = tokenizer.convert_ids_to_tokens(row["translation_input_ids"])
    units = [pieces[head] for head in row["translation_unit_heads"]]
    assert units == ["ตั้ง", "นาฬิกา", "ป", "ลุก", "พรุ่งนี้"]  # sub-word units; the bare "▁" is never one
    # Hand-made vectors: "tomorrow" is "พรุ่งนี้", "alarm" is "นาฬิกา" + "ปลุก", "set" is "ตั้ง".
    hidden = 6
    english_states = torch.zeros(1, len(row["input_ids"]), hidden)
    translation_states = torch.zeros(1, len(row["translation_input_ids"]), hidden)
    for word, concept in zip(row["word_token_index"], [0, 1, 2, 3, 4]):
        english_states[0, word, concept] = 1.0
    for head, concepts in zip(row["translation_unit_heads"], [[0], [2], [2, 5], [2, 5], [4]]):
        translation_states[0, head, concepts] = 1.0
    word_index = torch.tensor([row["word_token_index"]])
    word_labels = torch.tensor([[0, 0, 0, 0, 1]])
    labels, (projection,) = project_batch(
        english_states, translation_states, word_index, word_labels, torch.tensor([row["translation_unit_heads"]])
    )
    heads = row["translation_unit_heads"]
    assert [labels[0, head].item() for head in heads] == [OUT, OUT, OUT, OUT, DATETIME]
    assert projection.kept == [(DATETIME, 4, 5)]
    assert all(labels[0, i] == X for i in range(labels.shape[1]) if i not in heads)  # only unit heads carry labels


@pytest.mark.parametrize("refresh", ["step", "never"])
def test_training_with_projection_logs_its_loss_and_what_it_kept(tmp_path, tiny_tokenizer, refresh):
    trainer = make_trainer(
        tmp_path,
        tokenizer=tiny_tokenizer,
        alignment=["projection", "crossaligner"],
        projection_refresh=refresh,
        max_steps=3,
    )
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert all(
        "projection_loss" in entry and entry["projection_weight"] != 1.0 or entry["step"] == 1 for entry in logs
    )  # CoV for two losses
    assert ("projection_kept_fraction" in logs[-1]) == (refresh == "step")
    assert ("projected_slot_labels" in trainer.train_dataset.column_names) == (refresh == "never")
    records = trainer.projected_records()
    assert list(records) == ["es"] and len(records["es"]) == len(trainer.train_dataset)
    first = records["es"][0]
    assert len(first["words"]) == len(first["tags"]) and first["english_words"]
    assert set(first) == {"id", "words", "tags", "english_words", "english_tags"}
    json.dumps(records)  # what projected_<lang>.jsonl holds


def test_projection_needs_the_pairs_units(tmp_path, tiny_tokenizer):
    dataset = pair_dataset(tiny_tokenizer).remove_columns("translation_unit_heads")
    trainer = make_trainer(tmp_path, tokenizer=tiny_tokenizer, alignment=["projection"], train_dataset=dataset)
    with pytest.raises(ValueError, match="translation_unit_heads"):
        trainer.train()
    assert labelled_dataset(tiny_tokenizer).column_names  # labelled sets carry no pair columns
