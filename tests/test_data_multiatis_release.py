"""A whole MultiATIS++ release in the CrossAligner layout, sizes and quirks (tests/multiatis_release.py), through
run_xnlu.py: every test example of every target language is scored, and only the files a run needs are read."""

import pytest
from multiatis_release import SIZES, TRAIN_TRANSLATIONS, write_release
from test_run_xnlu import cli

import data
import run_xnlu

pytestmark = pytest.mark.slow
TARGETS = [language for language in SIZES if language != "en"]


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return write_release(tmp_path_factory.mktemp("m_atis_release"))


def m_atis(tiny_encoder, release, output_dir, *extra):
    arguments = cli(
        tiny_encoder,
        release,
        output_dir,
        "--num_train_epochs",
        "1",
        "--max_seq_length",
        "32",
        "--per_device_train_batch_size",
        "32",
        "--logging_steps",
        "50",
        *extra,
    )
    arguments[arguments.index("--dataset") + 1] = "m_atis"
    return arguments


def test_reading_every_file_stops_at_the_malformed_training_line(release, tmp_path):
    with pytest.raises(
        data.DataFormatError, match=r"es/train.txt, line 111: empty tag at position 2 \(two spaces in a row\)"
    ):
        data.load_corpus("m_atis", str(release), cache_dir=str(tmp_path))


def test_zero_shot_scores_every_test_example_of_all_eight_target_languages(tiny_encoder, release, tmp_path):
    results = run_xnlu.main(m_atis(tiny_encoder, release, tmp_path / "zero_shot", "--alignment", "none"))
    assert list(results.languages) == ["en", *TARGETS] and results.mean_over == TARGETS
    for language, (_, _, test) in SIZES.items():
        assert results.languages[language]["num_examples"] == test, language  # 893 each, Turkish 715
    assert results.training_examples == {"en": 4488}
    assert results.skipped_examples == {}  # the malformed Spanish training line was never read


def test_an_aligned_run_pairs_the_english_set_with_every_translation_file(tiny_encoder, release, tmp_path):
    corpus = data.load_corpus(
        "m_atis", str(release), splits={"en": ["train"]}, translation_languages=[], cache_dir=str(tmp_path / "cache")
    )
    assert len(corpus.labelled["en"]["train"]) == 4488
    translations = data.load_corpus(
        "m_atis", str(release), splits={"en": ["train"], "es": [], "tr": []}, cache_dir=str(tmp_path / "cache")
    ).translations
    assert {language: len(rows) for language, rows in translations.items()} == {"es": 4488, "tr": 4488}
    results = run_xnlu.main(
        m_atis(tiny_encoder, release, tmp_path / "aligned", "--alignment", "crossaligner", "--pairing", "all")
    )
    assert results.training_pairs == dict.fromkeys(sorted(TARGETS), TRAIN_TRANSLATIONS)
    assert results.languages["tr"]["num_examples"] == 715


def test_the_target_language_baseline_skips_and_counts_the_malformed_line_when_asked(tiny_encoder, release, tmp_path):
    arguments = m_atis(
        tiny_encoder,
        release,
        tmp_path / "target",
        "--alignment",
        "none",
        "--train_languages",
        "target",
        "--target_languages",
        "es",
    )
    with pytest.raises(data.DataFormatError, match="line 111"):
        run_xnlu.main(arguments)
    results = run_xnlu.main(arguments + ["--skip_malformed_examples", "true"])
    assert results.skipped_examples == {str(release / "es" / "train.txt"): 1}
    assert results.training_examples == {"es": 4487}
