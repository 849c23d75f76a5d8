"""translate_data.py on tiny random-weight translation models (a Marian model per language pair, NLLB-200's setup)
saved locally and loaded through from_pretrained: the files it writes, resuming, every refusal, and an aligned
run_xnlu.py run on what it wrote."""

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hub_server import HubServer
from huggingface_hub import HfApi
from huggingface_hub import constants as hub_constants
from tiny_translation_models import save_m2m100, save_marian, save_nllb
from transformers import AutoTokenizer

import data
import run_xnlu
import translate_data
from translate_data import TranslationSetupError, cli, models_per_language, suspicious_translations
from translation_model import (
    FLORES_200,
    candidate_codes,
    encode_sources,
    inspect_model,
    language_codes_of,
    translation_direction,
)

# Marian tokenizers recommend sacremoses (the "translate" extra), which the tests do without.
pytestmark = pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses")

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "data"
# English training examples in both of the jsonl format's forms; the second and last have no id (en-train-<index>).
ENGLISH_TRAIN = [
    {"id": "a1", "words": "wake me up at seven am".split(), "tags": ["O"] * 4 + ["B-datetime", "I-datetime"]},
    {"text": "what is the weather in boston", "spans": [{"start": 23, "end": 29, "type": "location"}]},
    {"id": "a3", "words": "set alarm for nine pm tomorrow".split(), "tags": ["O"] * 3 + ["B-datetime"] * 3},
    {"id": "a4", "text": "remind me to call mom"},
    {"id": "a5", "text": "cancel my alarm"},
    {
        "id": "a6",
        "text": "tell me the weather report for denver",
        "spans": [{"start": 31, "end": 37, "type": "location"}],
    },
    {"id": "a7", "text": "wake me up"},
    {"text": "weather in new york tomorrow morning", "spans": [{"start": 11, "end": 19, "type": "location"}]},
]
INTENTS = ["alarm/set_alarm", "weather/find", "alarm/set_alarm", "reminder/set_reminder", "alarm/cancel_alarm"]
INTENTS += ["weather/find", "alarm/set_alarm", "weather/find"]
ENGLISH_IDS = ["a1", "en-train-1", "a3", "a4", "a5", "a6", "a7", "en-train-7"]
TEST_SETS = {
    "en": [("wake me up at nine", "alarm/set_alarm"), ("weather in boston", "weather/find")],
    "de": [("weck mich um sieben", "alarm/set_alarm"), ("wetter in berlin", "weather/find")],
    "es": [("despierta me a las siete", "alarm/set_alarm"), ("el tiempo en madrid", "weather/find")],
}
SENTENCES = [example.get("text") or " ".join(example["words"]) for example in ENGLISH_TRAIN]
SENTENCES += [text for examples in TEST_SETS.values() for text, _ in examples]


def write_jsonl_folder(root: Path) -> Path:
    """A jsonl data folder as a user writes it: English training data, test sets, no translations."""
    for language, examples in TEST_SETS.items():
        (root / language).mkdir(parents=True, exist_ok=True)
        lines = [{"words": text.split(), "intent": intent} for text, intent in examples]
        (root / language / "test.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), "utf-8")
    train = [{**example, "intent": intent} for example, intent in zip(ENGLISH_TRAIN, INTENTS)]
    (root / "en" / "train.jsonl").write_text("".join(json.dumps(line) + "\n" for line in train), "utf-8")
    return root


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("translation_models")
    return {
        "marian_de": save_marian(root / "opus-mt-en-de", SENTENCES, target_lang="de"),
        "marian_es": save_marian(root / "opus-mt-en-es", SENTENCES, target_lang="es", seed=1),
        "nllb": save_nllb(root / "nllb", SENTENCES),
        "m2m100": save_m2m100(root / "m2m100", SENTENCES),
    }


@pytest.fixture
def data_dir(tmp_path):
    return write_jsonl_folder(tmp_path / "my_data")


def translate(data_dir, models, *extra, languages=("de", "es")):
    """A Marian model per language, small batches (several per language), 2 beams, 6 tokens, fp32."""
    per_language = [f"{language}={models[f'marian_{language}']}" for language in languages]
    return translate_data.main(
        [str(data_dir), "--languages", *languages, "--model", *per_language, "--batch_size", "3"]
        + ["--num_beams", "2", "--max_new_tokens", "6", "--bf16", "false", *extra]
    )


@pytest.fixture(scope="module")
def translated(tmp_path_factory, models):
    """A folder translated into de and es by a Marian model each, uninterrupted: the reference."""
    folder = write_jsonl_folder(tmp_path_factory.mktemp("translated") / "my_data")
    return folder, translate(folder, models)


# -- what a run writes ----------------------------------------------------------------------------------------------


def test_one_line_per_english_example_in_english_order(translated):
    folder, summaries = translated
    for language in ("de", "es"):
        lines = read_lines(folder / language / "translations.jsonl")
        assert [line["id"] for line in lines] == ENGLISH_IDS
        assert all(set(line) == {"id", "text"} and isinstance(line["text"], str) for line in lines)
        summary = summaries[language]
        assert (summary.english_examples, summary.translated_now, summary.written_before) == (8, 8, 0)
        assert summary.sentences_per_second > 0


def test_the_jsonl_reader_pairs_every_translation(translated):
    folder, _ = translated
    corpus = data.load_corpus("jsonl", str(folder), splits={"en": ["train"]}, translation_languages=["de", "es"])
    for language in ("de", "es"):
        rows = corpus.translations[language]
        assert rows["id"] == ENGLISH_IDS
        assert rows["text"] == [line["text"] for line in read_lines(folder / language / "translations.jsonl")]


def test_settings_record_what_produced_the_file(translated, models):
    folder, _ = translated
    settings = json.loads((folder / "de" / "translation_settings.json").read_text())
    assert settings["model"] == str(models["marian_de"].resolve())
    assert settings["revision"].startswith("sha256:") and len(settings["revision"]) == len("sha256:") + 64
    assert (settings["num_beams"], settings["max_new_tokens"], settings["precision"]) == (2, 6, "fp32")
    assert (settings["source_code"], settings["target_code"], settings["language"]) == (None, None, "de")
    assert settings["source_file"] == "en/train.jsonl" and len(settings["source_sha256"]) == 64
    other = json.loads((folder / "es" / "translation_settings.json").read_text())
    assert other["model"] == str(models["marian_es"].resolve()) and other["revision"] != settings["revision"]


def test_report_counts_and_lists_suspicious_translations(translated):
    folder, summaries = translated
    report = json.loads((folder / "de" / "translation_report.json").read_text())
    assert report["english_examples"] == 8 and report["translated_now"] == 8
    assert sum(report["suspicious_counts"].values()) == len(report["suspicious"])
    assert report["suspicious_counts"] == summaries["de"].suspicious_counts
    assert {item["id"] for item in report["suspicious"]} <= set(ENGLISH_IDS)


def test_suspicious_translations_empty_copied_and_far_off_lengths():
    sources = {"1": "wake me up", "2": "set an alarm", "3": "cancel my alarm", "4": "weather in paris"}
    sources |= {"5": "call mom", "6": "turn on the light"}
    translations = {"1": "weck mich", "2": "", "3": "Cancel my alarm ", "4": "wetter in paris " * 10}
    translations |= {"5": "ruf mama an", "6": "mach das licht an"}
    suspicious, statistics = suspicious_translations(sources, translations)
    assert {item["id"]: item["reason"] for item in suspicious} == {
        "2": "empty",
        "3": "copied source",
        "4": "length ratio",
    }
    low, high = statistics["length_ratio_bounds"]
    assert low == pytest.approx(statistics["median_length_ratio"] / 3, abs=1e-4) and high > 1


def test_a_second_run_translates_nothing(translated, models, monkeypatch):
    folder, _ = translated
    before = {language: (folder / language / "translations.jsonl").read_bytes() for language in ("de", "es")}
    monkeypatch.setattr(translate_data, "generate_translations", fail_if_called)
    summaries = translate(folder, models)
    assert [(s.translated_now, s.written_before) for s in summaries.values()] == [(0, 8), (0, 8)]
    assert before == {language: (folder / language / "translations.jsonl").read_bytes() for language in before}


def fail_if_called(*args, **kwargs):
    raise AssertionError("translated again")


# -- resuming -------------------------------------------------------------------------------------------------------


def interrupt_after(batches: int, monkeypatch) -> list:
    """Ctrl-C while translating batch ``batches + 1``; returns the list of the batches translated."""
    calls = []
    real = translate_data.generate_translations

    def generate(model, tokenizer, direction, input_ids, *args):
        if len(calls) == batches:
            raise KeyboardInterrupt
        calls.append(len(input_ids))
        return real(model, tokenizer, direction, input_ids, *args)

    monkeypatch.setattr(translate_data, "generate_translations", generate)
    return calls


def test_an_interrupted_run_resumes_to_the_uninterrupted_result(data_dir, models, translated, monkeypatch, caplog):
    reference, _ = translated
    calls = interrupt_after(2, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        translate(data_dir, models, languages=("de",))
    path = data_dir / "de" / "translations.jsonl"
    written = path.read_text("utf-8")
    assert calls == [3, 3] and written.endswith("\n") and len(read_lines(path)) == 6  # whole lines only
    # A kill in the middle of a write leaves half a line: the next run cuts it and translates that sentence again.
    path.write_text(written + '{"id": "a7", "te', "utf-8")
    monkeypatch.undo()
    calls = interrupt_after(100, monkeypatch)
    with caplog.at_level(logging.WARNING, logger="translate_data"):
        summary = translate(data_dir, models, languages=("de",))["de"]
    assert "cut off by an interruption" in caplog.text
    assert calls == [2]  # the two full batches are not translated again
    assert (summary.written_before, summary.translated_now) == (6, 2)
    # Deterministic: the resumed file is the uninterrupted run's, byte for byte.
    assert path.read_bytes() == (reference / "de" / "translations.jsonl").read_bytes()


def test_a_partly_written_batch_is_translated_whole_and_only_its_missing_lines_written(
    data_dir, models, translated, monkeypatch
):
    reference, _ = translated
    translate(data_dir, models, languages=("de",))
    path = data_dir / "de" / "translations.jsonl"
    lines = path.read_text("utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:-1]), "utf-8")  # the last English example's line is missing
    calls = interrupt_after(100, monkeypatch)
    summary = translate(data_dir, models, languages=("de",))["de"]
    assert len(calls) == 1 and calls[0] in (2, 3) and summary.translated_now == 1
    assert path.read_bytes() == (reference / "de" / "translations.jsonl").read_bytes()


def test_ctrl_c_says_how_to_continue(data_dir, models, monkeypatch, capsys):
    interrupt_after(1, monkeypatch)
    arguments = [str(data_dir), "--languages", "de", "--model", str(models["marian_de"]), "--batch_size", "3"]
    assert cli([*arguments, "--max_new_tokens", "6"]) == 130
    assert capsys.readouterr().err.endswith("translate_data.py: interrupted; run the same command again to continue\n")
    assert len(read_lines(data_dir / "de" / "translations.jsonl")) == 3


@pytest.mark.parametrize(
    "option, changed",
    [
        (["--num_beams", "1"], "num_beams 2 then, 1 now"),
        (["--max_new_tokens", "5"], "max_new_tokens 6 then, 5 now"),
        (["--bf16", "true"], "precision 'fp32' then, 'bf16' now"),
    ],
)
def test_other_settings_do_not_resume(data_dir, models, monkeypatch, option, changed):
    interrupt_after(1, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        translate(data_dir, models, languages=("de",))
    monkeypatch.undo()
    with pytest.raises(TranslationSetupError, match="was started with other settings") as error:
        translate(data_dir, models, *option, languages=("de",))
    assert changed in str(error.value)


def test_another_model_does_not_resume_and_overwrite_starts_again(data_dir, models):
    translate(data_dir, models, languages=("de",))
    other = ["--model", f"de={models['nllb']}"]
    with pytest.raises(TranslationSetupError, match="model '.*opus-mt-en-de' then, '.*nllb' now"):
        translate_data.main([str(data_dir), "--languages", "de", *other, "--num_beams", "2", "--max_new_tokens", "6"])
    summary = translate_data.main(
        [str(data_dir), "--languages", "de", *other, "--num_beams", "2", "--max_new_tokens", "6", "--overwrite"]
    )["de"]
    assert (summary.written_before, summary.translated_now) == (0, 8)
    assert json.loads((data_dir / "de" / "translation_settings.json").read_text())["target_code"] == "deu_Latn"


def test_changed_english_data_does_not_resume(data_dir, models):
    translate(data_dir, models, languages=("de",))
    train = data_dir / "en" / "train.jsonl"
    train.write_text(train.read_text() + json.dumps({"text": "play music", "intent": "music/play"}) + "\n")
    with pytest.raises(TranslationSetupError, match="source_sha256"):
        translate(data_dir, models, languages=("de",))


def test_a_translations_file_from_elsewhere_is_not_resumed(data_dir, models):
    (data_dir / "de" / "translations.jsonl").write_text('{"id": "a1", "text": "weck mich"}\n')
    with pytest.raises(TranslationSetupError, match="exists without translation_settings.json"):
        translate(data_dir, models, languages=("de",))


# -- multilingual models and language codes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, codes, tokens",
    [
        ("nllb", {"en": "eng_Latn", "de": "deu_Latn", "th": "tha_Thai"}, ("eng_Latn", "tha_Thai")),
        ("m2m100", {"en": "en", "de": "de", "th": "th"}, ("__en__", "__th__")),
    ],
)
def test_multilingual_models_map_project_codes_and_force_the_target_code(data_dir, models, name, codes, tokens):
    summaries = translate_data.main(
        [str(data_dir), "--languages", "de", "th", "--model", str(models[name]), "--max_new_tokens", "4"]
    )
    for language in ("de", "th"):
        settings = json.loads((data_dir / language / "translation_settings.json").read_text())
        assert (settings["source_code"], settings["target_code"]) == (codes["en"], codes[language])
        assert settings["num_beams"] == 4
        assert [line["id"] for line in read_lines(data_dir / language / "translations.jsonl")] == ENGLISH_IDS
        assert summaries[language].translated_now == 8
    # The source is read as English (its code token first, as NLLB and M2M100 write it); Thai is forced as the
    # first generated token.
    info = inspect_model(str(models[name]))
    direction = translation_direction(info, "en", "th", {})
    source_ids = encode_sources(info, direction, ["wake me up"])[0]
    assert info.tokenizer.convert_ids_to_tokens([source_ids[0], direction.forced_bos_token_id]) == list(tokens)


def test_language_codes_option_gives_the_model_code(data_dir, models):
    info = inspect_model(str(models["nllb"]))
    assert translation_direction(info, "en", "de-ch", {"de-ch": "deu_Latn"}).target_code == "deu_Latn"
    with pytest.raises(TranslationSetupError, match=r"fr: unknown language code for .*--language_codes fr=CODE"):
        translation_direction(info, "en", "fr", {})
    with pytest.raises(TranslationSetupError, match=r"--language_codes th=thai: not a language code .*tha_Thai"):
        translation_direction(info, "en", "th", {"th": "thai"})


def test_unknown_language_fails_before_anything_is_written(data_dir, models):
    with pytest.raises(TranslationSetupError, match="fr: unknown language code"):
        translate_data.main([str(data_dir), "--languages", "de", "fr", "--model", str(models["nllb"])])
    assert not (data_dir / "de" / "translations.jsonl").exists() and not (data_dir / "fr").exists()


def test_language_code_kinds_of_tokenizers(models, tmp_path):
    assert language_codes_of(AutoTokenizer.from_pretrained(models["marian_de"])).kind == "none"
    nllb = language_codes_of(AutoTokenizer.from_pretrained(models["nllb"]))
    assert nllb.kind == "token" and set(nllb.codes) == {"eng_Latn", "deu_Latn", "spa_Latn", "tha_Thai"}
    # A Marian model with several target languages has ">>xxx<<" tokens in its vocabulary (opus-mt-en-mul).
    folder = shutil.copytree(models["marian_de"], tmp_path / "opus-mt-en-mul")
    vocab = json.loads((folder / "vocab.json").read_text())
    vocab |= {">>deu<<": len(vocab), ">>tha<<": len(vocab) + 1}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    info = inspect_model(str(folder))
    assert info.codes.kind == "prefix"
    assert translation_direction(info, "en", "de", {}).source_prefix == ">>deu<<"
    assert candidate_codes("th") == ["th", "tha_Thai", "tha"]


def test_every_flores_code_is_one_of_nllb_200s():
    from transformers.models.nllb.tokenization_nllb import FAIRSEQ_LANGUAGE_CODES

    assert set(FLORES_200.values()) <= set(FAIRSEQ_LANGUAGE_CODES)
    assert FLORES_200["th"] == "tha_Thai" and FLORES_200["zh-tw"] == "zho_Hant"


# -- refusals -------------------------------------------------------------------------------------------------------


def test_a_model_that_is_not_seq2seq_is_refused(data_dir, tiny_encoder):
    with pytest.raises(TranslationSetupError, match="'xlm-roberta' model, not a sequence-to-sequence model"):
        translate_data.main([str(data_dir), "--languages", "de", "--model", str(tiny_encoder)])
    assert not (data_dir / "de" / "translations.jsonl").exists()


def test_a_one_pair_model_is_refused_for_another_pair(data_dir, models):
    with pytest.raises(TranslationSetupError, match=r"th: .*opus-mt-en-de translates en -> de .*not en -> th"):
        translate_data.main([str(data_dir), "--languages", "th", "--model", str(models["marian_de"])])
    with pytest.raises(TranslationSetupError, match="no language codes, so it translates into one language"):
        translate_data.main([str(data_dir), "--languages", "de", "es", "--model", str(models["marian_de"])])


def test_model_option_per_language():
    languages = ["de", "es", "ja"]
    models = models_per_language(["Helsinki-NLP/opus-mt-en-{lang}", "ja=Helsinki-NLP/opus-mt-en-jap"], languages)
    assert models == {
        "de": "Helsinki-NLP/opus-mt-en-de",
        "es": "Helsinki-NLP/opus-mt-en-es",
        "ja": "Helsinki-NLP/opus-mt-en-jap",
    }
    with pytest.raises(TranslationSetupError, match="no model for es, ja"):
        models_per_language(["de=model"], languages)
    with pytest.raises(TranslationSetupError, match="fr is not one of --languages"):
        models_per_language(["fr=model"], languages)
    with pytest.raises(TranslationSetupError, match="two models for the same languages"):
        models_per_language(["a/b", "c/d"], languages)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--languages", "en"], "--languages en: the source language"),
        (["--languages", "de", "--language_codes", "th"], "--language_codes th: expected LANG=CODE"),
        (["--languages", "de", "--device", "cuda:0"], "--device cuda:0: no GPU is available here"),
        (["--languages", "de", "--max_new_tokens", "256"], "has 256 decoder positions; give at most 255"),
    ],
)
def test_cli_mistakes_are_one_line(data_dir, models, capsys, arguments, message):
    if "cuda" in message and torch.cuda.is_available():
        pytest.skip("a GPU is available here")
    assert cli([str(data_dir), "--model", str(models["marian_de"]), *arguments]) == 2
    error = capsys.readouterr().err
    assert error.startswith("translate_data.py: error: ") and message in error and error.count("\n") == 1


def test_a_model_that_cannot_be_found_is_one_line(data_dir, capsys, monkeypatch):
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)  # nothing in the cache, nothing downloaded
    assert cli([str(data_dir), "--languages", "de", "--model", "nobody/no-such-model"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("translate_data.py: error: --model nobody/no-such-model: ") and error.count("\n") == 1


def test_missing_english_training_data_is_one_line(tmp_path, models, capsys):
    (tmp_path / "de").mkdir()
    assert cli([str(tmp_path), "--languages", "de", "--model", str(models["marian_de"])]) == 2
    assert "en/train.jsonl: no such file" in capsys.readouterr().err


def test_duplicate_english_ids_are_a_data_error(data_dir, models, capsys):
    train = data_dir / "en" / "train.jsonl"
    train.write_text(train.read_text() + json.dumps({"id": "a1", "text": "again", "intent": "x"}) + "\n")
    assert cli([str(data_dir), "--languages", "de", "--model", str(models["marian_de"])]) == 1
    assert "id 'a1' occurs twice" in capsys.readouterr().err


def run_cli(arguments: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "translate_data.py"), *arguments],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow  # two fresh processes
def test_a_hub_model_is_pinned_to_its_commit_and_resumes_offline(models, data_dir, tmp_path, monkeypatch):
    """A Hub id, as a user gives one: downloaded from a local stand-in of the Hub in a fresh process (HF_ENDPOINT),
    recorded with the commit it resolved to; then resumed with HF_HUB_OFFLINE=1 and the server gone, from the cache."""
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)  # CI sets it; the loopback server is all we reach
    repo_id, token = "test-user/opus-mt-en-de", "hf_test_token"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "HF_HOME": str(tmp_path / "hf")}
    arguments = [str(data_dir), "--languages", "de", "--model", repo_id, "--bf16", "false", "--max_new_tokens", "4"]
    with HubServer(tokens=(token,), lifetime=300) as hub:
        api = HfApi(endpoint=hub.url, token=token)
        api.create_repo(repo_id)
        commit = api.upload_folder(repo_id=repo_id, folder_path=models["marian_de"])
        completed = run_cli(arguments, {**env, "HF_ENDPOINT": hub.url, "HF_TOKEN": token})
        assert completed.returncode == 0, completed.stderr[-3000:]
    settings = json.loads((data_dir / "de" / "translation_settings.json").read_text())
    assert (settings["model"], settings["revision"]) == (repo_id, commit.oid)
    path = data_dir / "de" / "translations.jsonl"
    finished = path.read_bytes()
    path.write_bytes(b"".join(finished.splitlines(keepends=True)[:3]))
    completed = run_cli(arguments, {**env, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "1"})
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads((data_dir / "de" / "translation_report.json").read_text())
    assert (report["written_before"], report["translated_now"]) == (3, 5) and path.read_bytes() == finished


# -- then an aligned run on what was written ------------------------------------------------------------------------


def test_aligned_run_on_the_written_translations(translated, tiny_encoder, tmp_path):
    folder, _ = translated
    output_dir = tmp_path / "aligned"
    results = run_xnlu.main(
        ["--dataset", "jsonl", "--data_dir", str(folder), "--model_name_or_path", str(tiny_encoder)]
        + ["--output_dir", str(output_dir), "--alignment", "crossaligner", "--max_seq_length", "16"]
        + ["--num_train_epochs", "2", "--per_device_train_batch_size", "4", "--report_to", "none"]
        + ["--dataloader_pin_memory", "false", "--logging_steps", "1"]
    )
    assert results.training_pairs == {"de": 8, "es": 8}
    assert set(results.languages) == {"en", "de", "es"} and results.mean_over == ["de", "es"]
    assert (output_dir / "results.json").is_file()


def test_another_format_converts_to_jsonl_as_formats_md_says(tmp_path):
    """data/FORMATS.md's conversion: every reader's examples, written with Dataset.to_json, are jsonl lines that read
    back the same (so their English training data can be translated)."""
    splits = {"en": ["train", "test"], "th": ["test"]}
    corpus = data.load_corpus("mtod", str(FIXTURES / "mtod"), splits=splits, translation_languages=[])
    for language, parts in corpus.labelled.items():
        (tmp_path / language).mkdir(parents=True, exist_ok=True)
        for split, examples in parts.items():
            examples.to_json(str(tmp_path / language / f"{split}.jsonl"), force_ascii=False)
    converted = data.load_corpus("jsonl", str(tmp_path), splits=splits, translation_languages=[])
    for language, parts in corpus.labelled.items():
        for split, examples in parts.items():
            assert converted.labelled[language][split].to_list() == examples.to_list()
