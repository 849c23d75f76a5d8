"""MASSIVE from either source: the raw JSON-lines release and the Hugging Face Hub's export of it.

The raw fixtures (tests/fixtures/data/massive/) hold the release's quirks: ``en-US`` lines without ``slot_method``
and ``judgments`` (the other locales have them), a slot value with a colon (``[time : 10:30]``), a byte-order mark
and CRLF line ends. The Hub export is built here from the same rows with the Hub's schema (``intent`` and
``scenario`` as ``ClassLabel`` integers, ``slot_method`` and ``judgments`` as sequence features, every locale in one
table, ``validation`` for dev), then saved as ``save_to_disk`` writes it, as parquet files named as the Hub names
them, and as JSON lines.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import datasets
import pytest
from datasets import ClassLabel, Features, Sequence, Value

from data import DataFormatError, available_languages, load_corpus

MASSIVE = Path(__file__).resolve().parent / "fixtures" / "data" / "massive"
ALIGNED_SPLITS = {"en": ["dev", "test", "train"], "th": ["dev", "test"]}  # what an aligned run to th opens
# The Hub's label order is not alphabetical: integers must be mapped through the features.
INTENTS = ["iot_hue_lightoff", "weather_query", "alarm_query", "alarm_set"]
SCENARIOS = ["iot", "weather", "alarm"]
HUB_FEATURES = Features(
    {
        "id": Value("string"),
        "locale": Value("string"),
        "partition": Value("string"),
        "scenario": ClassLabel(names=SCENARIOS),
        "intent": ClassLabel(names=INTENTS),
        "utt": Value("string"),
        "annot_utt": Value("string"),
        "worker_id": Value("string"),
        "slot_method": Sequence({"slot": Value("string"), "method": Value("string")}),
        "judgments": Sequence(
            {
                "worker_id": Value("string"),
                "intent_score": Value("int8"),
                "slots_score": Value("int8"),
                "grammar_score": Value("int8"),
                "spelling_score": Value("int8"),
                "language_identification": Value("string"),
            }
        ),
    }
)
HUB_SPLITS = {"train": "train", "dev": "validation", "test": "test"}


def raw_records(skip=()):
    """The raw fixture lines, every locale; ``skip``: (locale, partition) pairs left out."""
    records = []
    for path in sorted(MASSIVE.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8-sig").splitlines():
            record = json.loads(line)
            if (record["locale"], record["partition"]) not in skip:
                records.append(record)
    return records


def hub_export(records) -> datasets.DatasetDict:
    """Raw records in the Hub's schema: ClassLabel integers, sequence features as columns of lists."""
    rows = {split: [] for split in HUB_SPLITS.values()}
    for record in records:
        methods, judgments = record.get("slot_method", []), record.get("judgments", [])  # en-US has neither
        rows[HUB_SPLITS[record["partition"]]].append(
            {
                **record,
                "intent": INTENTS.index(record["intent"]) if record["intent"] in INTENTS else record["intent"],
                "scenario": SCENARIOS.index(record["scenario"]),
                "slot_method": {key: [method[key] for method in methods] for key in ("slot", "method")},
                "judgments": {key: [judgment[key] for judgment in judgments] for key in HUB_FEATURES["judgments"]},
            }
        )
    return datasets.DatasetDict(
        {split: datasets.Dataset.from_list(rows[split], features=HUB_FEATURES) for split in rows}
    )


def write_export(export: datasets.DatasetDict, root: Path, layout: str) -> Path:
    """The export saved in one of the layouts users have; returns the data_dir."""
    if layout == "save_to_disk":
        export.save_to_disk(str(root))
    elif layout == "save_to_disk per locale":
        for locale in sorted(set(export["train"]["locale"]) | set(export["test"]["locale"])):
            export.filter(lambda row, locale=locale: row["locale"] == locale).save_to_disk(str(root / locale))
    for split, dataset in export.items():
        if layout == "parquet (Hub conversion)":
            (root / "all" / split).mkdir(parents=True, exist_ok=True)
            dataset.to_parquet(str(root / "all" / split / "0000.parquet"))
        elif layout == "parquet (push_to_hub)":
            (root / "data").mkdir(parents=True, exist_ok=True)
            dataset.to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))
        elif layout == "JSON lines with dataset_info.json":
            root.mkdir(parents=True, exist_ok=True)
            dataset.to_json(str(root / f"{split}.jsonl"))
            dataset.info.write_to_directory(str(root))
    return root


def examples(corpus):
    return {(lang, split): list(dataset) for lang, parts in corpus.labelled.items() for split, dataset in parts.items()}


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    return load_corpus("massive", str(MASSIVE), cache_dir=str(tmp_path_factory.mktemp("massive_raw")))


# --- the raw release --------------------------------------------------------------------------------------------


def test_raw_en_us_lines_without_slot_method_and_judgments_and_a_colon_in_a_value(raw):
    english = [json.loads(line) for line in (MASSIVE / "en-US.jsonl").read_text(encoding="utf-8").splitlines()]
    thai = json.loads((MASSIVE / "th-TH.jsonl").read_text(encoding="utf-8-sig").splitlines()[0])
    assert not any("slot_method" in record or "judgments" in record for record in english)
    assert {"slot_method", "judgments"} <= set(thai)
    assert "[time : 10:30]" in english[1]["annot_utt"]
    weather = raw.labelled["en"]["train"][1]
    assert weather["words"] == ["weather", "in", "berlin", "at", "10:30"]
    assert weather["tags"] == ["O", "O", "B-place_name", "O", "B-time"]


def test_raw_locale_without_a_train_partition_stops_an_aligned_read_naming_file_and_partition(tmp_path):
    data_dir = tmp_path / "massive"
    shutil.copytree(MASSIVE, data_dir)
    thai = data_dir / "th-TH.jsonl"
    lines = thai.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    thai.write_text("".join(line for line in lines if '"partition": "train"' not in line), encoding="utf-8")
    cache = str(tmp_path / "cache")
    zero_shot = load_corpus("massive", str(data_dir), cache_dir=cache, splits=ALIGNED_SPLITS, translation_languages=[])
    assert sorted(zero_shot.labelled["th"]) == ["dev", "test"]  # the locale's dev and test partitions suffice
    with pytest.raises(DataFormatError, match="holds no 'train' partition: an aligned run pairs") as error:
        load_corpus(
            "massive",
            str(data_dir),
            cache_dir=str(tmp_path / "cache"),
            splits=ALIGNED_SPLITS,
            translation_languages=["th"],
        )
    assert error.value.path == str(thai) and "--alignment none" in str(error.value)


def test_raw_locale_without_a_requested_labelled_partition_names_it(tmp_path):
    data_dir = tmp_path / "massive"
    shutil.copytree(MASSIVE, data_dir)
    thai = data_dir / "th-TH.jsonl"
    lines = thai.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    thai.write_text("".join(line for line in lines if '"partition": "test"' not in line), encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"th-TH.jsonl: holds no 'test' partition") as error:
        load_corpus("massive", str(data_dir), cache_dir=str(tmp_path / "cache"), splits={"th": ["test"]})
    assert error.value.path == str(thai)


# --- the Hub export -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layout",
    [
        "save_to_disk",
        "save_to_disk per locale",
        "parquet (Hub conversion)",
        "parquet (push_to_hub)",
        "JSON lines with dataset_info.json",
    ],
)
def test_the_hub_export_reads_as_the_raw_release(raw, tmp_path, layout):
    export = hub_export(raw_records())
    assert isinstance(export["train"].features["intent"], ClassLabel) and export["train"]["intent"][0] == 3
    data_dir = write_export(export, tmp_path / "export", layout)
    assert available_languages("massive", str(data_dir)) == ["en", "th", "zh-cn", "zh-tw"]
    corpus = load_corpus("massive", str(data_dir), cache_dir=str(tmp_path / "cache"))
    assert examples(corpus) == examples(raw)  # intents by name, validation read as dev, every locale
    assert {lang: rows[:] for lang, rows in corpus.translations.items()} == {
        lang: rows[:] for lang, rows in raw.translations.items()
    }
    subset = load_corpus("massive", str(data_dir), ["en-US", "th"], str(tmp_path / "cache"), splits={"th": ["dev"]})
    assert list(subset.labelled) == ["en", "th"] and not subset.labelled["en"]  # locales or codes; only th's dev
    assert subset.labelled["th"]["dev"]["intent"] == ["alarm_set"]


def test_hub_export_locale_without_train_rows_stops_an_aligned_read_before_training(tmp_path):
    export = hub_export(raw_records(skip={("th-TH", "train")}))
    data_dir = write_export(export, tmp_path / "export", "parquet (Hub conversion)")
    cache = str(tmp_path / "cache")
    zero_shot = load_corpus("massive", str(data_dir), cache_dir=cache, splits=ALIGNED_SPLITS, translation_languages=[])
    assert len(zero_shot.labelled["th"]["test"]) == 1
    with pytest.raises(DataFormatError, match="no rows of locale 'th-TH' in the export's 'train' split: an aligned"):
        load_corpus("massive", str(data_dir), cache_dir=cache, splits=ALIGNED_SPLITS, translation_languages=["th"])
    with pytest.raises(DataFormatError, match="no rows of locale 'th-TH' in the export's 'validation' split"):
        load_corpus(
            "massive",
            str(write_export(hub_export(raw_records(skip={("th-TH", "dev")})), tmp_path / "no_dev", "save_to_disk")),
            cache_dir=cache,
            splits={"th": ["dev"]},
        )


def test_hub_export_malformed_row_names_file_row_and_id_or_is_skipped(tmp_path, caplog):
    records = raw_records()
    broken = next(record for record in records if record["locale"] == "th-TH" and record["partition"] == "train")
    broken["annot_utt"] = "ปลุก [time เก้าโมง"
    data_dir = write_export(hub_export(records), tmp_path / "export", "save_to_disk")
    cache = str(tmp_path / "cache")
    # A zero-shot read never converts the target locale's training rows.
    zero_shot = load_corpus("massive", str(data_dir), cache_dir=cache, splits=ALIGNED_SPLITS, translation_languages=[])
    assert zero_shot.skipped == []
    with pytest.raises(DataFormatError, match=r"train: row 3 \(id '1'\): malformed annot_utt") as error:
        load_corpus("massive", str(data_dir), cache_dir=cache, splits={"th": ["train"]})
    assert error.value.path == str(data_dir / "train")
    with caplog.at_level(logging.WARNING):
        skipped = load_corpus("massive", str(data_dir), cache_dir=cache, splits={"th": ["train"]}, skip_malformed=True)
    assert skipped.labelled["th"]["train"]["id"] == ["2", "3"]
    assert skipped.skipped_counts() == {str(data_dir / "train"): 1} and "row 3 (id '1')" in caplog.text


def test_hub_export_json_lines_integer_intents_need_the_features(tmp_path):
    data_dir = tmp_path / "export"
    data_dir.mkdir()
    export = hub_export(raw_records())
    for split, dataset in export.items():
        dataset.to_json(str(data_dir / f"{split}.jsonl"))  # ClassLabel columns become bare integers
    with pytest.raises(DataFormatError, match="train.jsonl, line 1: integer intent 3 without label names"):
        load_corpus("massive", str(data_dir), cache_dir=str(tmp_path / "cache"), splits={"en": ["train"]})
    named = tmp_path / "named"
    named.mkdir()
    for split, dataset in export.items():  # intents written as names need no features
        dataset.cast_column("intent", Value("string")).map(lambda row: {"intent": INTENTS[int(row["intent"])]}).to_json(
            str(named / f"{split}.jsonl")
        )
    corpus = load_corpus("massive", str(named), cache_dir=str(tmp_path / "cache"), splits={"en": ["train"]})
    assert corpus.labelled["en"]["train"]["intent"] == ["alarm_set", "weather_query", "iot_hue_lightoff"]


def test_hub_export_file_whose_split_cannot_be_told(tmp_path):
    data_dir = write_export(hub_export(raw_records()), tmp_path / "export", "parquet (push_to_hub)")
    shutil.copy(data_dir / "data" / "test-00000-of-00001.parquet", data_dir / "data" / "extra.parquet")
    with pytest.raises(DataFormatError, match="cannot tell which split of the MASSIVE export this file holds"):
        load_corpus("massive", str(data_dir), cache_dir=str(tmp_path / "cache"))


def test_hub_export_row_without_a_locale(tmp_path):
    data_dir = tmp_path / "export"
    data_dir.mkdir()
    row = {"id": "1", "intent": "alarm_set", "utt": "wake me", "annot_utt": "wake me"}
    (data_dir / "train.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="train.jsonl, line 1: no 'locale': expected every row to name its"):
        available_languages("massive", str(data_dir))
