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

import collections
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

import datasets
import torch
import transformers
from transformers import AutoTokenizer, set_seed
from transformers.trainer_utils import get_last_checkpoint

import data
from crossaligner_config import CrossAlignerTrainingArguments
from data.encoding import unseen_labels
from modeling_crossaligner import (
    OnnxRuntimeJointXNLU,
    XLMRobertaForJointXNLU,
    XLMRobertaJointXNLUConfig,
    tags_to_spans,
)
from push_to_hub import check_publish_arguments, publish
from run_arguments import EMBEDDED_ENCODER, TARGET, ScriptArguments, UsageError, parse_arguments
from run_data import RunPlan, build_training_set, first, make_plan, scoring_sets, target_languages
from run_device import check_cpu_bf16, precision_name, use_all_cores_under_accelerate
from run_outputs import (
    card_examples,
    prepare_output_dir,
    write_model_card,
    write_predictions_files,
    write_projected_files,
    write_teacher_files,
)
from run_peft import lora_settings, save_and_merge_adapter, with_lora_adapter
from run_results import RESULTS_FILE, RunResults, results_table
from self_training import SelfTraining, train_with_teacher
from trainer_crossaligner import CrossAlignerTrainer
from xnlu_evaluation import Evaluation, default_mean_over

logger = logging.getLogger("run_xnlu")

# The metric prefix of each split, as transformers' scripts name them (eval_results.json, predict_results.json).
PREFIXES = {"dev": "eval", "test": "predict"}
# What each ONNX runtime's graph computes in (PyTorch's precision is the run's).
ONNX_PRECISIONS = {"onnx": "fp32", "onnx-int8": "int8"}

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
    return with_lora_adapter(model, script_args) if script_args.use_peft else model


def head_learning_rate(training_args: CrossAlignerTrainingArguments) -> float:
    """The learning rate of the new heads: --head_learning_rate, or --learning_rate when it is unset."""
    rate = training_args.head_learning_rate
    return training_args.learning_rate if rate is None else rate


def frozen_parameters(script_args: ScriptArguments) -> str:
    """What training keeps fixed, in words (log, results.json, model card)."""
    if script_args.use_peft:
        return f"every encoder weight (LoRA adapters on {', '.join(script_args.lora_target_modules)} train)"
    if script_args.freeze_lower_layers:
        return f"the embeddings and the lowest {script_args.freeze_lower_layers} encoder layers"
    return "the word embeddings" if script_args.freeze_word_embeddings else "nothing"


def load_teacher(
    path: str, corpus: data.XNLUCorpus, script_args: ScriptArguments, plan: RunPlan
) -> XLMRobertaForJointXNLU:
    """--teacher_model: a trained joint model with the labels of the training data; in the folder of a run of one
    model per target language, that language's model."""
    folder, targets = Path(path), plan.targets
    # A run of one model per target language lists its models' folders.
    if (folder / RESULTS_FILE).is_file() and (models := RunResults.load(folder).models):
        if len(targets) != 1 or targets[0] not in models:
            raise UsageError(
                f"--teacher_model {path}: one model per target language ({', '.join(models)}); it teaches a run of "
                f"one model per target language among them, not {', '.join(targets)}"
            )
        path = str(folder / models[targets[0]])
    if not is_joint_model(path):
        raise UsageError(
            f"--teacher_model {path}: not a trained joint model (no config of model_type "
            f"'{XLMRobertaJointXNLUConfig.model_type}')"
        )
    return load_model(path, corpus, script_args, plan.train_languages)


def self_training_settings(script_args: ScriptArguments) -> SelfTraining:
    return SelfTraining(
        filter=script_args.teacher_filter,
        min_confidence=script_args.teacher_confidence,
        rounds=script_args.self_training_rounds,
    )


def load_trained_model(path: str, runtime: str = "torch") -> XLMRobertaForJointXNLU | OnnxRuntimeJointXNLU:
    """The trained model to score, in PyTorch or (`runtime` onnx / onnx-int8) its exported graph on ONNX Runtime,
    which the Trainer's prediction loop calls as it calls the PyTorch model."""
    if not is_joint_model(path):
        raise ValueError(
            f"--do_train is off, so --model_name_or_path must be a trained joint model; {path} is not "
            "one (no config of model_type 'xlm-roberta-joint-xnlu')"
        )
    if runtime == "torch":
        return XLMRobertaForJointXNLU.from_pretrained(path)
    try:
        return OnnxRuntimeJointXNLU.from_pretrained(path, runtime)
    except (FileNotFoundError, ImportError) as error:
        raise UsageError(f"--runtime {runtime}: {error}") from None


# --------------------------------------------------------------------------------------------------------------------
# One model
# --------------------------------------------------------------------------------------------------------------------


def run_model(
    script_args: ScriptArguments, training_args: CrossAlignerTrainingArguments, targets: list[str], resume: str | None
) -> RunResults:
    """Train (--do_train), evaluate (--do_eval) and predict (--do_predict) with one model aligned to `targets`; write
    its outputs to `training_args.output_dir`."""
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
            model = load_trained_model(encoder_path, script_args.runtime)
        tokenizer = AutoTokenizer.from_pretrained(encoder_path)
        encode = dict(
            tokenizer=tokenizer,
            intent_labels=model.config.intent_labels,
            slot_labels=model.config.slot_labels,
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
        scoring = {
            split: scoring_sets(corpus, plan, split, count, encode, script_args)
            for split, action, count in (
                ("dev", training_args.do_eval, script_args.max_eval_samples),
                ("test", training_args.do_predict, script_args.max_predict_samples),
            )
            if action
        }
        unknown_labels = {split: labels_unknown_to(model, sets) for split, sets in scoring.items()}
    # Counted before training: merging the adapter afterwards leaves no adapter to count.
    lora = lora_settings(model, script_args) if training_args.do_train and script_args.use_peft else None
    if lora:
        logger.info("LoRA: %d of %d parameters train", lora["trainable_parameters"], lora["parameters"])

    trainer = CrossAlignerTrainer(
        model=model, args=training_args, train_dataset=train, eval_dataset=dev, processing_class=tokenizer
    )
    self_trained = None
    if training_args.do_train:
        log_training_plan(train, plan, script_args, training_args)
        if script_args.self_training:
            teacher = script_args.teacher_model
            self_trained = train_with_teacher(
                trainer,
                lambda: load_model(encoder_path, corpus, script_args, plan.train_languages),
                self_training_settings(script_args),
                teacher=None if teacher is None else load_teacher(teacher, corpus, script_args, plan),
            )
            trainer, train_result = self_trained.student, self_trained.train_output
        else:
            checkpoint = get_last_checkpoint(output_dir) if resume == "last" and output_dir.is_dir() else resume
            if resume == "last" and checkpoint is None:
                raise FileNotFoundError(f"--resume_from_checkpoint: no checkpoint-* folder in {output_dir}")
            train_result = trainer.train(resume_from_checkpoint=checkpoint)
            if script_args.use_peft:
                save_and_merge_adapter(trainer, output_dir)
        trainer.save_model()
        trainer.save_metrics("train", train_result.metrics)
        trainer.save_state()

    mean_over = default_mean_over(plan.eval_languages, plan.train_languages)
    evaluations = {
        split: trainer.evaluate_languages(
            sets, metric_key_prefix=PREFIXES[split], gold_scheme=script_args.gold_scheme, mean_over=mean_over
        )
        for split, sets in scoring.items()
    }
    # The test split's scores are the run's results; the dev split's when only --do_eval; none when only --do_train.
    split = next((name for name in ("test", "dev") if name in evaluations), None)
    results = build_results(
        evaluations.get(split),
        split,
        unknown_labels.get(split, {}),
        plan,
        mean_over,
        corpus,
        model,
        train,
        trainer,
        script_args,
        training_args,
        lora,
    )
    if self_trained is not None:
        first_teacher = script_args.teacher_model or f"trained with {' + '.join(training_args.alignment)}"
        results.self_training = self_trained.summary(self_training_settings(script_args), first_teacher)
    if trainer.is_world_process_zero():
        output_dir.mkdir(parents=True, exist_ok=True)
        results.save(output_dir)
        for name, evaluation in evaluations.items():
            trainer.save_metrics(PREFIXES[name], evaluation.flat_metrics(PREFIXES[name]))
        if split is not None:
            write_predictions_files(output_dir, evaluations[split], scoring[split])
        if self_trained is not None:
            write_teacher_files(output_dir, self_trained.records)
        elif training_args.do_train and "projection" in results.alignment:
            write_projected_files(output_dir, trainer.projected_records())
        if training_args.do_train:
            examples = card_examples(results, scoring.get(split, {}), train)
            write_model_card(output_dir, results, training_args, trainer.state, script_args, examples)
        report(results, output_dir, script_args, time.time() - started)
    return results


def log_training_plan(train, plan: RunPlan, script_args: ScriptArguments, training_args) -> None:
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


def build_results(
    evaluation: Evaluation | None,
    split: str | None,
    unknown_labels: dict[str, dict],
    plan: RunPlan,
    mean_over: list[str],
    corpus: data.XNLUCorpus,
    model: XLMRobertaForJointXNLU,
    train: datasets.Dataset | None,
    trainer: CrossAlignerTrainer,
    script_args: ScriptArguments,
    training_args: CrossAlignerTrainingArguments,
    lora: dict | None,
) -> RunResults:
    """The run's RunResults: every score per language (fractions), the MEAN over the target languages, and what the
    model was trained on (`lora`: `lora_settings`, for a LoRA run)."""
    trained = training_args.do_train
    results = RunResults(
        dataset=script_args.dataset,
        model_name_or_path=script_args.model_name_or_path,
        trained=trained,
        alignment=list(training_args.alignment) if trained else [],
        weighting=training_args.weighting if trained and training_args.alignment else None,
        pairing=training_args.pairing if plan.aligned and len(plan.targets) > 1 else None,
        one_model_per_language=False,
        split=split,
        gold_scheme=script_args.gold_scheme,
        numeric_precision=ONNX_PRECISIONS.get(script_args.runtime) or precision_name(training_args),
        precision_choice=(
            script_args.precision_choice if script_args.runtime == "torch" else f"--runtime {script_args.runtime}"
        ),
        train_languages=plan.train_languages if trained else [],
        target_languages=plan.targets,
        mean_over=mean_over,
        num_intents=len(model.config.intent_labels),
        num_slot_types=len(model.config.slot_labels) - 1,
        runtime=None if script_args.runtime == "torch" else script_args.runtime,
    )
    if evaluation is not None:
        results.languages = {
            language: {name: value for name, value in scores.items() if name != "loss"}
            for language, scores in evaluation.scores.items()
        }
        results.mean = {name: value for name, value in evaluation.mean.items() if name != "loss"}
    if trained:
        results.training_examples = (
            {corpus.source_language: len(set(train["id"]))}
            if plan.aligned
            else dict(sorted(collections.Counter(train["language"]).items()))
        )
        results.training_pairs = trainer.training_pairs()
        results.training_labels = training_label_counts(train, plan.aligned, model.config)
        results.lora = lora
        results.learning_rate = training_args.learning_rate
        results.head_learning_rate = head_learning_rate(training_args)
        results.frozen = frozen_parameters(script_args)
        results.epochs = trainer.state.epoch
        if "projection" in training_args.alignment:
            results.projection = {
                "layer": trainer.projection_layer(),
                "filter": training_args.projection_filter,
                "min_similarity": training_args.projection_min_similarity,
                "refresh": training_args.projection_refresh,
            }
    results.unknown_labels = unknown_labels
    if corpus.skipped:
        results.skipped_examples = corpus.skipped_counts()
    return results


def training_label_counts(train: datasets.Dataset, aligned: bool, config) -> dict[str, dict[str, int]]:
    """Per intent of the model, its training examples; per slot type, its entities in them (an aligned run's English
    examples counted once, not once per translation). A label of the data that the sample left out counts 0."""
    columns = train.select_columns(["id", "intent", "tags"]).to_dict()
    rows = list(zip(columns["intent"], columns["tags"]))
    if aligned:
        rows = list(dict(zip(columns["id"], rows)).values())
    intents = collections.Counter(intent for intent, _ in rows)
    slot_types = collections.Counter(slot_type for _, tags in rows for slot_type, _, _ in tags_to_spans(tags))
    return {
        "intents": {label: intents[label] for label in config.intent_labels},
        "slot_types": {label: slot_types[label] for label in config.slot_labels[1:]},
    }


def labels_unknown_to(model: XLMRobertaForJointXNLU, scored_sets: dict[str, datasets.Dataset]) -> dict[str, dict]:
    """Per language, the intents and slot types of its scored set that the model does not know (scored as errors),
    said before training."""
    unknown = {
        language: found
        for language, dataset in scored_sets.items()
        if (found := unseen_labels(dataset, model.config.intent_labels, model.config.slot_labels))
    }
    if unknown:
        logger.warning("labels the model does not know (scored as errors): %s", json.dumps(unknown))
    return unknown


def report(results: RunResults, output_dir: Path, script_args: ScriptArguments, seconds: float) -> None:
    """The console's summary: the per-language table (slot types only with --print_slot_types) and where it is."""
    if results.languages:
        print(f"\n{script_args.dataset} {results.split} results ({results.describe()}), {seconds / 60:.1f} min:\n")
        print(results_table(results, slot_types=script_args.print_slot_types))
        print(
            f"\nSaved {'the model, its card, ' if results.trained else ''}results.json/.md/.png and "
            f"predictions_*.jsonl in {output_dir}"
        )
    else:
        saved = f"saved the model, its card and results.json in {output_dir}"
        print(f"\n{results.describe()}, {seconds / 60:.1f} min: {saved}")


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
) -> RunResults:
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
        if resume is not None and (folder / RESULTS_FILE).is_file():
            logger.info("%s: finished before, kept (%s)", language, folder / RESULTS_FILE)
            models[language] = RunResults.load(folder)
            continue
        language_args = dataclasses.replace(
            training_args,
            output_dir=str(folder),
            hub_model_id=f"{training_args.hub_model_id}-{language}" if training_args.hub_model_id else None,
        )
        # A self-training model's checkpoints are its teachers' and its own: an unfinished language starts again.
        resumable = (
            resume == "last" and folder.is_dir() and get_last_checkpoint(folder) and not script_args.self_training
        )
        language_resume = resume if resumable else None
        models[language] = run_model(script_args, language_args, [language], language_resume)
        if push and training_args.should_save:
            publish_run(folder, language_args, script_args, models[language])
    merged = RunResults.merge(models)
    if training_args.should_save:
        merged.save(output_dir)
        if merged.languages:
            shown = results_table(merged, slot_types=script_args.print_slot_types)
            print(
                f"\n{script_args.dataset} {merged.split} results ({merged.describe()}):\n\n{shown}\n\n"
                f"Each model and its own results are in {output_dir}/<language>; merged results.json/.md/.png in "
                f"{output_dir}"
            )
        else:  # --do_train alone: nothing scored to merge
            print(f"\n{merged.describe()}: each model and its card are in {output_dir}/<language>")
    return merged


# --------------------------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------------------------


def publish_run(
    folder: Path, training_args: CrossAlignerTrainingArguments, script_args: ScriptArguments, results: RunResults
) -> None:
    publish(
        folder,
        training_args.hub_model_id,
        token=training_args.hub_token,
        private=training_args.hub_private_repo,
        revision=training_args.hub_revision,
        create_pr=script_args.hub_create_pr,
        commit_message=f"Train on {script_args.dataset} ({results.describe()})",
    )


def main(argv: list[str] | None = None) -> RunResults:
    """Run as the options say; returns the run's results. A mistake in the options raises UsageError."""
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
    push = training_args.push_to_hub
    if push:
        # Fail now, not after training, on a bad repo id or a missing token. We publish once at the end: Trainer's
        # own push would upload during training and replace our README.md with its generic model card.
        token = check_publish_arguments(training_args.hub_model_id, training_args.hub_token)
        training_args = dataclasses.replace(training_args, push_to_hub=False, hub_token=token)

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
