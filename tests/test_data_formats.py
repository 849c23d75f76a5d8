"""Readers of every supported format, on the hand-written fixtures in tests/fixtures/data/."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest

import data
from data import DataFormatError, load_corpus
from data.corpus import EXAMPLE_FEATURES
from data.jsonl import read_labelled
from data.massive import read_massive
from data.mtod import read_conllu
from data.mtop import read_mtop
from data.multiatis import read_tsv

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "data"
BAD = FIXTURES / "bad"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data_cache"))


def load(name, cache_dir, **kwargs):
    return load_corpus(name, str(FIXTURES / name), cache_dir=cache_dir, **kwargs)


def examples(corpus, language, split):
    return list(corpus.labelled[language][split])


def test_unknown_format_lists_the_valid_names():
    with pytest.raises(ValueError, match="mtod, m_atis, mtop, massive, jsonl, xsid"):
        load_corpus("conll2003", str(FIXTURES))


def test_every_reader_yields_the_common_schema(cache_dir):
    for name in ("mtod", "m_atis", "mtop", "massive", "jsonl", "xsid"):
        corpus = load(name, cache_dir)
        assert corpus.name == name
        for splits in corpus.labelled.values():
            for dataset in splits.values():
                assert dataset.features == EXAMPLE_FEATURES
        for translation in corpus.translations.values():
            assert translation.column_names == ["id", "text"]


def test_mtod_blocks_nolabel_duplicates_and_line_aligned_translations(cache_dir):
    corpus = load("mtod", cache_dir)
    train = examples(corpus, "en", "train")
    assert len(train) == 4 and train[0]["words"] == train[1]["words"]  # duplicates are real examples
    assert train[0] == {
        "id": "en-train-0",
        "language": "en",
        "intent": "weather/find",
        "words": ["tell", "me", "the", "weather", "in", "boston"],
        "tags": ["O", "O", "O", "B-weather/noun", "O", "B-location"],
    }
    assert train[3]["tags"] == ["O", "O", "O"]
    assert examples(corpus, "th", "test")[0]["words"] == ["ตั้ง", "นาฬิกา", "ปลุก", "พรุ่งนี้"]
    assert list(corpus.translations) == ["th"]  # en/train.tsv holds the English utterances, not a translation
    assert corpus.translations["th"]["id"] == [example["id"] for example in train]
    assert corpus.translations["th"][2]["text"] == "ตั้งนาฬิกาปลุกเจ็ดโมงเช้าพรุ่งนี้"
    assert corpus.target_languages() == ["th"]


def test_label_inventories_come_from_the_training_data(cache_dir):
    corpus = load("mtod", cache_dir)
    assert corpus.intent_labels() == ["alarm/cancel_alarm", "alarm/set_alarm", "weather/find"]
    assert corpus.slot_labels() == ["O", "datetime", "location", "weather/noun"]
    # reminder/todo and reminder/set_reminder occur only in the test split: not in the inventories.
    assert corpus.slot_labels(["en", "th"]) == corpus.slot_labels()
    with pytest.raises(ValueError, match="no training data for language 'de'"):
        corpus.intent_labels(["de"])


def test_multiatis_multilabel_intents_chinese_and_no_pickles(cache_dir, monkeypatch):
    def no_unpickling(*args, **kwargs):
        raise AssertionError("a reader unpickled a file")

    monkeypatch.setattr("pickle.load", no_unpickling)
    monkeypatch.setattr("pickle.loads", no_unpickling)
    corpus = load("m_atis", cache_dir)
    assert examples(corpus, "en", "train")[1]["intent"] == "atis_flight#atis_airfare"
    assert "atis_flight#atis_airfare" in corpus.intent_labels()
    zh = examples(corpus, "zh", "test")[0]
    assert zh["words"] == ["美国航空", "的", "航班"] and zh["tags"] == ["B-airline_name", "O", "O"]
    assert corpus.translations["zh"]["id"] == ["0", "1", "2"]


def test_mtop_nested_slots_keep_the_outermost_and_pair_by_id_or_file(cache_dir):
    corpus = load("mtop", cache_dir)
    reminder = examples(corpus, "en", "train")[0]
    assert reminder["id"] == "101"
    # SL:DATE_TIME (seven tomorrow) is nested inside SL:TODO: only SL:TODO is kept.
    assert reminder["tags"] == [
        "B-SL:PERSON_REMINDED",
        "I-SL:PERSON_REMINDED",
        "O",
        "B-SL:TODO",
        "I-SL:TODO",
        "I-SL:TODO",
        "I-SL:TODO",
        "I-SL:TODO",
    ]
    assert examples(corpus, "en", "dev")[0]["tags"][-1] == "B-SL:LOCATION"  # eval.txt is the dev split
    assert examples(corpus, "es", "train")[0]["id"] == "es-train-0"  # 7 columns: no id
    # th has no train.tsv: its examples that share an id with English train (101, 102; not 103) are the translations.
    assert corpus.translations["th"][:] == {"id": ["101", "102"], "text": ["เตือน ฉัน", "อากาศ เป็น อย่างไร"]}
    assert len(corpus.translations["es"]) == 3  # es/train.tsv, line-aligned


def test_massive_locales_partitions_brackets_and_unspaced_scripts(cache_dir):
    corpus = load("massive", cache_dir)
    assert sorted(corpus.labelled) == ["en", "th", "zh-cn", "zh-tw"]  # zh-CN and zh-TW share "zh"
    weather = examples(corpus, "en", "train")[1]
    assert weather["words"] == ["weather", "in", "berlin", "at", "10:30"]
    assert weather["tags"] == ["O", "O", "B-place_name", "O", "B-time"]
    assert examples(corpus, "zh-cn", "train")[0]["words"] == ["明天", "九点", "叫醒我"]
    assert examples(corpus, "zh-cn", "train")[0]["tags"] == ["B-date", "B-time", "O"]
    assert examples(corpus, "th", "test")[0]["tags"] == ["O", "B-date"]
    assert corpus.translations["zh-tw"][:] == {"id": ["1"], "text": ["明天九點叫醒我"]}
    subset = load("massive", cache_dir, languages=["en-US", "th"])
    assert sorted(subset.labelled) == ["en", "th"]


def test_jsonl_words_tags_text_spans_and_translations_by_id(cache_dir):
    corpus = load("jsonl", cache_dir)
    train = examples(corpus, "en", "train")
    assert train[1]["words"] == ["weather", "in", "new", "york"] and train[1]["tags"][2:] == ["B-place", "I-place"]
    assert train[2]["tags"] == ["O"] * 4
    assert examples(corpus, "de", "test")[1]["tags"] == ["O", "O", "O", "B-time", "I-time"]
    assert list(corpus.labelled["de"]) == ["test"]
    # translations.jsonl lists e3 before e1 and lacks e2: English training order, missing one reported.
    assert corpus.translations["de"][:] == {"id": ["e1", "e3"], "text": ["weck mich um neun uhr", "mach das licht aus"]}


def test_languages_restrict_what_is_read(cache_dir):
    corpus = load("mtod", cache_dir, languages=["th"])
    assert list(corpus.labelled) == ["th"] and corpus.translations == {}


def test_second_load_comes_from_the_cache_and_edits_invalidate_it(tmp_path):
    data_dir = tmp_path / "m_atis"
    shutil.copytree(FIXTURES / "m_atis", data_dir)
    cache = str(tmp_path / "cache")
    first = load_corpus("m_atis", str(data_dir), cache_dir=cache)
    again = load_corpus("m_atis", str(data_dir), cache_dir=cache)
    assert again.labelled["en"]["train"].cache_files == first.labelled["en"]["train"].cache_files
    test_file = data_dir / "en" / "test.txt"
    test_file.write_text(test_file.read_text() + "9\tflights\tO\tatis_flight\n")
    os.utime(test_file, ns=(1, 1))  # a different size and time: the cache key changes
    assert len(load_corpus("m_atis", str(data_dir), cache_dir=cache).labelled["en"]["test"]) == 3


# --- real releases: their quirks, and reading only what a run needs ----------------------------------------------

NBSP = "\u00a0"
ZERO_SHOT_SPLITS = {"en": ["train", "test"], "es": ["test"], "fr": ["test"]}


def test_multiatis_release_quirks_are_read_as_the_format_defines(cache_dir):
    """The CrossAligner release of MultiATIS++: tokens separated by single spaces only (a token may hold a
    non-breaking space), a byte-order mark, CRLF line ends and a trailing tab."""
    corpus = load_corpus(
        "m_atis",
        str(FIXTURES / "m_atis_release"),
        cache_dir=cache_dir,
        splits=ZERO_SHOT_SPLITS,
        translation_languages=["es", "fr"],
    )
    spanish = examples(corpus, "es", "test")
    assert spanish[0]["words"] == ["vuelos", "a", "washington", f"D.{NBSP}C."]  # one token, one tag
    assert spanish[0]["tags"] == ["O", "O", "B-toloc.city_name", "I-toloc.city_name"]
    assert spanish[0]["intent"] == "atis_flight" and spanish[1]["id"] == "21"  # trailing tab, CRLF
    assert examples(corpus, "en", "train")[0]["id"] == "0"  # the byte-order mark is not part of the header
    assert examples(corpus, "en", "test")[1]["tags"][-1] == "B-city_name"
    assert corpus.translations["es"]["text"][0] == f"muestra vuelos de boston a washington D.{NBSP}C."
    assert len(corpus.translations["fr"]) == 4
    # Only the files the plan names were opened: Spanish labelled training data (with a malformed line) was not.
    assert list(corpus.labelled["es"]) == ["test"] and corpus.skipped == []


def test_a_malformed_line_stops_a_full_read_with_file_line_and_reason(cache_dir):
    with pytest.raises(
        DataFormatError,
        match=r"es/train.txt, line 3: empty tag at position 6 \(two spaces in a "
        r"row\): expected one tag per position",
    ):
        load_corpus("m_atis", str(FIXTURES / "m_atis_release"), cache_dir=cache_dir)


def test_skip_malformed_skips_logs_and_counts_also_from_the_cache(tmp_path, caplog):
    cache = str(tmp_path / "cache")
    release = str(FIXTURES / "m_atis_release")
    for attempt in ("read", "cached"):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            corpus = load_corpus("m_atis", release, cache_dir=cache, skip_malformed=True)
        path = str(FIXTURES / "m_atis_release" / "es" / "train.txt")
        assert corpus.skipped == [{"path": path, "line": 3, "reason": corpus.skipped[0]["reason"]}], attempt
        assert "empty tag at position 6" in corpus.skipped[0]["reason"]
        assert corpus.skipped_counts() == {path: 1}
        assert [row["id"] for row in examples(corpus, "es", "train")] == ["0", "2", "3"]
        assert f"skipped malformed example: {path}, line 3" in caplog.text, attempt


def test_mtop_release_columns_bom_crlf_trailing_tab_and_extra_json_fields(tmp_path, cache_dir):
    corpus = load("mtop", cache_dir)
    assert examples(corpus, "th", "test")[0]["tags"][0] == "O"  # a file with a byte-order mark and CRLF
    assert examples(corpus, "en", "test")[0]["id"] == "105"  # a line with a trailing tab
    line = (FIXTURES / "mtop" / "en" / "train.txt").read_text(encoding="utf-8").splitlines()[0]
    columns = line.split("\t")
    record = json.loads(columns[7])
    record["unusedField"] = {"nested": [1, 2]}
    columns[7], columns[4], columns[6] = json.dumps(record), "any domain", "[IN:ANY [SL:ANY any ] ]"
    (tmp_path / "train.txt").write_text("\t".join(columns) + "\n", encoding="utf-8")
    (example,) = read_mtop(str(tmp_path / "train.txt"), language="en", split="train")
    assert example["words"][0] == "remind" and example["tags"][0] == "B-SL:PERSON_REMINDED"


def test_massive_release_fields_the_project_does_not_use_are_never_checked(tmp_path):
    record = json.loads((FIXTURES / "massive" / "th-TH.jsonl").read_text(encoding="utf-8-sig").splitlines()[0])
    assert {"scenario", "worker_id", "slot_method", "judgments"} <= set(record)  # MASSIVE 1.1's fields
    record.update(scenario=None, worker_id=7, slot_method="?", judgments=[{"anything": None}])
    other_partition = {"id": "9", "partition": "test", "intent": None}  # broken, but not in the partition read
    path = tmp_path / "th-TH.jsonl"
    path.write_text(json.dumps(record) + "\n" + json.dumps(other_partition) + "\n", encoding="utf-8")
    (example,) = read_massive(str(path), language="th", split="train")
    assert example["tags"][-1] == "B-time"


# --- bad input: clear errors naming file, line and what was expected ---------------------------------------------


@pytest.mark.parametrize(
    "reader, file, kwargs, line, message",
    [
        (read_conllu, "mtod_missing_column.conllu", {"split": "train"}, 5, "expected index, token, intent and tag"),
        (read_conllu, "mtod_bad_tag.conllu", {"split": "train"}, 1, "malformed BIO tag 'X-datetime'"),
        (read_conllu, "mtod_no_intent.conllu", {"split": "train"}, 1, "without a '# intent:' line"),
        (read_tsv, "m_atis_count_mismatch.txt", {}, 2, "3 words but 2 tags"),
        (read_tsv, "m_atis_bad_tag.txt", {}, 2, "malformed BIO tag 'B-'"),
        (read_tsv, "m_atis_bad_header.txt", {}, 1, "expected \\['id', 'utterance', 'slot_labels', 'intent'\\]"),
        (read_tsv, "empty.txt", {}, None, "empty file"),
        (read_mtop, "mtop_span_out_of_range.txt", {"split": "train"}, 1, "malformed span 12:99"),
        (read_mtop, "mtop_malformed_slot.txt", {"split": "train"}, 1, "expected start:end:SL:TYPE"),
        (read_mtop, "mtop_crossing_spans.txt", {"split": "train"}, 1, "crosses span 0:10"),
        (read_mtop, "mtop_bad_json.txt", {"split": "train"}, 1, "bad tokens JSON"),
        (read_mtop, "mtop_six_columns.txt", {"split": "train"}, 1, "6 columns: expected 8"),
        (read_massive, "massive_bad_annotation.jsonl", {"split": "train"}, 1, "expected slots as \\[type : value\\]"),
        (read_massive, "massive_bad_partition.jsonl", {"split": "train"}, 1, "partition 'validation'"),
        (read_labelled, "jsonl_count_mismatch.jsonl", {"split": "train"}, 1, "2 words but 1 tags"),
        (read_labelled, "jsonl_bad_span.jsonl", {"split": "train"}, 1, "malformed span 5:3:who"),
        (read_labelled, "jsonl_not_json.jsonl", {"split": "train"}, 2, "expected one JSON object per line"),
    ],
)
def test_bad_files_raise_errors_naming_file_line_and_expectation(reader, file, kwargs, line, message):
    path = str(BAD / file)
    with pytest.raises(DataFormatError, match=message) as error:
        list(reader(path, language="en", **kwargs))
    assert error.value.path == path and error.value.line == line
    assert str(error.value).startswith(path + (f", line {line}" if line else ""))


def test_bad_file_errors_surface_through_the_cached_loader(tmp_path):
    data_dir = tmp_path / "m_atis"
    shutil.copytree(FIXTURES / "m_atis", data_dir)
    shutil.copy(BAD / "m_atis_count_mismatch.txt", data_dir / "zh" / "dev.txt")
    with pytest.raises(DataFormatError, match=r"zh/dev.txt, line 2: 3 words but 2 tags"):
        load_corpus("m_atis", str(data_dir), cache_dir=str(tmp_path / "cache"))


def test_translation_file_with_the_wrong_line_count(tmp_path):
    data_dir = tmp_path / "m_atis"
    shutil.copytree(FIXTURES / "m_atis", data_dir)
    shutil.copy(BAD / "m_atis_short_translations.tsv", data_dir / "zh" / "train.tsv")
    with pytest.raises(DataFormatError, match="2 translation lines, expected one per English training example \\(3\\)"):
        load_corpus("m_atis", str(data_dir), cache_dir=str(tmp_path / "cache"))


def test_missing_language_folder_and_missing_split(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no folder for language\(s\) \['de'\]; found \['en', 'th'\]"):
        load_corpus("mtod", str(FIXTURES / "mtod"), languages=["en", "de"], cache_dir=str(tmp_path))
    data_dir = tmp_path / "mtod"
    shutil.copytree(FIXTURES / "mtod", data_dir)
    (data_dir / "th" / "dev-th.conllu").unlink()
    with pytest.raises(FileNotFoundError, match="missing MTOD dev split of 'th'"):
        load_corpus("mtod", str(data_dir), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(ValueError, match="needs data_dir"):
        load_corpus("mtop")


def test_missing_translations_and_unpaired_examples_are_reported(tmp_path, caplog):
    data_dir = tmp_path / "mtod"
    shutil.copytree(FIXTURES / "mtod", data_dir)
    (data_dir / "th" / "train.tsv").unlink()
    with caplog.at_level(logging.WARNING):
        corpus = load_corpus("mtod", str(data_dir), cache_dir=str(tmp_path / "cache"))
        load("jsonl", str(tmp_path / "cache"))
    assert corpus.translations == {}
    assert "no translations for th" in caplog.text
    assert "1 of 3 English training examples have no de example with the same id" in caplog.text


def test_public_api():
    assert data.FORMATS == ("home_assistant", "mtod", "m_atis", "mtop", "massive", "jsonl", "xsid")
    assert callable(data.encode_labelled) and callable(data.encode_pairs)


def test_massive_locale_without_a_partition(tmp_path):
    data_dir = tmp_path / "massive"
    data_dir.mkdir()
    lines = (FIXTURES / "massive" / "en-US.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (data_dir / "en-US.jsonl").write_text("".join(line for line in lines if '"dev"' not in line), encoding="utf-8")
    with pytest.raises(DataFormatError, match="en-US.jsonl: holds no 'dev' partition"):
        load_corpus("massive", str(data_dir), cache_dir=str(tmp_path / "cache"))
