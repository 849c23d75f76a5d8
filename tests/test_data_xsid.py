"""xSID (van der Goot et al. 2021, 0.x releases) on fixtures built from the real files' quirks.

tests/fixtures/data/xsid/ holds ``<lang>.{train,valid,test}.conll`` files: English with a training file, no ``# id``,
no ``# text-en`` and a ``# slots:`` line with domain-qualified types (an empty one on a sentence without slots);
German parallel to English by ``# text-en`` but in another order, one sentence's token lines carrying another
intent; dialect codes (``de-st``, ``nap``) whose files give the standard text as ``# text-de:`` / ``# text-it:``
with a colon; Norwegian with 11 dialect variants of each sentence (``# id = 100/9``, ``# dialect = ...``); and
``de.translations.jsonl``, the translations file an aligned run needs (xSID ships none).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from data import DataFormatError, available_languages, load_corpus
from data.xsid import read_xsid

XSID = Path(__file__).resolve().parent / "fixtures" / "data" / "xsid"
ZERO_SHOT_SPLITS = {"en": ["dev", "test", "train"], "de": ["dev", "test"], "no": ["test"]}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return load_corpus("xsid", str(XSID), cache_dir=str(tmp_path_factory.mktemp("xsid_cache")))


def rows(corpus, language, split):
    return list(corpus.labelled[language][split])


def test_languages_come_from_the_file_names_dialect_codes_kept_and_valid_is_dev(corpus):
    assert available_languages("xsid", str(XSID)) == ["de", "de-st", "en", "nap", "no"]
    assert sorted(corpus.labelled) == ["de", "de-st", "en", "nap", "no"]
    assert sorted(corpus.labelled["en"]) == ["dev", "test", "train"]  # only English has a training file
    assert all(sorted(corpus.labelled[lang]) == ["dev", "test"] for lang in ("de", "de-st", "nap", "no"))
    assert rows(corpus, "de", "dev")[0]["words"] == ["weck", "mich", "um", "9", "uhr"]  # de.valid.conll
    assert corpus.target_languages() == ["de", "de-st", "nap", "no"]


def test_english_ids_are_positions_and_the_bio_tags_win_over_the_slots_comment(corpus):
    train = rows(corpus, "en", "train")
    assert [row["id"] for row in train] == [f"en-train-{index}" for index in range(6)]  # no "# id" in English
    assert "# slots: 17:21:alarm/datetime" in (XSID / "en.train.conll").read_text(encoding="utf-8")
    assert train[0] == {
        "id": "en-train-0",
        "language": "en",
        "words": ["set", "an", "alarm", "for", "7", "am"],
        "tags": ["O", "O", "O", "O", "B-datetime", "I-datetime"],  # not "alarm/datetime"
        "intent": "alarm/set_alarm",
    }
    assert train[3]["tags"] == ["O", "O", "O"]  # "# slots:" left empty
    assert corpus.slot_labels() == [
        "O",
        "artist",
        "datetime",
        "location",
        "playlist",
        "reminder/todo",
        "weather/attribute",
    ]
    assert "AddToPlaylist" in corpus.intent_labels() and "alarm/set_alarm" in corpus.intent_labels()  # MTOD + SNIPS


def test_files_are_not_paired_by_position(corpus):
    # de.test.conll follows en.test.conll by "# text-en", in another order; each sentence keeps its own "# id".
    german = rows(corpus, "de", "test")
    assert [row["id"] for row in german] == ["1", "0", "2"]
    assert german[0]["words"] == ["wie", "ist", "das", "wetter", "in", "denver"]
    assert rows(corpus, "en", "test")[1]["words"][-1] == "denver"


def test_comments_with_a_colon_and_dialect_codes(corpus, tmp_path):
    assert "# text-de: weck mich um 9 uhr" in (XSID / "de-st.valid.conll").read_text(encoding="utf-8")
    assert rows(corpus, "de-st", "dev")[0]["words"] == ["weck", "mi", "um", "9", "uhr"]
    assert rows(corpus, "nap", "test")[0]["intent"] == "weather/find"  # "# text-it: ..."
    path = tmp_path / "gsw.test.conll"
    path.write_text(
        "# id: 7\n# text: weck mi\n# intent: alarm/set_alarm\n1\tweck\talarm/set_alarm\tO\n", encoding="utf-8"
    )
    (example,) = read_xsid(str(path), language="gsw", split="test")
    assert example["id"] == "7" and example["intent"] == "alarm/set_alarm"


def test_norwegian_dialect_variants_are_examples_of_their_own(corpus):
    norwegian = rows(corpus, "no", "test")
    assert [row["id"] for row in norwegian] == [f"100/{variant}" for variant in range(11)]
    assert norwegian[1]["words"] == ["korleis", "er", "vêret", "i", "denver"]
    assert {row["intent"] for row in norwegian} == {"weather/find"}
    assert set(corpus.labelled["no"]["test"].column_names) == {"id", "language", "words", "tags", "intent"}


def test_an_intent_column_that_differs_keeps_the_sentences_intent_and_is_logged(caplog):
    path = str(XSID / "de.test.conll")
    with caplog.at_level(logging.WARNING, logger="data.xsid"):
        cancel = list(read_xsid(path, language="de", split="test"))[2]
    assert cancel["intent"] == "alarm/cancel_alarm"
    (record,) = [record for record in caplog.records if record.name == "data.xsid"]
    assert record.getMessage() == (
        f"{path}, line 26: intent column 'alarm/set_alarm' differs from the sentence's "
        "'# intent = alarm/cancel_alarm' (the sentence's is kept)"
    )


def test_translations_come_from_a_translations_file_paired_by_english_id(corpus, caplog, tmp_path):
    assert corpus.translations["de"]["id"] == [f"en-train-{index}" for index in range(6)]
    assert corpus.translations["de"]["text"][5] == "spiel musik von adele"
    assert sorted(corpus.translations) == ["de"]  # xSID ships none: only de has a translations file here
    with caplog.at_level(logging.WARNING):
        load_corpus("xsid", str(XSID), cache_dir=str(tmp_path), splits=ZERO_SHOT_SPLITS, translation_languages=["no"])
    assert "no translations for no" in caplog.text and "no.translations.jsonl is missing" in caplog.text


def test_a_zero_shot_read_opens_only_the_files_it_needs(tmp_path):
    data_dir = tmp_path / "xsid"
    shutil.copytree(XSID, data_dir)
    # Target-language labelled training data, malformed: a zero-shot read must never open it.
    (data_dir / "de.train.conll").write_text("# intent = x\n1\tbroken\n", encoding="utf-8")
    (data_dir / "de.projectedTrain.conll").write_text("not xSID\n", encoding="utf-8")  # not part of the format
    corpus = load_corpus(
        "xsid", str(data_dir), cache_dir=str(tmp_path / "cache"), splits=ZERO_SHOT_SPLITS, translation_languages=[]
    )
    assert sorted(corpus.labelled) == ["de", "en", "no"] and sorted(corpus.labelled["de"]) == ["dev", "test"]
    assert corpus.translations == {}
    with pytest.raises(DataFormatError, match=r"de.train.conll, line 2: 2 columns: expected index, token"):
        load_corpus("xsid", str(data_dir), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(
        FileNotFoundError, match=r"missing xSID train split of 'nap': expected the file .*nap.train.conll"
    ):
        load_corpus("xsid", str(XSID), cache_dir=str(tmp_path / "cache"), splits={"nap": ["train"]})
    with pytest.raises(FileNotFoundError, match=r"no xSID files for language\(s\) \['gsw'\]"):
        load_corpus("xsid", str(XSID), languages=["gsw"], cache_dir=str(tmp_path / "cache"))


def test_malformed_sentences_name_file_and_line_or_are_skipped_and_counted(tmp_path):
    path = tmp_path / "de.test.conll"
    path.write_text(
        "# id = 0\n# intent = weather/find\n1\twetter\tweather/find\tB-weather/attribute\n\n"
        "# id = 1\n# text = ohne intent\n1\tohne\tweather/find\tO\n\n"
        "# intent = weather/find\n1\twetter\tweather/find\tX-weather\n\n"
        "# intent = weather/find\n1\twetter\tweather/find\tO\n",
        encoding="utf-8",
    )
    with pytest.raises(DataFormatError, match=r"de.test.conll, line 5: sentence without an '# intent = ...' comment"):
        list(read_xsid(str(path), language="de", split="test"))
    corpus = load_corpus("xsid", str(tmp_path), cache_dir=str(tmp_path / "cache"), skip_malformed=True)
    assert corpus.labelled["de"]["test"]["id"] == ["0", "de-test-3"]  # default ids count the skipped sentences
    assert [(record["line"], record["reason"][:24]) for record in corpus.skipped] == [
        (5, "sentence without an '# i"),
        (9, "malformed BIO tag 'X-wea"),
    ]
