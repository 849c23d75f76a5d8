"""run_xnlu.py end to end on a tiny encoder and a small MTOD-format corpus written by the tests."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from huggingface_hub import ModelCard
from tiny_models import build_tiny_tokenizer
from transformers import AutoTokenizer, XLMRobertaConfig, XLMRobertaModel

import data
import run_xnlu

REPO_ROOT = Path(__file__).resolve().parents[1]

# (English words, English BIO tags, intent, Spanish translation, Spanish words, Spanish tags)
TEMPLATES = [
    ("wake me up at seven am", "O O O O B-datetime I-datetime", "alarm/set_alarm",
     "despierta me a las siete", "O O O B-datetime I-datetime"),
    ("set alarm for nine pm tomorrow", "O O O B-datetime I-datetime I-datetime", "alarm/set_alarm",
     "pon alarma las nueve mañana", "O O B-datetime I-datetime I-datetime"),
    ("what is the weather in boston", "O O O B-weather/noun O B-location", "weather/find",
     "el tiempo en boston", "O B-weather/noun O B-location"),
    ("tell me the weather report for denver", "O O O B-weather/noun I-weather/noun O B-location", "weather/find",
     "el tiempo hoy en denver", "O B-weather/noun B-datetime O B-location"),
    ("remind me to call mom", "O O O O O", "reminder/set_reminder", "recuerda me llamar a mamá", "O O O O O"),
    ("cancel my alarm", "O O O", "alarm/cancel_alarm", "cancela mi alarma", "O O O"),
]


def write_mtod(root: Path, copies: int = 6) -> Path:
    """MTOD's layout (see ../shared/data/mtod/SOURCE.md): conllu-like blocks per language and split, and
    line-aligned translations of the English training set in <lang>/train.tsv."""
    def block(words, tags, intent):
        rows = [f"# text: {' '.join(words)}", f"# intent: {intent}", "# slots: "]
        rows += [f"{i}\t{w}\t{intent}\t{'NoLabel' if t == 'O' else t}" for i, (w, t) in enumerate(zip(words, tags), 1)]
        return "\n".join(rows) + "\n\n"

    for lang in ("en", "es"):
        (root / lang).mkdir(parents=True, exist_ok=True)
    english = [(en.split(), tags.split(), intent) for en, tags, intent, _, _ in TEMPLATES] * copies
    spanish = [(es.split(), tags.split(), intent) for _, _, intent, es, tags in TEMPLATES]
    for split in ("train", "dev", "test"):
        (root / "en" / f"{split}-en.conllu").write_text("".join(block(*e) for e in english), encoding="utf-8")
        (root / "es" / f"{split}-es.conllu").write_text("".join(block(*e) for e in spanish * 2), encoding="utf-8")
    (root / "en" / "train.tsv").write_text("".join(" ".join(w) + "\n" for w, _, _ in english), encoding="utf-8")
    translations = [es for _, _, _, es, _ in TEMPLATES] * copies
    (root / "es" / "train.tsv").write_text("".join(t + "\n" for t in translations), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny_encoder")
    tokenizer = build_tiny_tokenizer()
    torch.manual_seed(0)
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=80, type_vocab_size=1, pad_token_id=tokenizer.pad_token_id,
    )
    XLMRobertaModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def mtod_like(tmp_path_factory):
    return write_mtod(tmp_path_factory.mktemp("mtod_like"))


def cli(tiny_encoder, data_dir, output_dir, *extra):
    return [
        "--dataset", "mtod", "--data_dir", str(data_dir), "--model_name_or_path", str(tiny_encoder),
        "--output_dir", str(output_dir), "--max_seq_length", "16", "--num_train_epochs", "2",
        "--per_device_train_batch_size", "8", "--learning_rate", "1e-3", "--head_learning_rate", "5e-3",
        "--logging_steps", "2", "--report_to", "none", "--dataloader_pin_memory", "false", *extra,
    ]


@pytest.fixture(scope="module")
def aligned_run(tiny_encoder, mtod_like, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("runs") / "aligned"
    results = run_xnlu.main(cli(tiny_encoder, mtod_like, output_dir, "--alignment", "crossaligner", "xeroalign"))
    return output_dir, results


def test_results_json_schema(aligned_run):
    output_dir, results = aligned_run
    saved = json.loads((output_dir / "results.json").read_text())
    assert saved == results
    assert saved["dataset"] == "mtod" and saved["alignment"] == ["crossaligner", "xeroalign"]
    assert saved["weighting"] == "cov" and saved["split"] == "test"
    assert set(saved["languages"]) == {"en", "es"}
    for scores in saved["languages"].values():
        assert set(scores) == {"intent_accuracy", "slot_f1", "exact_match", "overall", "num_examples"}
        assert all(0.0 <= scores[m] <= 1.0 for m in ("intent_accuracy", "slot_f1", "exact_match", "overall"))
        assert scores["overall"] == pytest.approx((scores["intent_accuracy"] + scores["slot_f1"]) / 2)
    assert saved["languages"]["es"]["num_examples"] == 12
    # MEAN is over the target languages (here only es), as in the paper's tables.
    assert saved["mean"] == {k: v for k, v in saved["languages"]["es"].items() if k != "num_examples"}


def test_run_writes_hub_ready_model_dir(aligned_run):
    output_dir, _ = aligned_run
    for name in ("config.json", "model.safetensors", "modeling_crossaligner.py", "tokenizer.json", "README.md",
                 "results.md", "results.png", "predictions_en.jsonl", "predictions_es.jsonl",
                 "train_results.json", "all_results.json", "trainer_state.json"):
        assert (output_dir / name).is_file(), name
    config = json.loads((output_dir / "config.json").read_text())
    assert "AutoModel" in config["auto_map"] and "xnlu" in config["custom_pipelines"]
    card = ModelCard.load(output_dir / "README.md")
    assert card.data.language == ["en", "es"] and card.data.license == "apache-2.0"
    metrics = {(r.dataset_config, r.metric_type) for r in card.data.eval_results}
    assert ("es", "accuracy") in metrics and ("es", "f1") in metrics
    assert "CrossAligner + XeroAlignIO" in card.text and "| es |" in card.text
    prediction = json.loads((output_dir / "predictions_es.jsonl").read_text().splitlines()[0])
    assert set(prediction) == {"id", "words", "gold_intent", "predicted_intent", "gold_tags", "predicted_tags"}
    assert len(prediction["predicted_tags"]) == len(prediction["words"])
    state = json.loads((output_dir / "trainer_state.json").read_text())
    logged = [entry for entry in state["log_history"] if "crossaligner_weight" in entry]
    assert logged and all("xeroalign_loss" in entry and "intent_loss" in entry for entry in logged)


def test_trained_model_loads_in_pipeline(aligned_run):
    from transformers import pipeline

    output_dir, _ = aligned_run
    xnlu = pipeline("xnlu", model=str(output_dir), trust_remote_code=True)
    result = xnlu("wake me up at seven am")
    assert result["intent"] in {"alarm/set_alarm", "weather/find", "reminder/set_reminder", "alarm/cancel_alarm"}


def test_max_train_samples_gives_every_method_the_same_english_examples(tiny_encoder, mtod_like, tmp_path):
    corpus = data.load_corpus("mtod", str(mtod_like), ["en", "es"], cache_dir=str(tmp_path / "cache"))
    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder)

    def training_ids(*extra):
        script_args, training_args = run_xnlu.parse_arguments(
            cli(tiny_encoder, mtod_like, tmp_path / "unused", "--max_train_samples", "10", *extra))
        train, _, _ = run_xnlu.build_datasets(corpus, tokenizer, script_args, training_args)
        return list(train["id"])

    aligned = training_ids("--alignment", "crossaligner")
    zero_shot = training_ids("--alignment", "none")
    target_language = training_ids("--alignment", "none", "--train_languages", "en", "es")
    assert len(aligned) == 10 and aligned == zero_shot
    assert target_language[:10] == zero_shot and len(target_language) == 20  # + 10 of the 12 Spanish examples
    assert training_ids("--alignment", "none", "--seed", "7") != zero_shot


def test_existing_output_dir_is_not_overwritten(aligned_run, tiny_encoder, mtod_like):
    output_dir, _ = aligned_run
    before = (output_dir / "model.safetensors").read_bytes()
    with pytest.raises(FileExistsError, match="--overwrite_output_dir"):
        run_xnlu.main(cli(tiny_encoder, mtod_like, output_dir, "--alignment", "none"))
    assert (output_dir / "model.safetensors").read_bytes() == before


def test_zero_shot_from_yaml_config(tiny_encoder, mtod_like, tmp_path):
    args = cli(tiny_encoder, mtod_like, tmp_path / "zero_shot", "--alignment", "none")
    settings = {}
    for flag, value in zip(args[::2], args[1::2]):
        settings[flag.removeprefix("--")] = value
    config_file = tmp_path / "run.yaml"
    config_file.write_text(yaml.safe_dump(settings))
    results = run_xnlu.main([str(config_file)])
    assert results["alignment"] == [] and results["languages"]["es"]["num_examples"] == 12
    card = (tmp_path / "zero_shot" / "README.md").read_text()
    assert "Zero-Shot baseline" in card


def test_resume_from_checkpoint_continues(tiny_encoder, mtod_like, tmp_path):
    output_dir = tmp_path / "resumed"
    run_xnlu.main(cli(tiny_encoder, mtod_like, output_dir, "--alignment", "crossaligner", "--num_train_epochs", "1"))
    checkpoints = sorted(output_dir.glob("checkpoint-*"))
    assert checkpoints
    results = run_xnlu.main(
        cli(tiny_encoder, mtod_like, output_dir, "--alignment", "crossaligner", "--resume_from_checkpoint", "last")
    )
    state = json.loads((output_dir / "trainer_state.json").read_text())
    assert state["epoch"] == 2 and results["alignment"] == ["crossaligner"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--dataset", "atis"], "unknown dataset 'atis'"),
        (["--alignment", "crossalign"], "unknown alignment"),
        (["--weighting", "mean"], "invalid choice: 'mean'"),
        (["--target_languages", "de"], "no folder for language(s) ['de']"),
    ],
)
def test_bad_options_list_valid_values(tiny_encoder, mtod_like, tmp_path, extra, message, capsys):
    with pytest.raises((ValueError, FileNotFoundError, SystemExit)) as error:
        run_xnlu.main(cli(tiny_encoder, mtod_like, tmp_path / "out", *extra))
    assert message in str(error.value) + capsys.readouterr().err


def test_missing_data_dir_says_which(tiny_encoder, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        run_xnlu.main(cli(tiny_encoder, tmp_path / "nowhere", tmp_path / "out"))
    with pytest.raises(ValueError, match="needs data_dir"):
        run_xnlu.main(["--dataset", "mtod", "--output_dir", str(tmp_path / "out2")])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_accelerate_launch_two_cpu_processes(tiny_encoder, mtod_like, tmp_path):
    output_dir = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(_free_port()), str(REPO_ROOT / "run_xnlu.py"),
        *cli(tiny_encoder, mtod_like, output_dir, "--alignment", "crossaligner", "xeroalign", "--use_cpu", "true"),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    completed = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-4000:]
    results = json.loads((output_dir / "results.json").read_text())
    assert set(results["languages"]) == {"en", "es"}
    state = json.loads((output_dir / "trainer_state.json").read_text())
    # 36 pairs, 2 processes x batch 8 = 16 pairs per step -> 3 steps per epoch, 2 epochs.
    assert state["global_step"] == 6
