# Copyright 2026 The CrossAligner XNLU authors. Apache-2.0.
"""What a run writes into its output folder besides results.json/.md/.png (run_results.py): the folder checked (or
cleaned, with --overwrite_output_dir) first; then the prediction files, projection's and self-training's files and
the model card."""

from __future__ import annotations

import fnmatch
import logging
import shutil
from pathlib import Path

import datasets
from transformers.trainer_utils import get_last_checkpoint

from model_card import render_model_card, training_hyperparameters
from push_to_hub import ADAPTER_DIR
from reporting import write_predictions
from run_arguments import DATA_LICENSES, EMBEDDED_ENCODER, EMBEDDED_ENCODER_HUB_ID, UsageError
from run_results import RunResults

logger = logging.getLogger("run_xnlu")

# The model card's widget examples (SpanMarker's cards show five).
CARD_EXAMPLES = 5

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
    "teacher_*.jsonl",
    "teacher-*",
    "*_results.json",
    "trainer_state.json",
    "training_args.bin",
    "checkpoint-*",
    "runs",
    ADAPTER_DIR,
)


def prepare_output_dir(script_args, training_args) -> str | None:
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


def write_predictions_files(output_dir: Path, evaluation, scored_sets: dict) -> None:
    """`predictions_<lang>.jsonl`: per example its words, gold and predicted intent and BIO tags."""
    for language, rows in evaluation.predictions.items():
        dataset = scored_sets[language]
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


def write_projected_files(output_dir: Path, records: dict[str, list[dict]]) -> None:
    """`projected_<lang>.jsonl`: what the projection alignment trained on, per pair (projection.projected_records)."""
    for language, language_records in records.items():
        write_predictions(output_dir / f"projected_{language}.jsonl", language_records)


def write_teacher_files(output_dir: Path, records: dict[str, list[dict]]) -> None:
    """`teacher_<lang>.jsonl`: the labels each self-training teacher gave the translations, per round and pair
    (self_training.teacher_records)."""
    for language, language_records in records.items():
        write_predictions(output_dir / f"teacher_{language}.jsonl", language_records)


def write_model_card(
    output_dir: Path, results: RunResults, training_args, state, script_args, examples: list[dict[str, str]]
) -> None:
    """README.md, the Hub model card: the run's results, the settings that trained the model and its logged losses,
    its data's license, the widget's `examples`."""
    card = render_model_card(
        results,
        training_hyperparameters(training_args, state, results, script_args.max_seq_length),
        model_id=training_args.hub_model_id or output_dir.name,
        examples=examples,
        base_model=EMBEDDED_ENCODER_HUB_ID if results.model_name_or_path == EMBEDDED_ENCODER else None,
        license=script_args.license or DATA_LICENSES.get(script_args.dataset, "unknown"),
        log_history=state.log_history,
    )
    card.save(output_dir / "README.md")


def card_examples(
    results: RunResults, scored_sets: dict, train: datasets.Dataset, count: int = CARD_EXAMPLES
) -> list[dict[str, str]]:
    """The card's widget examples (`text`, `language`): up to `count` utterances of the scored test (or dev) sets,
    taken from each language in turn, target languages first; without scored sets, translations the model trained on,
    else training utterances."""
    candidates = {
        language: [" ".join(words) for words in scored_sets[language]["words"][:count]]
        for language in dict.fromkeys([*results.target_languages, *scored_sets])
        if language in scored_sets
    }
    if not candidates and "translation_text" in train.column_names:
        rows = train.select_columns(["translation_language", "translation_text"]).to_dict()
        for language, text in zip(rows["translation_language"], rows["translation_text"]):
            candidates.setdefault(language, []).append(text)
    if not candidates:
        candidates = {train[0]["language"]: [" ".join(words) for words in train["words"][:count]]}
    examples = []
    for turn in range(count):
        for language, texts in candidates.items():
            if turn < len(texts) and len(examples) < count:
                examples.append({"text": texts[turn], "language": language})
    return examples
