"""run_xnlu.py's command line: precision chosen for the machine, defaults that fit the encoder, the help layout, one
clear line for each user mistake, and a quiet console."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from test_run_xnlu import cli, squeezed, table_row, write_mtod

import run_device
import run_xnlu
from run_arguments import EMBEDDED_ENCODER_RECIPE, UsageError, parse_arguments
from run_device import choose_precision

REPO_ROOT = run_xnlu.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mtod_like(tmp_path_factory):
    return write_mtod(tmp_path_factory.mktemp("mtod_like"))


@pytest.fixture
def cpu_only(monkeypatch):
    """A machine without GPUs, not started by accelerate launch; `native(True/False)` fakes the CPU's bf16."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION", raising=False)

    def native(multiplies_bf16: bool) -> None:
        monkeypatch.setattr(run_device, "cpu_multiplies_bf16", lambda: multiplies_bf16)

    return native


# -- precision -------------------------------------------------------------------------------------------------------


def test_bf16_by_default_on_a_cpu_that_multiplies_it_natively(cpu_only, tmp_path):
    cpu_only(True)
    script_args, training_args = parse_arguments(["--output_dir", str(tmp_path)])
    assert training_args.bf16 and training_args.mixed_precision == "bf16"
    assert script_args.precision_choice == "automatic: this CPU multiplies bf16 natively (AVX512-BF16 or AMX)"


def test_fp32_by_default_on_a_cpu_that_emulates_bf16(cpu_only, tmp_path):
    cpu_only(False)
    script_args, training_args = parse_arguments(["--output_dir", str(tmp_path)])
    assert not training_args.bf16 and training_args.mixed_precision == "no"
    assert script_args.precision_choice.startswith("automatic: this CPU has no native bf16")


def test_an_explicit_precision_is_honoured(cpu_only, tmp_path, monkeypatch):
    cpu_only(True)
    script_args, training_args = parse_arguments(["--output_dir", str(tmp_path), "--bf16", "false"])
    assert training_args.mixed_precision == "no" and script_args.precision_choice == "as asked: --bf16"
    cpu_only(False)
    script_args, training_args = parse_arguments(["--output_dir", str(tmp_path), "--bf16", "true"])
    assert training_args.mixed_precision == "bf16" and script_args.precision_choice == "as asked: --bf16"
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")  # accelerate launch --mixed_precision bf16
    script_args, training_args = parse_arguments(["--output_dir", str(tmp_path)])
    assert training_args.mixed_precision == "bf16"
    assert script_args.precision_choice == "as asked: accelerate launch --mixed_precision bf16"


def test_accelerate_launch_without_a_precision_flag_is_automatic(cpu_only, tmp_path, monkeypatch):
    """accelerate launch always sets ACCELERATE_MIXED_PRECISION ("no" unless told otherwise): without its
    --mixed_precision flag that is no request."""
    cpu_only(True)
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "no")
    monkeypatch.setattr(run_device, "accelerate_launcher", lambda: (["accelerate", "launch"], {}))
    _, training_args = parse_arguments(["--output_dir", str(tmp_path)])
    assert training_args.mixed_precision == "bf16"
    monkeypatch.setattr(run_device, "accelerate_launcher", lambda: (["accelerate", "launch", "--mixed_precision"], {}))
    script_args, training_args = parse_arguments(["--output_dir", str(tmp_path)])
    assert training_args.mixed_precision == "no"
    assert script_args.precision_choice == "as asked: accelerate launch --mixed_precision no"


def test_gpu_precision_follows_its_bf16_support(monkeypatch):
    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert choose_precision(set()).mixed_precision == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    assert choose_precision(set()) == run_device.PrecisionChoice("no", True, "automatic: this GPU has no native bf16")
    assert choose_precision(set(), use_cpu=True).reason.startswith("automatic: this CPU")


def test_emulated_bf16_is_measured_and_said_before_training(cpu_only, tmp_path, caplog):
    cpu_only(False)
    script_args, training_args = parse_arguments(["--output_dir", str(tmp_path), "--bf16", "true"])
    with caplog.at_level("WARNING", logger="run_xnlu"):
        run_device.check_cpu_bf16(script_args, training_args)
    assert "ran" in caplog.text and "slower than in fp32 (measured now)" in caplog.text
    assert "this CPU has no native bf16: its bf16 matrix products ran" in script_args.precision_choice
    assert run_device.emulated_bf16_slowdown(hidden_size=16, intermediate_size=32, tokens=8) > 0


# -- defaults that fit the encoder ------------------------------------------------------------------------------------


def test_the_embedded_encoder_gets_its_recipe_and_other_checkpoints_transformers_defaults(tiny_encoder, tmp_path):
    script_args, training_args = parse_arguments(["--output_dir", str(tmp_path)])
    assert training_args.learning_rate == EMBEDDED_ENCODER_RECIPE["learning_rate"] == 1e-4
    assert training_args.head_learning_rate == EMBEDDED_ENCODER_RECIPE["head_learning_rate"] == 4e-3
    assert script_args.freeze_word_embeddings is True
    assert script_args.freeze_lower_layers == EMBEDDED_ENCODER_RECIPE["freeze_lower_layers"] == 3
    assert training_args.per_device_train_batch_size == 8 and training_args.num_train_epochs == 1.34
    assert training_args.train_sampling_strategy == "group_by_length" and training_args.length_group_batches == 4

    other = ["--output_dir", str(tmp_path), "--model_name_or_path", str(tiny_encoder)]
    script_args, training_args = parse_arguments(other)
    assert training_args.learning_rate == 5e-5 and training_args.head_learning_rate is None
    assert script_args.freeze_word_embeddings is False and script_args.freeze_lower_layers == 0
    assert training_args.per_device_train_batch_size == 32 and training_args.num_train_epochs == 3
    assert training_args.train_sampling_strategy == "random" and training_args.length_group_batches is None
    assert run_xnlu.head_learning_rate(training_args) == 5e-5 and run_xnlu.frozen_parameters(script_args) == "nothing"

    script_args, training_args = parse_arguments(
        [*other, "--learning_rate", "2e-5", "--freeze_word_embeddings", "true", "--freeze_lower_layers", "1"]
    )
    assert training_args.learning_rate == 2e-5 and training_args.head_learning_rate is None
    assert run_xnlu.frozen_parameters(script_args) == "the embeddings and the lowest 1 encoder layers"
    # Explicit values win over the embedded encoder's recipe too.
    script_args, training_args = parse_arguments(["--output_dir", str(tmp_path), "--head_learning_rate", "1e-4"])
    assert training_args.head_learning_rate == 1e-4 and training_args.learning_rate == 1e-4


def test_frozen_lower_layers_get_no_gradient_and_the_values_used_are_recorded(tiny_encoder, mtod_like, tmp_path):
    output_dir = tmp_path / "frozen"
    results = run_xnlu.main(
        cli(tiny_encoder, mtod_like, output_dir, "--alignment", "crossaligner", "--freeze_lower_layers", "1")
    )
    assert results.frozen == "the embeddings and the lowest 1 encoder layers"
    assert results.learning_rate == 1e-3 and results.head_learning_rate == 5e-3
    trained = run_xnlu.XLMRobertaForJointXNLU.from_pretrained(output_dir).state_dict()
    start = run_xnlu.XLMRobertaForJointXNLU.from_encoder(str(tiny_encoder), ["a"], ["O"]).state_dict()
    for name in ("roberta.embeddings.word_embeddings.weight", "roberta.embeddings.LayerNorm.weight"):
        assert torch.equal(trained[name], start[name])
    layer0 = [name for name in start if name.startswith("roberta.encoder.layer.0.")]
    layer1 = [name for name in start if name.startswith("roberta.encoder.layer.1.")]
    assert all(torch.equal(trained[name], start[name]) for name in layer0)
    assert not all(torch.equal(trained[name], start[name]) for name in layer1)
    card = (output_dir / "README.md").read_text(encoding="utf-8")
    assert table_row("frozen", "the embeddings and the lowest 1 encoder layers") in squeezed(card)
    assert table_row("learning rate (heads)", "0.005") in squeezed(card)


def test_more_frozen_layers_than_the_encoder_has_is_a_usage_error(tiny_encoder, mtod_like, tmp_path):
    with pytest.raises(UsageError, match="--freeze_lower_layers 5: the encoder has 2 layers"):
        run_xnlu.main(cli(tiny_encoder, mtod_like, tmp_path / "out", "--freeze_lower_layers", "5"))


# -- help --------------------------------------------------------------------------------------------------------------


def test_help_lists_the_projects_options_first_in_groups_with_their_real_defaults(capsys):
    with pytest.raises(SystemExit):
        parse_arguments(["--help"])
    text = capsys.readouterr().out
    titles = ["data options:", "model options:", "alignment options:", "output options:"]
    positions = [text.index(title) for title in titles]
    transformers_group = text.index("training options (transformers' TrainingArguments):")
    assert positions == sorted(positions) and positions[-1] < transformers_group
    for option in (
        "--dataset",
        "--alignment",
        "--pairing",
        "--head_learning_rate",
        "--num_train_epochs",
        "--output_dir",
    ):
        assert text.index(option) < transformers_group, option
    ours = " ".join(text[:transformers_group].split())
    assert "(default: None)" not in ours
    assert "outputs/<dataset>-<method>" in ours and "5e-05 (transformers' default) for any other checkpoint" in ours
    assert "(default: home_assistant)" in ours and "--weight_decay" in text[transformers_group:]


# -- user mistakes -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, message",
    [
        (["--dataset", "mtodd"], "--dataset mtodd: unknown dataset; expected one of home_assistant, mtod, "),
        (["--alignment", "crossalinger"], "--alignment crossalinger: unknown alignment; expected any of crossaligner"),
        (["--dataset", "mtod"], "--dataset mtod needs --data_dir: the folder of the distribution"),
        (["--dataset", "mtod", "--data_dir", "{tmp}/mtod_lik"], "--data_dir {tmp}/mtod_lik: no such folder"),
        (["--model_name_or_path", "./no_such_dir"], "--model_name_or_path ./no_such_dir: no such folder"),
        (["--model_name_or_path", "a b/c"], "neither a folder here nor a Hub model id"),
        (["--dataset", "mtod", "--data_dir", "{data}", "--target_languages", "ess"], "has no language 'ess'"),
        (["--alignment", "none", "crossaligner"], "--alignment: alignment 'none' (Zero-Shot) cannot be combined"),
        (["--weighting", "mean"], "invalid choice: 'mean'"),
    ],
)
def test_a_user_mistake_is_one_line_with_exit_code_2(options, message, mtod_like, tmp_path, capsys):
    options = [option.replace("{tmp}", str(tmp_path)).replace("{data}", str(mtod_like)) for option in options]
    message = message.replace("{tmp}", str(tmp_path))
    try:
        code = run_xnlu.cli([*options, "--output_dir", str(tmp_path / "out")])
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    error = capsys.readouterr().err
    assert code == 2
    assert message in error
    assert "Traceback" not in error
    if "invalid choice" not in message:  # argparse prints its usage line first
        assert error.strip().count("\n") == 0 and error.startswith("run_xnlu.py: error: ")


def test_the_closest_valid_choice_is_named(mtod_like, tmp_path, capsys):
    for options, closest in (
        (["--dataset", "mtodd"], "(closest: mtod)"),
        (["--alignment", "crossalinger"], "(closest: crossaligner)"),
        (["--dataset", "mtod", "--data_dir", str(mtod_like), "--target_languages", "ess"], "(closest: es)"),
        (["--dataset", "mtod", "--data_dir", str(mtod_like) + "x"], f"(closest: {mtod_like})"),
    ):
        assert run_xnlu.cli([*options, "--output_dir", str(tmp_path / "out")]) == 2
        assert closest in capsys.readouterr().err


def test_a_hub_id_that_cannot_be_loaded_is_one_line(tiny_encoder, mtod_like, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code = run_xnlu.cli(cli(tiny_encoder, mtod_like, tmp_path / "out")[:-2] + ["--model_name_or_path", "nobody/none"])
    error = capsys.readouterr().err
    assert code == 2 and error.startswith("run_xnlu.py: error: --model_name_or_path nobody/none: ")
    assert error.strip().count("\n") == 0


def test_a_real_bug_still_shows_its_traceback(tiny_encoder, mtod_like, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(run_xnlu, "run_model", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        run_xnlu.cli(cli(tiny_encoder, mtod_like, tmp_path / "out", "--alignment", "none"))


def test_the_command_line_exits_with_code_2_and_one_line(tmp_path):
    completed = subprocess.run(
        [sys.executable, "run_xnlu.py", "--dataset", "mtodd", "--output_dir", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 2
    assert completed.stderr.strip() == (
        "run_xnlu.py: error: --dataset mtodd: unknown dataset; expected one of "
        f"{', '.join(run_xnlu.data.FORMATS)} (closest: mtod)"
    )


# -- console -----------------------------------------------------------------------------------------------------------


def test_the_console_shows_one_named_bar_per_phase_and_the_summary_table(tiny_encoder, mtod_like, tmp_path, capfd):
    run_xnlu.main(cli(tiny_encoder, mtod_like, tmp_path / "quiet", "--alignment", "crossaligner"))
    console = capfd.readouterr()
    text = console.out + console.err
    assert "training:" in text and "scoring es:" in text and "scoring de:" in text
    for noise in ("Writing model shards", "Loading weights", "LOAD REPORT", "pin_memory", "Map", "Flattening"):
        assert noise not in text, noise
    assert "{'loss'" not in text  # the log entries go to trainer_state.json, not the console
    assert "| **MEAN** (de, es) |" in squeezed(console.out) and "Slot types," not in console.out
    assert "Slot types, es:" in (tmp_path / "quiet" / "results.md").read_text(encoding="utf-8")
    state = json.loads((tmp_path / "quiet" / "trainer_state.json").read_text())
    assert any("loss" in entry for entry in state["log_history"])

    run_xnlu.main(
        cli(tiny_encoder, mtod_like, tmp_path / "slot_types", "--alignment", "none", "--print_slot_types", "true")
    )
    assert "Slot types, es:" in capfd.readouterr().out
