"""The embedded Home Assistant corpus: determinism, cache, schema, BIO, translation alignment, Thai words.

Fast tests share one small build (a few seconds); full-size checks are marked slow.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from data import home_assistant_values as values
from data.corpus import EXAMPLE_FEATURES, TRANSLATION_FEATURES
from data.home_assistant import build_home_assistant
from data.home_assistant_grammar import (
    MATCH_EXACT,
    MATCH_INTENT_ONLY,
    MATCH_SOURCE_COPY,
    MATCH_SUBSET,
    Utterance,
    text_key,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
LANGUAGES = ["en", "de", "es", "fr", "th"]
SMALL = {"sizes": {"train": 200, "dev": 40, "test": 60}, "target_sizes": {"dev": 20, "test": 60}, "seed": 7}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("ha_cache")


@pytest.fixture(scope="module")
def small(cache_dir):
    return build_home_assistant(LANGUAGES, cache_dir=cache_dir, **SMALL)


def _digest(build, languages=None) -> str:
    """A hash of everything the build produced for ``languages`` (datasets and pair metadata)."""
    languages = sorted(languages or build.corpus.labelled)
    content = {
        "labelled": {
            lang: {split: ds.to_dict() for split, ds in sorted(build.corpus.labelled[lang].items())}
            for lang in languages
        },
        "translations": {lang: build.corpus.translations[lang].to_dict() for lang in languages if lang != "en"},
        "pairs": {lang: build.pairs[lang] for lang in languages if lang != "en"},
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _assert_bio(tags: list[str]) -> None:
    previous = "O"
    for tag in tags:
        assert tag == "O" or tag[:2] in ("B-", "I-"), tag
        if tag.startswith("I-"):
            assert previous[2:] == tag[2:], f"{tag} after {previous} in {tags}"
        previous = tag


def test_schema_and_sizes(small):
    corpus = small.corpus
    assert corpus.name == "home_assistant" and corpus.source_language == "en"
    assert sorted(corpus.labelled) == sorted(LANGUAGES)
    assert corpus.target_languages() == ["de", "es", "fr", "th"]
    assert {split: len(ds) for split, ds in corpus.labelled["en"].items()} == SMALL["sizes"]
    for lang in LANGUAGES[1:]:
        assert {split: len(ds) for split, ds in corpus.labelled[lang].items()} == SMALL["target_sizes"]
        assert corpus.translations[lang].features == TRANSLATION_FEATURES
    for dataset_dict in corpus.labelled.values():
        for dataset in dataset_dict.values():
            assert dataset.features == EXAMPLE_FEATURES
    assert small.report["sizes"]["en"] == SMALL["sizes"]


def test_every_split_has_valid_bio_matching_words(small):
    for lang, dataset_dict in small.corpus.labelled.items():
        for split, dataset in dataset_dict.items():
            assert len(dataset) > 0, (lang, split)
            assert len(set(dataset["id"])) == len(dataset)
            for row in dataset:
                assert row["language"] == lang
                assert len(row["words"]) == len(row["tags"]) > 0, row
                assert all(word and not any(c.isspace() for c in word) for word in row["words"]), row
                _assert_bio(row["tags"])


def test_target_tests_have_entities_and_many_intents(small):
    for lang in LANGUAGES[1:]:
        test = small.corpus.labelled[lang]["test"]
        assert len(set(test["intent"])) >= 20, lang
        assert sum(tag != "O" for tags in test["tags"] for tag in tags) > 0, lang


def test_dev_and_test_texts_disjoint_from_train(small):
    english = small.corpus.labelled["en"]
    train = {" ".join(words) for words in english["train"]["words"]}
    for split in ("dev", "test"):
        assert not train & {" ".join(words) for words in english[split]["words"]}


def test_translations_never_repeat_a_target_dev_or_test_sentence(small):
    # Aligned training reads the translations: a test sentence among them would leak it (with its intent, for
    # Translate-Intent) into training.
    for lang in LANGUAGES[1:]:
        held_out = {
            text_key("".join(words))
            for split in ("dev", "test")
            for words in small.corpus.labelled[lang][split]["words"]
        }
        assert not held_out & {text_key(text) for text in small.corpus.translations[lang]["text"]}, lang


def test_translations_align_with_english_train(small):
    english = small.corpus.labelled["en"]["train"]
    for lang in LANGUAGES[1:]:
        translations = small.corpus.translations[lang]
        pairs = small.pairs[lang]
        assert len(english) == len(pairs)
        # The translations are the kept pairs, by English id, in English order.
        kept_ids = [row["id"] for row, pair in zip(english, pairs) if pair["kept"]]
        assert translations["id"] == kept_ids and small.report["kept_pairs"][lang] == len(kept_ids)
        text_of = dict(zip(translations["id"], translations["text"]))
        absent = set(small.report["dropped_intents"][lang]["absent"])
        for row, pair in zip(english, pairs):
            text = text_of.get(row["id"])
            # A translation says the English row's intent with its slot types; nothing else is kept.
            assert pair["kept"] == (
                pair["target_intent"] == pair["intent"]
                and set(pair["target_slots"]) == set(pair["slots"])
                and pair["match"] in (MATCH_EXACT, MATCH_INTENT_ONLY)
            )
            assert (text is not None) == pair["kept"]
            assert text is None or text.strip(), (lang, row)
            # The generator's record of the English row is the row itself.
            assert pair["intent"] == row["intent"]
            assert set(pair["slots"]) == {tag[2:] for tag in row["tags"] if tag != "O"}
            if pair["match"] == MATCH_EXACT:
                assert (pair["target_intent"], pair["target_slots"]) == (pair["intent"], pair["slots"])
            elif pair["match"] == MATCH_SUBSET:
                assert pair["target_intent"] == pair["intent"]
                assert set(pair["target_slots"]) < set(pair["slots"])
                assert all(pair["slots"][slot] == value for slot, value in pair["target_slots"].items())
            elif pair["match"] == MATCH_INTENT_ONLY:
                assert pair["target_intent"] == pair["intent"]
            else:
                assert pair["match"] == MATCH_SOURCE_COPY and text is None
                assert pair["intent"] in absent
        assert small.report["pair_matches"][lang] == {
            kind: sum(p["match"] == kind for p in pairs) for kind in {p["match"] for p in pairs}
        }
    # German templates cover every English intent and value: nearly all pairs are exact.
    assert small.report["pair_matches"]["de"].get(MATCH_EXACT, 0) >= 0.95 * len(english)


def test_exact_pair_says_the_same_values(small):
    """An exact German pair of an English row with area=kitchen names the German kitchen."""
    english = small.corpus.labelled["en"]["train"]
    checked = 0
    text_of = dict(zip(small.corpus.translations["de"]["id"], small.corpus.translations["de"]["text"]))
    for row, pair in zip(english, small.pairs["de"]):
        area, text = pair["slots"].get("area"), text_of.get(row["id"])
        if pair["match"] == MATCH_EXACT and area is not None:
            assert any(form in text for form in values.AREAS[area]["de"]), (row["words"], text)
            checked += 1
    assert checked > 0


def _entity_texts(words, tags):
    entities, current = [], None
    for word, tag in zip(words, tags):
        if tag.startswith("B-"):
            current = [tag[2:], [word]]
            entities.append(current)
        elif tag.startswith("I-"):
            current[1].append(word)
        else:
            current = None
    return [(slot, " ".join(parts)) for slot, parts in entities]


def test_thai_entities_are_whole_words(small):
    tables = {"area": values.AREAS, "floor": values.FLOORS, "name": values.NAMES, "item": values.ITEMS}
    forms = {slot: {f for entry in table.values() for f in entry["th"]} for slot, table in tables.items()}
    seen = 0
    for split in ("dev", "test"):
        for row in small.corpus.labelled["th"][split]:
            for slot, text in _entity_texts(row["words"], row["tags"]):
                if slot in forms:
                    assert text in forms[slot], (slot, text, row["words"])
                    seen += 1
    assert seen > 0


def test_words_split_at_entity_boundaries_without_spaces():
    text = "เปิดไฟในห้องครัวหน่อย"
    start = text.index("ห้องครัว")
    utterance = Utterance("HassTurnOn", text, (("area", start, start + len("ห้องครัว")),), {"area": "kitchen"})
    assert utterance.words_and_tags() == (["เปิดไฟใน", "ห้องครัว", "หน่อย"], ["O", "B-area", "O"])
    glued = Utterance("HassLightSet", "set it to 50% please", (("brightness", 10, 12),), {"brightness": "50"})
    assert glued.words_and_tags() == (
        ["set", "it", "to", "50", "%", "please"],
        ["O", "O", "O", "B-brightness", "O", "O"],
    )
    multi = Utterance("HassTurnOn", "turn on the living room", (("area", 12, 23),), {"area": "living_room"})
    assert multi.words_and_tags()[1] == ["O", "O", "O", "B-area", "I-area"]


def test_same_seed_same_data_other_seed_other_data(small):
    # Each language draws from its own seeded stream, so a build of fewer languages repeats these exactly.
    again = build_home_assistant(["th", "en"], use_cache=False, **SMALL)
    assert _digest(again) == _digest(small, ["en", "th"])
    other = build_home_assistant(["en"], use_cache=False, **{**SMALL, "seed": 8})
    assert other.corpus.labelled["en"]["train"]["words"] != small.corpus.labelled["en"]["train"]["words"]


def test_cache_hit_is_loaded_not_generated_and_identical(small, cache_dir, monkeypatch):
    def no_generation(*args, **kwargs):
        raise AssertionError("the corpus was generated again instead of loaded from the cache")

    monkeypatch.setattr("data.home_assistant._generate", no_generation)
    cached = build_home_assistant(list(reversed(LANGUAGES)), cache_dir=cache_dir, **SMALL)
    assert cached.report["cache_hit"] is True and small.report["cache_hit"] is False
    assert _digest(cached) == _digest(small)
    assert [p.name for p in Path(cache_dir).iterdir() if p.name.startswith(".")] == []  # no leftover temp dirs


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="supported"):
        build_home_assistant(["en", "xx"], use_cache=False)
    with pytest.raises(ValueError, match="unknown split"):
        build_home_assistant(["en"], sizes={"train": 10, "validation": 5}, use_cache=False)
    with pytest.raises(ValueError, match="positive size"):
        build_home_assistant(["en"], sizes={"train": 0}, use_cache=False)


def test_value_tables_cover_every_language():
    for table in (values.AREAS, values.FLOORS, values.NAMES, values.ITEMS, values.SEARCH_QUERIES):
        for vid, entry in table.items():
            for lang in values.LANGUAGES:
                assert entry[lang] and all(form.strip() for form in entry[lang]), (vid, lang)


@pytest.mark.slow
def test_same_data_in_another_process(small):
    """Set iteration order changes with PYTHONHASHSEED: the generator must not depend on it."""
    script = (
        "import json, sys; sys.path.insert(0, '.'); sys.path.insert(0, 'tests');"
        "from test_data_home_assistant import _digest, LANGUAGES, SMALL;"
        "from data.home_assistant import build_home_assistant;"
        "print(_digest(build_home_assistant(['en', 'th'], use_cache=False, **SMALL)))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == _digest(small, ["en", "th"])


@pytest.mark.slow
def test_default_build_covers_targets(tmp_path):
    """The default corpus (its build time is measured by benchmarks/data_speed.py, not here)."""
    import data

    build = build_home_assistant(cache_dir=tmp_path)
    assert build.report["uncovered"] == {}  # English train shows every intent and slot type of the target tests
    corpus = data.load_corpus("home_assistant", data_dir=str(tmp_path))
    assert len(corpus.labelled["en"]["train"]) == 3000
    assert len(corpus.intent_labels()) >= 40 and len(corpus.slot_labels()) >= 15
    for lang in ("de", "es", "fr", "th"):
        # Most English examples have a translation; Thai templates say fewer of the English slot combinations.
        assert len(corpus.translations[lang]) == build.report["kept_pairs"][lang] >= (1800 if lang == "th" else 2600)
