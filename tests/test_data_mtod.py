"""Integration: the real MTOD release in ../shared/data/mtod (skipped when absent; see its SOURCE.md)."""

from __future__ import annotations

import pytest

from data import load_corpus

SIZES = {"en": (30521, 4181, 8621), "es": (3617, 1983, 3043), "th": (2156, 1235, 1692)}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus(mtod_dir, tmp_path_factory):
    return load_corpus("mtod", str(mtod_dir), cache_dir=str(tmp_path_factory.mktemp("mtod_cache")))


def test_exact_example_counts(corpus):
    for language, sizes in SIZES.items():
        assert tuple(len(corpus.labelled[language][split]) for split in ("train", "dev", "test")) == sizes


def test_translations_align_with_english_train(corpus):
    english_ids = corpus.labelled["en"]["train"]["id"]
    assert sorted(corpus.translations) == ["es", "th"]
    for translation in corpus.translations.values():
        assert len(translation) == 30521 and translation["id"] == english_ids


def test_duplicates_are_kept_and_labels_come_from_english_train(corpus):
    train = corpus.labelled["en"]["train"]
    assert len(set(map(tuple, train["words"]))) < len(train)  # duplicate utterances, not deduplicated
    assert len(corpus.intent_labels()) == 12
    assert len(corpus.slot_labels()) == 1 + 15
    assert corpus.target_languages() == ["es", "th"]
