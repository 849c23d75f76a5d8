"""MTOP read exactly as Facebook distributes it: UTF-8 byte offsets, the tokens JSON as the words, no CSV quoting.

The fixtures in tests/fixtures/data/mtop/ hold the release's quirks: the English test line 1393 (a curly apostrophe:
byte and character offsets differ after it), literally doubled quotes, a double space, empty slot columns, a
compositional line, no line end after the last line, and Hindi and Thai lines whose byte and character offsets
differ on every slot.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from data import DataFormatError, load_corpus
from data.mtop import read_mtop

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "data"
MTOP = FIXTURES / "mtop"
BAD = FIXTURES / "bad"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return load_corpus("mtop", str(MTOP), cache_dir=str(tmp_path_factory.mktemp("mtop_cache")))


def by_id(corpus, language, split):
    return {example["id"]: example for example in corpus.labelled[language][split]}


def columns(language, file, example_id):
    for line in (MTOP / language / file).read_text(encoding="utf-8-sig").splitlines():
        if line.split("\t")[0] == example_id:
            return line.split("\t")
    raise AssertionError(f"no line {example_id}")


def test_offsets_count_utf8_bytes_the_english_test_line_1393(corpus):
    row = columns("en", "test.txt", "3286281405289437")
    slots, utterance = row[2], row[3]
    assert slots == "44:48:SL:TODO,52:58:SL:LOCATION"
    assert utterance.encode("utf-8")[44:48] == b"trip" and utterance[44:48] == "ip t"  # bytes, not characters
    example = by_id(corpus, "en", "test")["3286281405289437"]
    # The tokens JSON splits the clitic: "month" + "’s"; they are the words.
    assert example["words"] == "Can I update my reminder for next month ’s trip to Canada ?".split()
    assert example["tags"] == ["O"] * 9 + ["B-SL:TODO", "O", "B-SL:LOCATION", "O"]
    assert example["intent"] == "IN:UPDATE_REMINDER"


def test_hindi_and_thai_slots_whose_byte_and_character_offsets_differ(corpus):
    for language, file, example_id in (("hi", "test.txt", "105"), ("hi", "eval.txt", "104"), ("th", "test.txt", "206")):
        row = columns(language, file, example_id)
        for slot in row[2].split(","):
            start, end, _ = slot.split(":", 2)
            # Read as characters, every slot would fall elsewhere (or out of the utterance).
            assert row[3].encode("utf-8")[int(start) : int(end)].decode("utf-8") != row[3][int(start) : int(end)]
    hindi = by_id(corpus, "hi", "test")["105"]
    assert hindi["words"] == ["मुझे", "कल", "सुबह", "7", "बजे", "जगा", "दो"]
    assert hindi["tags"] == ["O", "B-SL:DATE_TIME", "I-SL:DATE_TIME", "I-SL:DATE_TIME", "I-SL:DATE_TIME", "O", "O"]
    weather = by_id(corpus, "hi", "dev")["104"]
    assert weather["words"] == ["क्या", "दिल्ली", "में", "कल", "बारिश", "होगी"]
    assert weather["tags"] == ["O", "B-SL:LOCATION", "O", "B-SL:DATE_TIME", "B-SL:WEATHER_ATTRIBUTE", "O"]
    thai = by_id(corpus, "th", "test")["206"]  # unspaced Thai: the tokens JSON gives the words
    assert thai["words"] == ["ตั้ง", "นาฬิกา", "ปลุก", "พรุ่งนี้", "เจ็ด", "โมง"]
    assert thai["tags"] == ["O", "O", "O", "B-SL:DATE_TIME", "I-SL:DATE_TIME", "I-SL:DATE_TIME"]
    assert by_id(corpus, "th", "test")["205"]["tags"] == ["O", "B-SL:ALARM_NAME", "O"]  # a file with BOM and CRLF


def test_doubled_quotes_double_spaces_and_empty_slot_columns_are_read_as_written(corpus):
    dev = by_id(corpus, "en", "dev")
    quoted = dev["3482104560918225"]  # never CSV-unquoted: the doubled quotes are the utterance's
    assert columns("en", "eval.txt", "3482104560918225")[3] == 'Remove ""Pay the mortgage"" from my reminders.'
    assert quoted["words"] == ["Remove", '""', "Pay", "the", "mortgage", '""', "from", "my", "reminders", "."]
    assert quoted["tags"] == ["O", "O", "B-SL:TODO", "I-SL:TODO", "I-SL:TODO", "O", "O", "O", "O", "O"]
    spaced = dev["3482104560918226"]
    assert "for  7 am" in columns("en", "eval.txt", "3482104560918226")[3]
    assert spaced["words"] == ["Set", "an", "alarm", "for", "7", "am"]
    assert spaced["tags"] == ["O", "O", "O", "B-SL:DATE_TIME", "I-SL:DATE_TIME", "I-SL:DATE_TIME"]
    assert columns("en", "eval.txt", "3482104560918227")[2] == ""
    assert dev["3482104560918227"]["tags"] == ["O", "O", "O"]
    assert by_id(corpus, "hi", "train")["102"]["tags"] == ["O", "O", "O"]


def test_a_compositional_line_takes_the_top_level_slots_of_the_slot_column(corpus):
    row = columns("en", "test.txt", "3286281405289438")
    assert "[IN:GET_CONTACT" in row[6] and row[2] == "5:22:SL:CONTACT"  # nested intent; one top-level slot
    example = by_id(corpus, "en", "test")["3286281405289438"]
    assert example["words"] == ["call", "my", "brother", "'s", "wife"]
    assert example["tags"] == ["O", "B-SL:CONTACT", "I-SL:CONTACT", "I-SL:CONTACT", "I-SL:CONTACT"]


def test_the_last_line_without_a_line_end_is_read(corpus):
    assert not (MTOP / "en" / "test.txt").read_bytes().endswith(b"\n")
    assert list(by_id(corpus, "en", "test")) == ["105", "3286281405289437", "3286281405289438"]


def test_byte_offsets_in_the_other_languages_pair_translations_by_id(corpus):
    assert corpus.translations["hi"]["id"] == ["101", "102", "103"]
    assert corpus.translations["hi"]["text"][2] == "मेरे लिए कल सुबह सात बजे का अलार्म लगाओ"
    spanish = corpus.labelled["es"]["train"][0]  # "mañana": one 2-byte character before "siete"
    assert spanish["tags"] == ["O", "O", "O", "B-SL:DATE_TIME", "I-SL:DATE_TIME"]


@pytest.mark.parametrize(
    "file, message",
    [
        # 32 bytes (12 characters): the span is out of range in bytes.
        ("mtop_span_out_of_range_in_bytes.txt", r"malformed span 13:40:SL:DATE_TIME: expected 0 <= start < end <= 32 "),
        ("mtop_span_out_of_range.txt", r"malformed span 12:99:SL:LOCATION: expected 0 <= start < end <= 17 "),
        # Byte 40 is the middle of "’" (bytes 39-41).
        ("mtop_span_inside_character.txt", "span 29:40:SL:DATE_TIME: byte offset 40 falls inside the character '’'"),
        # A file written with character offsets is rejected, not misread.
        ("mtop_character_offsets.txt", "tokenSpan 0\\+4 of token 'मुझे': byte offset 4 falls inside the character"),
    ],
)
def test_offsets_outside_the_bytes_or_inside_a_character_name_file_and_line(file, message):
    path = str(BAD / file)
    with pytest.raises(DataFormatError, match=message) as error:
        list(read_mtop(path, language="en", split="test"))
    assert error.value.path == path and error.value.line == 1
    assert "UTF-8" in str(error.value)


def test_a_zero_shot_read_takes_the_english_dev_and_test_files_as_released(tmp_path):
    corpus = load_corpus("mtop", str(MTOP), cache_dir=str(tmp_path), splits={"en": ["dev", "test"]})
    assert sorted(corpus.labelled) == ["en"] and sorted(corpus.labelled["en"]) == ["dev", "test"]
    assert len(corpus.labelled["en"]["test"]) == 3 and len(corpus.labelled["en"]["dev"]) == 4


def test_a_line_with_character_offsets_is_skipped_and_counted_with_skip_malformed(tmp_path):
    data_dir = tmp_path / "mtop"
    shutil.copytree(MTOP, data_dir)
    test_file = data_dir / "hi" / "test.txt"
    bad_line = (BAD / "mtop_character_offsets.txt").read_text(encoding="utf-8")
    test_file.write_text(test_file.read_text(encoding="utf-8") + bad_line, encoding="utf-8")
    splits = {"hi": ["test"]}
    with pytest.raises(DataFormatError, match=r"hi/test.txt, line 2: tokenSpan 0\+4"):
        load_corpus("mtop", str(data_dir), cache_dir=str(tmp_path / "cache"), splits=splits)
    corpus = load_corpus("mtop", str(data_dir), cache_dir=str(tmp_path / "cache"), splits=splits, skip_malformed=True)
    assert corpus.labelled["hi"]["test"]["id"] == ["105"]
    assert corpus.skipped_counts() == {str(test_file): 1} and corpus.skipped[0]["line"] == 2
