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
`ScriptArguments` (run_arguments.py) and those of `CrossAlignerTrainingArguments` (alignment, weighting,
head_learning_rate, pairing, paper_optimization). Without `--model_name_or_path` the embedded multilingual-e5-small
encoder is converted once (offline) and used; without `--dataset` the embedded Home Assistant data is generated. A
training run's output directory ends up a complete Hub model repo (weights, code, tokenizer, model card) plus
`results.json`, the per-language tables (`results.md`), a bar chart (`results.png`) and prediction files.

No target-language label is ever read for training unless asked for: zero-shot and aligned runs open the
target languages' test (or dev) files to score them and their translations of the English training data, never their
labelled training files; only the Target Language baseline (`--train_languages target`) reads those.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import torch
import transformers
from transformers import AutoTokenizer, set_seed
from transformers.trainer_utils import get_last_checkpoint

import data
from data.encoding import unseen_labels
from model_card import precision_name, render_model_card, training_hyperparameters
from modeling_crossaligner import XLMRobertaForJointXNLU, XLMRobertaJointXNLUConfig
from push_to_hub import check_publish_arguments, publish
from reporting import plot_results, results_table, write_predictions
from run_arguments import (
    DATA_LICENSES,
    EMBEDDED_ENCODER,
    EMBEDDED_ENCODER_HUB_ID,
    TARGET,
    ScriptArguments,
    UsageError,
    check_cpu_bf16,
    closest,
    parse_arguments,
    use_all_cores_under_accelerate,
)
from trainer_crossaligner import CrossAlignerTrainer, CrossAlignerTrainingArguments
from xnlu_evaluation import mean_over_languages

logger = logging.getLogger("run_xnlu")

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
            raise UsageError(
                f"--output_dir {output_dir} already exists and is not empty: use another --output_dir, "
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
    """The requested target languages (each must be in the data), or every language of the data but English."""
    available = data.available_languages(script_args.dataset, script_args.data_dir)
    if not script_args.target_languages:
        return [language for language in available if language != "en"]
    for language in script_args.target_languages:
        # A reader may take a longer form of its codes (MASSIVE: de-DE for de).
        if not {language, language.lower(), language.split("-")[0].lower()} & set(available):
            where = f" in {script_args.data_dir}" if script_args.data_dir else ""
            raise UsageError(
                f"--target_languages {language}: {script_args.dataset}{where} has no language {language!r}; it has "
                f"{', '.join(available)}{closest(language, available)}"
            )
    return list(dict.fromkeys(script_args.target_languages))


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
    """Whether `path` (a folder or Hub id) holds a trained joint model rather than an encoder. A model that cannot be
    found (no such Hub id, or not in the cache when offline) is the user's mistake."""
    try:
        config = transformers.AutoConfig.from_pretrained(path, trust_remote_code=False)
    except OSError as error:
        raise UsageError(f"--model_name_or_path {path}: {str(error).strip().splitlines()[0]}") from None
    except ValueError:  # not a transformers config: from_encoder says what is expected
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
    layers = model.roberta.encoder.layer
    if not 0 <= script_args.freeze_lower_layers <= len(layers):
        raise UsageError(
            f"--freeze_lower_layers {script_args.freeze_lower_layers}: the encoder has {len(layers)} layers"
        )
    if script_args.freeze_word_embeddings:
        model.roberta.embeddings.word_embeddings.weight.requires_grad_(False)
    if script_args.freeze_lower_layers:
        # No parameter below the first trained layer needs a gradient, so autograd computes none there.
        model.roberta.embeddings.requires_grad_(False)
        layers[: script_args.freeze_lower_layers].requires_grad_(False)
    return model


def head_learning_rate(training_args: CrossAlignerTrainingArguments) -> float:
    """The learning rate of the new heads: --head_learning_rate, or --learning_rate when it is unset."""
    rate = training_args.head_learning_rate
    return training_args.learning_rate if rate is None else rate


def frozen_parameters(script_args: ScriptArguments) -> str:
    """What training keeps fixed, in words (log, results.json, model card)."""
    if script_args.freeze_lower_layers:
        return f"the embeddings and the lowest {script_args.freeze_lower_layers} encoder layers"
    return "the word embeddings" if script_args.freeze_word_embeddings else "nothing"


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
        logger.info(
            "learning rate %g (encoder), %g (new heads); frozen: %s",
            training_args.learning_rate,
            head_learning_rate(training_args),
            frozen_parameters(script_args),
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
        "precision_choice": script_args.precision_choice,
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
        results["learning_rate"] = training_args.learning_rate
        results["head_learning_rate"] = head_learning_rate(training_args)
        results["frozen"] = frozen_parameters(script_args)
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
            training_hyperparameters(
                trainer, script_args.max_seq_length, results["frozen"], script_args.precision_choice
            ),
            model_id=training_args.hub_model_id or output_dir.name,
            example_text=card_example_text(results, evaluations, trainer.train_dataset),
            base_model=base_model,
            license=script_args.license or DATA_LICENSES.get(script_args.dataset, "unknown"),
        )
        card.save(output_dir / "README.md")
    if table:
        print(f"\n{script_args.dataset} {results['split']} results ({describe(results)}), {seconds / 60:.1f} min:\n")
        print(results_table(results, slot_types=script_args.print_slot_types))
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
        shown = results_table(merged, slot_types=script_args.print_slot_types)
        print(
            f"\n{script_args.dataset} {merged['split']} results ({describe(merged)}):\n\n{shown}\n\n"
            f"Each model and its own results are in {output_dir}/<language>; merged results.json/.md/.png in "
            f"{output_dir}"
        )
    return merged


def merge_results(models: dict[str, dict]) -> dict:
    """The results of one model per target language as one table: each language scored by its own model; the
    source language's scores of each model are kept apart (`source_scores`)."""
    first_results = next(iter(models.values()))
    merged = {
        key: first_results[key]
        for key in (
            "dataset",
            "alignment",
            "weighting",
            "trained",
            "model_name_or_path",
            "split",
            "gold_scheme",
            "precision",
            "precision_choice",
            "learning_rate",
            "head_learning_rate",
            "frozen",
        )
        if key in first_results  # missing from the results of older runs, or of runs that did not train
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
    """Run as the options say; returns the run's results.json content. A mistake in the options raises UsageError."""
    script_args, training_args = parse_arguments(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        level=logging.INFO if training_args.should_log else logging.WARNING,
    )
    for library in (transformers, datasets):
        library.utils.logging.set_verbosity_warning()
        # Their bars (saving, loading weights, mapping datasets) say nothing a user can act on; ours say the phase.
        library.utils.logging.disable_progress_bar()
    use_all_cores_under_accelerate()
    check_cpu_bf16(script_args, training_args)
    logger.info("precision: %s (%s)", precision_name(training_args), script_args.precision_choice)
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


def cli(argv: list[str] | None = None) -> int:
    """The command line: a mistake in the options, or a data file that does not hold what its format promises, is
    one line on stderr (exit code 2, as argparse gives, or 1), not a traceback; anything else is a bug and shows one."""
    try:
        main(argv)
    except UsageError as error:
        print(f"run_xnlu.py: error: {error}", file=sys.stderr)
        return 2
    except data.DataFormatError as error:
        print(f"run_xnlu.py: error: {error}", file=sys.stderr)
        return 1
    finally:
        if torch.distributed.is_initialized():
            # Trainer leaves the process group open: close it before the interpreter tears down.
            torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(cli())
