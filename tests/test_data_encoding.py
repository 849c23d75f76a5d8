"""Encoding of the common schema into model inputs, with the tiny tokenizer of tests/tiny_models.py."""

from __future__ import annotations

import logging
from pathlib import Path

import datasets
import pytest

from data import encode_labelled, encode_pairs, first_text_piece_index, load_corpus
from data.corpus import EXAMPLE_FEATURES, TRANSLATION_FEATURES
from data.encoding import IGNORE_INDEX, bare_piece_id, unseen_labels

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "data"
INTENTS = ["alarm_set", "weather_query"]
SLOTS = ["O", "place", "time"]


def labelled(rows):
    return datasets.Dataset.from_list(
        [
            {"id": str(i), "language": language, "words": words, "tags": tags, "intent": intent}
            for i, (language, words, tags, intent) in enumerate(rows)
        ],
        features=EXAMPLE_FEATURES,
    )


def pieces(tokenizer, ids):
    return tokenizer.convert_ids_to_tokens(ids)


def test_label_on_first_sub_word_that_carries_text(tiny_tokenizer):
    dataset = labelled([("zh", ["美国航空", "the"], ["B-place", "O"], "weather_query")])
    row = encode_labelled(dataset, tiny_tokenizer, INTENTS, SLOTS, 16)[0]
    tokens = pieces(tiny_tokenizer, row["input_ids"])
    assert tokens == ["<s>", "▁", "美国", "航空", "▁the", "</s>"]
    assert row["word_token_index"] == [2, 4]  # on 美国, never on the bare ▁
    assert row["slot_labels"] == [IGNORE_INDEX, IGNORE_INDEX, 1, IGNORE_INDEX, 0, IGNORE_INDEX]
    assert row["intent_labels"] == 1 and row["attention_mask"] == [1] * 6 and row["truncated"] is False
    assert row["tags"] == ["B-place", "O"] and row["words"] == ["美国航空", "the"]  # original gold kept


def test_first_text_piece_index_directly(tiny_tokenizer):
    bare = bare_piece_id(tiny_tokenizer)
    encoding = tiny_tokenizer([["北京", "the"]], is_split_into_words=True)
    assert first_text_piece_index(encoding.word_ids(0), encoding["input_ids"][0], 2, bare) == [2, 3]
    assert first_text_piece_index([None, 0, 0, None], [0, bare, bare, 2], 2, bare) == [-1, -1]


def test_multi_piece_words_io_labels_and_test_only_labels(tiny_tokenizer):
    dataset = labelled(
        [
            ("en", ["wake", "me", "at", "nine", "am"], ["O", "O", "O", "B-time", "I-time"], "alarm_set"),
            ("en", ["weather", "in", "xyz"], ["O", "O", "B-city"], "weather_forecast"),  # test-only type and intent
        ]
    )
    rows = encode_labelled(dataset, tiny_tokenizer, INTENTS, SLOTS, 32)
    first, second = rows[0], rows[1]
    labelled_positions = [first["slot_labels"][i] for i in first["word_token_index"]]
    assert labelled_positions == [0, 0, 0, 2, 2]  # IO: B-time and I-time are both "time"
    assert sum(label != IGNORE_INDEX for label in first["slot_labels"]) == 5
    xyz = second["word_token_index"][2]
    assert pieces(tiny_tokenizer, second["input_ids"])[xyz : xyz + 3] == ["▁x", "y", "z"]
    assert second["slot_labels"][xyz] == IGNORE_INDEX and second["intent_labels"] == IGNORE_INDEX
    assert unseen_labels(dataset, INTENTS, SLOTS) == {"intents": {"weather_forecast": 1}, "slot_types": {"city": 1}}
    assert unseen_labels(dataset, [*INTENTS, "weather_forecast"], [*SLOTS, "city"]) == {}


def test_truncation_is_flagged_and_reported(tiny_tokenizer, caplog):
    dataset = labelled(
        [
            ("en", ["wake", "me", "up", "at", "nine", "am"], ["O"] * 4 + ["B-time", "I-time"], "alarm_set"),
            ("en", ["the", "weather"], ["O", "O"], "weather_query"),
        ]
    )
    with caplog.at_level(logging.WARNING):
        rows = encode_labelled(dataset, tiny_tokenizer, INTENTS, SLOTS, 5)
    assert len(rows[0]["input_ids"]) == 5 and rows[0]["input_ids"][-1] == tiny_tokenizer.eos_token_id
    assert rows[0]["word_token_index"] == [1, 2, 3, -1, -1, -1]
    assert [row["truncated"] for row in rows] == [True, False]
    assert "1 were truncated to max_seq_length=5 tokens (3 words lost their token)" in caplog.text


def test_dataset_dict_is_encoded_per_split_and_cached(tiny_tokenizer, tmp_path):
    corpus = load_corpus("jsonl", str(FIXTURES / "jsonl"), cache_dir=str(tmp_path))
    args = (tiny_tokenizer, corpus.intent_labels(), corpus.slot_labels(), 24)
    first = encode_labelled(corpus.labelled["en"], *args)
    assert set(first) == {"train", "test"} and len(first["train"]) == 3
    again = encode_labelled(corpus.labelled["en"], *args)
    assert again["train"].cache_files == first["train"].cache_files  # loaded, not recomputed
    assert again["train"]._fingerprint == first["train"]._fingerprint


def test_pairs_every_english_example_with_every_target_language(tiny_tokenizer, tmp_path):
    corpus = load_corpus("massive", str(FIXTURES / "massive"), cache_dir=str(tmp_path))
    labels = (corpus.intent_labels(), corpus.slot_labels())
    pairs = encode_pairs(
        corpus.labelled["en"]["train"], corpus.translations, tiny_tokenizer, *labels, 24, ["th", "zh-cn"]
    )
    # 3 English examples; th translates all 3, zh-cn 2 of them (the third is reported, not paired).
    assert pairs["translation_language"] == ["th"] * 3 + ["zh-cn"] * 2
    assert pairs["id"] == ["1", "2", "3", "1", "2"]
    assert pairs["translation_text"][3] == "明天九点叫醒我"
    row = pairs[1]  # "weather in berlin at 10:30": O, place_name, time
    assert row["crossaligner_targets"] == [1.0, 1.0, 1.0]
    assert pairs[2]["crossaligner_targets"] == [1.0, 0.0, 0.0]  # no slots: only O
    encoded = tiny_tokenizer(row["translation_text"], truncation=True, max_length=24)
    assert row["translation_input_ids"] == encoded["input_ids"]  # tokenized on its own, as plain text
    assert row["translation_attention_mask"] == [1] * len(encoded["input_ids"])
    for column in ("input_ids", "slot_labels", "word_token_index", "intent_labels", "translation_truncated"):
        assert column in pairs.column_names


def test_pairs_from_line_aligned_translations_and_errors(tiny_tokenizer, tmp_path, caplog):
    corpus = load_corpus("mtod", str(FIXTURES / "mtod"), cache_dir=str(tmp_path))
    args = (tiny_tokenizer, corpus.intent_labels(), corpus.slot_labels())
    with caplog.at_level(logging.WARNING):
        pairs = encode_pairs(corpus.labelled["en"]["train"], corpus.translations, *args, 6)
    assert len(pairs) == 4 and pairs["id"] == corpus.labelled["en"]["train"]["id"]  # duplicates paired too
    assert all(len(ids) <= 6 for ids in pairs["translation_input_ids"])
    assert "th translations were truncated to max_seq_length=6" in caplog.text
    with pytest.raises(ValueError, match=r"no translations for target language\(s\) \['es'\]"):
        encode_pairs(corpus.labelled["en"]["train"], corpus.translations, *args, 24, ["es"])


def test_pairs_need_unique_ids_when_not_row_aligned(tiny_tokenizer):
    english = labelled([("en", ["the"], ["O"], "alarm_set"), ("en", ["a"], ["O"], "alarm_set")])
    english = english.map(lambda row: {"id": "same"})
    translation = datasets.Dataset.from_list([{"id": "same", "text": "x"}], features=TRANSLATION_FEATURES)
    with pytest.raises(ValueError, match="English ids are not unique"):
        encode_pairs(english, {"de": translation}, tiny_tokenizer, INTENTS, SLOTS, 8)


def test_the_tokenizer_fingerprint_ignores_and_keeps_the_backends_truncation_and_padding(tiny_tokenizer):
    from data.encoding import tokenizer_fingerprint

    before = tokenizer_fingerprint(tiny_tokenizer)
    tiny_tokenizer("a b c", truncation=True, max_length=3, padding="max_length")
    backend = tiny_tokenizer.backend_tokenizer
    truncation, padding = backend.truncation, backend.padding
    assert truncation is not None and padding is not None
    assert tokenizer_fingerprint(tiny_tokenizer) == before
    assert (backend.truncation, backend.padding) == (truncation, padding)  # restored, not cleared


def test_translations_join_their_english_rows_by_id_in_english_order():
    from data.translations import join_by_id

    # English "b" has no translation; of the two translations of "a", the first is taken.
    assert join_by_id(["a", "b", "c"], ["c", "a", "x", "a"]) == ([0, 2], [1, 0])
