"""run_xnlu.py end to end on a tiny encoder and a small MTOD-format corpus written by the tests."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from huggingface_hub import ModelCard
from safetensors.torch import load_file
from seqeval.metrics import f1_score, precision_score, recall_score
from transformers import AutoTokenizer, TrainerCallback

import data
import run_arguments
import run_device
import run_xnlu
from reporting import read_predictions

REPO_ROOT = Path(__file__).resolve().parents[1]

# (English words, English BIO tags, intent, Spanish translation, Spanish tags, German translation, German tags).
# The Spanish test set has a gold entity that starts with a stray I- tag, as MTOD's real Spanish and Thai test sets do.
TEMPLATES = [
    (
        "wake me up at seven am",
        "O O O O B-datetime I-datetime",
        "alarm/set_alarm",
        "despierta me a las siete",
        "O O O B-datetime I-datetime",
        "weck mich um sieben uhr",
        "O O O B-datetime I-datetime",
    ),
    (
        "set alarm for nine pm tomorrow",
        "O O O B-datetime I-datetime I-datetime",
        "alarm/set_alarm",
        "pon alarma las nueve mañana",
        "O O I-datetime I-datetime I-datetime",
        "weck mich um neun",
        "O O O B-datetime",
    ),
    (
        "what is the weather in boston",
        "O O O B-weather/noun O B-location",
        "weather/find",
        "el tiempo en boston",
        "O B-weather/noun O B-location",
        "wetter in berlin",
        "B-weather/noun O B-location",
    ),
    (
        "tell me the weather report for denver",
        "O O O B-weather/noun I-weather/noun O B-location",
        "weather/find",
        "el tiempo hoy en denver",
        "O B-weather/noun B-datetime O B-location",
        "wetter in denver",
        "B-weather/noun O B-location",
    ),
    (
        "remind me to call mom",
        "O O O O O",
        "reminder/set_reminder",
        "recuerda me llamar a mamá",
        "O O O O O",
        "erinnere mich mama",
        "O O O",
    ),
    ("cancel my alarm", "O O O", "alarm/cancel_alarm", "cancela mi alarma", "O O O", "alarm aus", "O O"),
]
TARGETS = ("es", "de")


def squeezed(markdown: str) -> str:
    """Markdown tables without the padding that aligns their columns: `| name | value |`."""
    return re.sub(r" *\| *", " | ", markdown)


def table_row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def write_mtod(root: Path, copies: int = 6) -> Path:
    """MTOD's layout (see data/FORMATS.md): conllu-like blocks per language and split, and line-aligned translations
    of the English training set in <lang>/train.tsv."""

    def block(words, tags, intent):
        rows = [f"# text: {' '.join(words)}", f"# intent: {intent}", "# slots: "]
        rows += [f"{i}\t{w}\t{intent}\t{'NoLabel' if t == 'O' else t}" for i, (w, t) in enumerate(zip(words, tags), 1)]
        return "\n".join(rows) + "\n\n"

    english = [(row[0].split(), row[1].split(), row[2]) for row in TEMPLATES] * copies
    for split in ("train", "dev", "test"):
        (root / "en").mkdir(parents=True, exist_ok=True)
        (root / "en" / f"{split}-en.conllu").write_text("".join(block(*e) for e in english), encoding="utf-8")
    (root / "en" / "train.tsv").write_text("".join(" ".join(w) + "\n" for w, _, _ in english), encoding="utf-8")
    for position, language in enumerate(TARGETS):
        (root / language).mkdir(parents=True, exist_ok=True)
        column = 3 + 2 * position
        labelled = [(row[column].split(), row[column + 1].split(), row[2]) for row in TEMPLATES]
        for split in ("train", "dev", "test"):
            text = "".join(block(*e) for e in labelled * 2)
            (root / language / f"{split}-{language}.conllu").write_text(text, encoding="utf-8")
        translations = [row[column] for row in TEMPLATES] * copies
        (root / language / "train.tsv").write_text("".join(t + "\n" for t in translations), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def mtod_like(tmp_path_factory):
    return write_mtod(tmp_path_factory.mktemp("mtod_like"))


def cli(tiny_encoder, data_dir, output_dir, *extra):
    return [
        "--dataset",
        "mtod",
        "--data_dir",
        str(data_dir),
        "--model_name_or_path",
        str(tiny_encoder),
        "--output_dir",
        str(output_dir),
        "--max_seq_length",
        "16",
        "--num_train_epochs",
        "2",
        "--per_device_train_batch_size",
        "8",
        "--learning_rate",
        "1e-3",
        "--head_learning_rate",
        "5e-3",
        "--logging_steps",
        "1",
        "--report_to",
        "none",
        "--dataloader_pin_memory",
        "false",
        *extra,
    ]


@pytest.fixture(scope="module")
def aligned_run(tiny_encoder, mtod_like, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("runs") / "aligned"
    results = run_xnlu.main(cli(tiny_encoder, mtod_like, output_dir, "--alignment", "crossaligner", "xeroalign"))
    return output_dir, results


# -- what a run writes ----------------------------------------------------------------------------------------------


def test_results_json_schema(aligned_run):
    output_dir, results = aligned_run
    saved = json.loads((output_dir / "results.json").read_text())
    assert saved == results.to_json() and run_xnlu.RunResults.from_json(saved) == results
    assert saved["dataset"] == "mtod" and saved["alignment"] == ["crossaligner", "xeroalign"]
    assert saved["weighting"] == "cov" and saved["split"] == "test" and saved["pairing"] == "rotate"
    assert list(saved["languages"]) == ["en", "de", "es"] and saved["mean_over"] == ["de", "es"]
    for scores in saved["languages"].values():
        assert {
            "intent_accuracy",
            "slot_f1",
            "slot_precision",
            "slot_recall",
            "exact_match",
            "overall",
            "num_examples",
            "slot_types",
        } <= set(scores)
        assert all(0.0 <= scores[m] <= 1.0 for m in ("intent_accuracy", "slot_f1", "exact_match", "overall"))
        assert scores["overall"] == pytest.approx((scores["intent_accuracy"] + scores["slot_f1"]) / 2)
    assert saved["languages"]["es"]["num_examples"] == 12
    # MEAN is over the target languages, as in the paper's tables; English is reported apart.
    for name in ("intent_accuracy", "slot_f1", "overall"):
        es, de = saved["languages"]["es"][name], saved["languages"]["de"][name]
        assert saved["mean"][name] == pytest.approx((es + de) / 2)
    assert saved["training_examples"] == {"en": 36} and saved["numeric_precision"] == "fp32"
    # A checkpoint other than the embedded encoder: transformers' defaults, except what the options set.
    assert saved["learning_rate"] == 1e-3 and saved["head_learning_rate"] == 5e-3 and saved["frozen"] == "nothing"
    # 36 English examples, 2 epochs, 2 target languages rotating: every example meets both languages.
    assert saved["training_pairs"] == {"de": 36, "es": 36}


def test_predictions_rescored_independently_give_results_json(aligned_run):
    """seqeval's default mode (conlleval chunks) on predictions_<lang>.jsonl reproduces every slot score, the stray
    I- gold entity in the Spanish test set included."""
    output_dir, results = aligned_run
    for language, scores in results.languages.items():
        rows = read_predictions(output_dir / f"predictions_{language}.jsonl")
        gold, predicted = [row["gold_tags"] for row in rows], [row["predicted_tags"] for row in rows]
        assert scores["slot_f1"] == pytest.approx(f1_score(gold, predicted))
        assert scores["slot_precision"] == pytest.approx(precision_score(gold, predicted))
        assert scores["slot_recall"] == pytest.approx(recall_score(gold, predicted))
        accuracy = sum(row["gold_intent"] == row["predicted_intent"] for row in rows) / len(rows)
        assert scores["intent_accuracy"] == pytest.approx(accuracy)
    stray = [
        row for row in read_predictions(output_dir / "predictions_es.jsonl") if row["gold_tags"][2] == "I-datetime"
    ]
    assert stray and results.languages["es"]["num_gold_slots"] == 2 * (2 + 2 + 3 + 0 + 0 + 0)


def test_run_writes_hub_ready_model_dir(aligned_run):
    output_dir, _ = aligned_run
    for name in (
        "config.json",
        "model.safetensors",
        "modeling_crossaligner.py",
        "tokenizer.json",
        "README.md",
        "results.md",
        "results.png",
        "predictions_en.jsonl",
        "predictions_es.jsonl",
        "predictions_de.jsonl",
        "train_results.json",
        "predict_results.json",
        "all_results.json",
        "trainer_state.json",
    ):
        assert (output_dir / name).is_file(), name
    config = json.loads((output_dir / "config.json").read_text())
    assert "AutoModel" in config["auto_map"] and "xnlu" in config["custom_pipelines"]
    card = ModelCard.load(output_dir / "README.md")
    assert card.data.language == ["en", "de", "es"] and card.data.license == "cc-by-sa-4.0"  # MTOD's license
    metrics = {(r.dataset_config, r.metric_type) for r in card.data.eval_results}
    assert {("es", "accuracy"), ("es", "f1"), ("mean", "f1"), ("de", "recall"), ("de", "exact_match")} <= metrics
    # The widget: test utterances, the target languages' first, then the training language's, in turns.
    assert [example["example_title"] for example in card.data.widget] == ["de", "es", "en", "de", "es"]
    for example in card.data.widget:
        rows = read_predictions(output_dir / f"predictions_{example['example_title']}.jsonl")
        assert example["text"] in {" ".join(row["words"]) for row in rows}
    text = squeezed(card.text)
    assert "CrossAligner + XeroAlignIO" in text and "| es |" in text and "original BIO gold" in text
    assert table_row("effective batch size", "8") in text and table_row("scheduler", "linear") in text
    assert "English examples paired with each target language over the run: de 36, es 36" in card.text
    prediction = json.loads((output_dir / "predictions_es.jsonl").read_text().splitlines()[0])
    assert set(prediction) == {"id", "words", "gold_intent", "predicted_intent", "gold_tags", "predicted_tags"}
    assert len(prediction["predicted_tags"]) == len(prediction["words"])
    state = json.loads((output_dir / "trainer_state.json").read_text())
    logged = [entry for entry in state["log_history"] if "crossaligner_weight" in entry]
    assert logged and all("xeroalign_loss" in entry and "intent_loss" in entry for entry in logged)
    predicted = json.loads((output_dir / "predict_results.json").read_text())
    assert predicted["predict_slot_f1"] == pytest.approx(aligned_run[1].mean["slot_f1"])
    assert "predict_en_intent_accuracy" in predicted


def test_trained_model_loads_in_pipeline(aligned_run):
    from transformers import pipeline

    output_dir, _ = aligned_run
    xnlu = pipeline("xnlu", model=str(output_dir), trust_remote_code=True)
    result = xnlu("wake me up at seven am")
    assert result["intent"] in {"alarm/set_alarm", "weather/find", "reminder/set_reminder", "alarm/cancel_alarm"}


def test_io_scored_run_says_so_in_its_card(tiny_encoder, mtod_like, tmp_path):
    run_xnlu.main(
        cli(
            tiny_encoder,
            mtod_like,
            tmp_path / "io",
            "--alignment",
            "none",
            "--gold_scheme",
            "io",
            "--num_train_epochs",
            "1",
            "--license",
            "mit",
            "--target_languages",
            "es",
        )
    )
    card = ModelCard.load(tmp_path / "io" / "README.md")
    assert "IO-collapsed gold" in card.text and "original BIO gold" not in card.text
    assert card.data.license == "mit" and "gold: IO" in (tmp_path / "io" / "results.md").read_text()


# -- the paper's protocol -------------------------------------------------------------------------------------------


def test_a_single_method_has_weight_one_at_every_step(tiny_encoder, mtod_like, tmp_path):
    results = run_xnlu.main(cli(tiny_encoder, mtod_like, tmp_path / "ca", "--alignment", "crossaligner"))
    state = json.loads((tmp_path / "ca" / "trainer_state.json").read_text())
    weights = [entry["crossaligner_weight"] for entry in state["log_history"] if "crossaligner_weight" in entry]
    assert len(weights) == state["global_step"] and set(weights) == {1.0}
    assert results.weighting == "sum"
    assert "(weighting: 1 each)" in (tmp_path / "ca" / "results.md").read_text()
    assert (
        "the alignment loss is added to the intent and slot losses as it is"
        in (tmp_path / "ca" / "README.md").read_text()
    )


def test_one_model_per_target_language_pairs_every_english_example_with_it(tiny_encoder, mtod_like, tmp_path):
    output_dir = tmp_path / "per_language"
    arguments = cli(tiny_encoder, mtod_like, output_dir, "--alignment", "crossaligner", "--num_train_epochs", "1",
                    "--one_model_per_language", "true")  # fmt: skip
    results = run_xnlu.main(arguments)
    assert results.protocol == "one model per target language" and list(results.languages) == ["de", "es"]
    assert results.training_pairs == {"es": 36, "de": 36}  # every English example, with ONE epoch
    assert set(results.source_scores) == {"es", "de"}  # each model's English scores, apart from the MEAN
    for language in ("es", "de"):
        own = json.loads((output_dir / language / "results.json").read_text())
        assert own["target_languages"] == [language] and list(own["languages"]) == ["en", language]
        assert results.languages[language] == own["languages"][language]
        assert (output_dir / language / "model.safetensors").is_file()
        assert own["training_pairs"] == {language: 36}
    assert json.loads((output_dir / "results.json").read_text()) == results.to_json()
    assert (output_dir / "results.png").is_file() and "en (es model, train)" in (output_dir / "results.md").read_text()
    # Resuming keeps the languages that finished: nothing is trained again.
    before = (output_dir / "es" / "model.safetensors").read_bytes()
    again = run_xnlu.main(arguments + ["--resume_from_checkpoint", "last"])
    assert again == results and (output_dir / "es" / "model.safetensors").read_bytes() == before


@pytest.mark.parametrize("pairing, epochs, expected", [("rotate", 1, 18), ("rotate", 2, 36), ("all", 1, 36)])
def test_one_model_for_several_targets_uses_what_the_readme_says(
    tiny_encoder, mtod_like, tmp_path, pairing, epochs, expected
):
    """README: with L target languages and 'rotate', an epoch pairs each English example with one language, so each
    language gets 1/L of the English examples per epoch and all of them after L epochs; 'all' pairs every example
    with every language in every epoch (L times the steps)."""
    results = run_xnlu.main(
        cli(
            tiny_encoder,
            mtod_like,
            tmp_path / "run",
            "--alignment",
            "crossaligner",
            "--pairing",
            pairing,
            "--num_train_epochs",
            str(epochs),
        )
    )
    assert results.training_pairs == {"de": expected, "es": expected}
    state = json.loads((tmp_path / "run" / "trainer_state.json").read_text())
    rows_per_epoch = 36 * (2 if pairing == "all" else 1)
    assert state["global_step"] == epochs * -(-rows_per_epoch // 8)


def test_target_language_baseline_trains_each_model_on_its_own_language(tiny_encoder, mtod_like, tmp_path):
    results = run_xnlu.main(
        cli(
            tiny_encoder,
            mtod_like,
            tmp_path / "target",
            "--alignment",
            "none",
            "--train_languages",
            "target",
            "--one_model_per_language",
            "true",
        )
    )
    for language in ("es", "de"):
        own = json.loads((tmp_path / "target" / language / "results.json").read_text())
        assert own["train_languages"] == [language] and own["training_examples"] == {language: 12}
        assert list(own["languages"]) == [language] and "training_pairs" not in own or own["training_pairs"] == {}
    assert results.mean_over == ["de", "es"]


def test_max_train_samples_gives_every_method_the_same_english_examples(tiny_encoder, mtod_like, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder)
    encode = dict(
        tokenizer=tokenizer,
        intent_labels=["alarm/cancel_alarm", "alarm/set_alarm", "reminder/set_reminder", "weather/find"],
        slot_labels=["O", "datetime", "location", "weather/noun"],
        max_seq_length=16,
    )

    def training_ids(*extra):
        script_args, training_args = run_xnlu.parse_arguments(
            cli(tiny_encoder, mtod_like, tmp_path / "unused", "--max_train_samples", "10", *extra)
        )
        targets = run_xnlu.target_languages(script_args)
        plan = run_xnlu.make_plan(script_args, training_args, targets, "en")
        corpus = data.load_corpus(
            "mtod", str(mtod_like), splits=plan.splits(training_args, "en"), cache_dir=str(tmp_path / "cache")
        )
        train = run_xnlu.build_training_set(corpus, plan, encode, script_args, training_args.seed)
        return list(dict.fromkeys(train["id"])), train

    aligned, pairs = training_ids("--alignment", "crossaligner")
    zero_shot, _ = training_ids("--alignment", "none")
    assert len(aligned) == 10 and aligned == zero_shot
    assert sorted(set(pairs["translation_language"])) == ["de", "es"] and len(pairs) == 20
    target_language, rows = training_ids("--alignment", "none", "--train_languages", "target")
    assert set(rows["language"]) == {"es", "de"} and len(rows) == 20
    assert training_ids("--alignment", "none", "--seed", "7")[0] != zero_shot


# -- what a run reads -----------------------------------------------------------------------------------------------


def corrupt(path: Path) -> None:
    path.write_text("# text: broken\n1\tbroken\n\n", encoding="utf-8")


@pytest.mark.parametrize("alignment", ["none", "crossaligner"])
def test_zero_shot_and_aligned_runs_never_read_labelled_target_training_files(
    tiny_encoder, mtod_like, tmp_path, alignment
):
    """The zero-shot guarantee: no target-language label is read for training. A corrupted target-language training
    file, and a language folder outside --target_languages, leave these runs unaffected."""
    data_dir = tmp_path / "data"
    shutil.copytree(mtod_like, data_dir)
    corrupt(data_dir / "es" / "train-es.conllu")
    corrupt(data_dir / "de" / "train-de.conllu")
    (data_dir / "fr").mkdir()  # not a target: its folder is never opened
    corrupt(data_dir / "fr" / "test-fr.conllu")
    results = run_xnlu.main(
        cli(
            tiny_encoder,
            data_dir,
            tmp_path / "out",
            "--alignment",
            alignment,
            "--num_train_epochs",
            "1",
            "--target_languages",
            "es",
            "de",
        )
    )
    assert list(results.languages) == ["en", "es", "de"]
    # The Target Language baseline does read them, and stops at the corrupted file with its name and line.
    with pytest.raises(
        data.DataFormatError, match=r"es/train-es.conllu, line 2: 2 columns: expected index, token, intent and tag"
    ):
        run_xnlu.main(
            cli(
                tiny_encoder,
                data_dir,
                tmp_path / "target",
                "--alignment",
                "none",
                "--train_languages",
                "target",
                "--target_languages",
                "es",
            )
        )


def test_malformed_examples_stop_the_run_or_are_skipped_and_counted(tiny_encoder, mtod_like, tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(mtod_like, data_dir)
    test_file = data_dir / "es" / "test-es.conllu"
    blocks = test_file.read_text(encoding="utf-8").split("\n\n")
    blocks[0] = blocks[0].replace("\tB-datetime", "\tX-datetime", 1)  # a malformed tag in the first example
    test_file.write_text("\n\n".join(blocks), encoding="utf-8")
    arguments = cli(
        tiny_encoder,
        data_dir,
        tmp_path / "out",
        "--alignment",
        "none",
        "--num_train_epochs",
        "1",
        "--target_languages",
        "es",
    )
    with pytest.raises(data.DataFormatError, match=r"test-es.conllu, line 1: malformed BIO tag 'X-datetime'"):
        run_xnlu.main(arguments)
    results = run_xnlu.main(arguments + ["--skip_malformed_examples", "true"])
    assert results.skipped_examples == {str(test_file): 1}
    assert results.languages["es"]["num_examples"] == 11
    assert f"`{test_file}` 1" in (tmp_path / "out" / "README.md").read_text()


# -- using a trained model ------------------------------------------------------------------------------------------


def test_a_trained_model_is_scored_without_training(aligned_run, mtod_like, tmp_path):
    trained_dir, trained = aligned_run
    output_dir = tmp_path / "scored"
    results = run_xnlu.main(
        [
            "--model_name_or_path",
            str(trained_dir),
            "--dataset",
            "mtod",
            "--data_dir",
            str(mtod_like),
            "--output_dir",
            str(output_dir),
            "--do_eval",
            "--do_predict",
            "--report_to",
            "none",
        ]
    )
    assert not results.trained and results.split == "test"
    for language in ("en", "es", "de"):
        assert results.languages[language] == trained.languages[language]
    assert (output_dir / "eval_results.json").is_file() and (output_dir / "predict_results.json").is_file()
    assert (output_dir / "predictions_es.jsonl").read_text() == (trained_dir / "predictions_es.jsonl").read_text()
    assert not (output_dir / "model.safetensors").exists() and not list(output_dir.glob("checkpoint-*"))


def test_training_alone_saves_the_model_and_scores_nothing(tiny_encoder, mtod_like, tmp_path):
    """--do_train without --do_eval/--do_predict: an aligned run still reads the translations (and no target-language
    split), trains, and writes the model, its card and train_results.json, with no scores."""
    output_dir = tmp_path / "train_only"
    results = run_xnlu.main(
        cli(tiny_encoder, mtod_like, output_dir, "--alignment", "crossaligner", "--do_train", "true")
    )
    assert results.trained and results.languages == {} and results.mean == {}
    assert results.training_pairs == {"es": 36, "de": 36}  # 36 English examples, 2 epochs, 2 languages in turn
    written = {path.name for path in output_dir.iterdir()}
    assert {"model.safetensors", "README.md", "train_results.json", "results.json"} <= written
    assert not any(
        name.startswith(("predictions_", "predict_results", "eval_results", "results.md")) for name in written
    )
    card = (output_dir / "README.md").read_text(encoding="utf-8")
    assert "model-index" not in card and "Not scored: this run trained only" in card

    merged = run_xnlu.main(
        cli(
            tiny_encoder,
            mtod_like,
            tmp_path / "per_language",
            "--alignment",
            "crossaligner",
            "--do_train",
            "true",
            "--one_model_per_language",
            "true",
        )
    )
    assert merged.languages == {} and merged.training_pairs == {"es": 36, "de": 36}
    assert all((tmp_path / "per_language" / language / "model.safetensors").is_file() for language in ("es", "de"))


def test_bf16_mixed_precision_from_accelerate_launch_runs_under_autocast_and_is_recorded(
    tiny_encoder, mtod_like, tmp_path, monkeypatch, caplog
):
    """`accelerate launch --mixed_precision bf16` sets ACCELERATE_MIXED_PRECISION: training and scoring run under
    bf16 autocast on the CPU, results.json and the card say so, and a CPU without native bf16 gets a warning."""
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
    autocast = []

    class RecordingTrainer(run_xnlu.CrossAlignerTrainer):
        def compute_loss(self, model, inputs, *args, **kwargs):
            hook = self.accelerator.unwrap_model(model).roberta.encoder.register_forward_pre_hook(
                lambda module, arguments: autocast.append((module.training, torch.is_autocast_enabled("cpu")))
            )
            try:
                return super().compute_loss(model, inputs, *args, **kwargs)
            finally:
                hook.remove()

    monkeypatch.setattr(run_xnlu, "CrossAlignerTrainer", RecordingTrainer)
    monkeypatch.setattr(run_device, "cpu_multiplies_bf16", lambda: False)
    output_dir = tmp_path / "bf16"
    with caplog.at_level("WARNING", logger="run_xnlu"):
        results = run_xnlu.main(cli(tiny_encoder, mtod_like, output_dir, "--alignment", "crossaligner"))
    assert re.search(r"without native bf16.*ran \d+x slower than in fp32 \(measured now\)", caplog.text)
    assert results.precision_choice.startswith("as asked: accelerate launch --mixed_precision bf16; ")
    assert {training for training, _ in autocast} == {True, False}  # training steps and scoring were both seen
    assert all(enabled for _, enabled in autocast)
    assert results.numeric_precision == "bf16 mixed precision"
    card = (output_dir / "README.md").read_text(encoding="utf-8")
    assert (
        "| precision | bf16 mixed precision (as asked: accelerate launch --mixed_precision bf16; this CPU"
        in squeezed(card)
    )


def test_labels_the_model_does_not_know_are_reported_and_scored_as_errors(aligned_run, mtod_like, tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(mtod_like, data_dir)
    test_file = data_dir / "es" / "test-es.conllu"
    test_file.write_text(
        test_file.read_text(encoding="utf-8")
        .replace("alarm/cancel_alarm", "alarm/snooze")
        .replace("B-location", "B-city"),
        encoding="utf-8",
    )
    results = run_xnlu.main(
        [
            "--model_name_or_path",
            str(aligned_run[0]),
            "--dataset",
            "mtod",
            "--data_dir",
            str(data_dir),
            "--output_dir",
            str(tmp_path / "out"),
            "--do_predict",
            "--target_languages",
            "es",
            "--report_to",
            "none",
        ]
    )
    assert results.unknown_labels == {"es": {"intents": {"alarm/snooze": 2}, "slot_types": {"city": 4}}}
    assert results.languages["es"]["num_examples"] == 12
    assert results.languages["es"]["slot_types"]["city"]["recall"] == 0.0


def test_scoring_needs_a_trained_joint_model(tiny_encoder, mtod_like, tmp_path):
    with pytest.raises(ValueError, match="must be a trained joint model"):
        run_xnlu.main(cli(tiny_encoder, mtod_like, tmp_path / "out", "--do_predict"))


# -- output folders, resume, options --------------------------------------------------------------------------------


def test_existing_output_dir_is_not_overwritten(aligned_run, tiny_encoder, mtod_like):
    output_dir, _ = aligned_run
    before = (output_dir / "model.safetensors").read_bytes()
    with pytest.raises(run_arguments.UsageError, match="--overwrite_output_dir"):
        run_xnlu.main(cli(tiny_encoder, mtod_like, output_dir, "--alignment", "none"))
    assert (output_dir / "model.safetensors").read_bytes() == before


def test_overwrite_output_dir_removes_what_the_previous_run_wrote_and_nothing_else(tiny_encoder, mtod_like, tmp_path):
    output_dir = tmp_path / "out"
    run_xnlu.main(cli(tiny_encoder, mtod_like, output_dir, "--alignment", "none", "--num_train_epochs", "1"))
    assert (output_dir / "predictions_de.jsonl").is_file()
    (output_dir / "notes.txt").write_text("mine\n")
    (output_dir / "plots").mkdir()
    run_xnlu.main(
        cli(
            tiny_encoder,
            mtod_like,
            output_dir,
            "--alignment",
            "none",
            "--num_train_epochs",
            "1",
            "--target_languages",
            "es",
            "--overwrite_output_dir",
            "true",
        )
    )
    assert not (output_dir / "predictions_de.jsonl").exists()  # stale: the new run did not score German
    assert (output_dir / "notes.txt").read_text() == "mine\n" and (output_dir / "plots").is_dir()
    assert json.loads((output_dir / "results.json").read_text())["target_languages"] == ["es"]


def test_zero_shot_from_yaml_config(tiny_encoder, mtod_like, tmp_path):
    args = cli(tiny_encoder, mtod_like, tmp_path / "zero_shot", "--alignment", "none")
    settings = {}
    for flag, value in zip(args[::2], args[1::2]):
        settings[flag.removeprefix("--")] = value
    config_file = tmp_path / "run.yaml"
    config_file.write_text(yaml.safe_dump(settings))
    results = run_xnlu.main([str(config_file)])
    assert results.alignment == [] and results.languages["es"]["num_examples"] == 12
    card = (tmp_path / "zero_shot" / "README.md").read_text()
    assert "Zero-Shot baseline" in card


class Interrupt(TrainerCallback):
    """Stops training (as a crash would) right after the step given, once that step's checkpoint is written."""

    def __init__(self, at_step):
        self.at_step = at_step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.at_step:
            raise KeyboardInterrupt


def test_an_interrupted_run_resumed_from_its_last_checkpoint_ends_as_an_uninterrupted_run(
    tiny_encoder, mtod_like, tmp_path, monkeypatch
):
    arguments = [
        "--alignment",
        "crossaligner",
        "xeroalign",
        "--num_train_epochs",
        "3",
        "--save_strategy",
        "steps",
        "--save_steps",
        "5",
        "--save_total_limit",
        "2",
        "--target_languages",
        "es",
    ]
    uninterrupted = run_xnlu.main(cli(tiny_encoder, mtod_like, tmp_path / "a", *arguments))

    class InterruptedTrainer(run_xnlu.CrossAlignerTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.add_callback(Interrupt(at_step=5))

    with monkeypatch.context() as patch:
        patch.setattr(run_xnlu, "CrossAlignerTrainer", InterruptedTrainer)
        with pytest.raises(KeyboardInterrupt):
            run_xnlu.main(cli(tiny_encoder, mtod_like, tmp_path / "b", *arguments))
    assert [path.name for path in (tmp_path / "b").glob("checkpoint-*")] == ["checkpoint-5"]

    trained_batches = []

    class CountingTrainer(run_xnlu.CrossAlignerTrainer):
        def compute_loss(self, model, inputs, *args, **kwargs):
            if model.training:
                trained_batches.append(self.state.global_step)
            return super().compute_loss(model, inputs, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(run_xnlu, "CrossAlignerTrainer", CountingTrainer)
        resumed = run_xnlu.main(
            cli(tiny_encoder, mtod_like, tmp_path / "b", *arguments, "--resume_from_checkpoint", "last")
        )
    # It continued: only the 10 steps after the checkpoint were trained (starting over would train all 15 and, the
    # run being deterministic, could end with the very same parameters).
    assert trained_batches == list(range(5, 15))

    expected, actual = (load_file(tmp_path / run / "model.safetensors") for run in ("a", "b"))
    assert expected.keys() == actual.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=0, msg=name)
    final = "checkpoint-15"
    assert json.loads((tmp_path / "b" / final / "cov_state.json").read_text()) == json.loads(
        (tmp_path / "a" / final / "cov_state.json").read_text()
    )
    assert resumed.languages == uninterrupted.languages
    state = json.loads((tmp_path / "b" / "trainer_state.json").read_text())
    assert state["global_step"] == 15 and state["log_history"][0]["step"] == 1  # the log carried on, not restarted


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--dataset", "atis"], "--dataset atis: unknown dataset"),
        (["--alignment", "crossalign"], "--alignment crossalign: unknown alignment"),
        (["--weighting", "mean"], "invalid choice: 'mean'"),
        (["--target_languages", "fr"], "has no language 'fr'"),
        (["--train_languages", "target", "es"], "--train_languages target stands alone"),
        (["--do_train", "false"], "nothing to do"),
        (["--push_to_hub", "--hub_model_id", "a/b", "--hub_strategy", "checkpoint"], "publishes once, at the end"),
        (["--push_to_hub", "--hub_model_id", "a/b", "--hub_always_push", "true"], "publishes once, at the end"),
    ],
)
def test_bad_options_list_valid_values(tiny_encoder, mtod_like, tmp_path, extra, message, capsys):
    with pytest.raises((ValueError, FileNotFoundError, SystemExit)) as error:
        run_xnlu.main(cli(tiny_encoder, mtod_like, tmp_path / "out", *extra))
    assert message in str(error.value) + capsys.readouterr().err


def test_help_texts_are_true_to_the_code(capsys):
    with pytest.raises(SystemExit):
        run_xnlu.parse_arguments(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "SPEC" not in text and "shared/" not in text
    assert "'sum' for a single loss" in text and "for any other checkpoint unset, i.e. --learning_rate" in text


def test_missing_data_dir_says_which(tiny_encoder, tmp_path):
    with pytest.raises(run_arguments.UsageError, match="--data_dir .*nowhere: no such folder"):
        run_xnlu.main(cli(tiny_encoder, tmp_path / "nowhere", tmp_path / "out"))
    with pytest.raises(run_arguments.UsageError, match="needs --data_dir"):
        run_xnlu.main(["--dataset", "mtod", "--output_dir", str(tmp_path / "out2")])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_accelerate_launch_two_cpu_processes(tiny_encoder, mtod_like, tmp_path):
    output_dir = tmp_path / "ddp"
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(_free_port()),
        str(REPO_ROOT / "run_xnlu.py"),
        *cli(
            tiny_encoder,
            mtod_like,
            output_dir,
            "--alignment",
            "crossaligner",
            "xeroalign",
            "--use_cpu",
            "true",
            "--target_languages",
            "es",
        ),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    completed = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-4000:]
    results = json.loads((output_dir / "results.json").read_text())
    assert set(results["languages"]) == {"en", "es"}
    state = json.loads((output_dir / "trainer_state.json").read_text())
    # 36 pairs, 2 processes x batch 8 = 16 pairs per step -> 3 steps per epoch, 2 epochs.
    assert state["global_step"] == 6


@pytest.mark.slow
@pytest.mark.parametrize(
    "threads_option, expected", [([], "using all"), (["--num_cpu_threads_per_process", "1"], None)]
)
def test_accelerate_launch_of_one_cpu_process_uses_every_core(
    tiny_encoder, mtod_like, tmp_path, threads_option, expected
):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: nothing to choose")
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        *threads_option,
        str(REPO_ROOT / "run_xnlu.py"),
        *cli(
            tiny_encoder,
            mtod_like,
            tmp_path / "out",
            "--alignment",
            "none",
            "--num_train_epochs",
            "1",
            "--target_languages",
            "es",
        ),
    ]
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    completed = subprocess.run(
        command, cwd=REPO_ROOT, env={**env, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=600
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    found = "accelerate launch gave this single CPU process 1 thread: using all" in completed.stderr
    assert found == (expected is not None)
