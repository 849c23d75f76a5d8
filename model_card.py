"""Renders a trained model's README.md (the Hub model card) from the top-level `model_card.md` template."""

from __future__ import annotations

import math
import platform
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from huggingface_hub.utils import HFValidationError, validate_repo_id
from transformers.modelcard import make_markdown_table

from run_results import RunResults, results_table

TEMPLATE = Path(__file__).resolve().parent / "model_card.md"
METHOD_NAMES = {
    "crossaligner": "CrossAligner",
    "xeroalign": "XeroAlignIO",
    "contrastive": "Contrastive alignment",
    "translate_intent": "Translate-Intent",
    "projection": "Projection (the English slot tags projected onto the translations through the model's own word "
    "alignments; beyond the paper)",
}
DATASET_NAMES = {
    "home_assistant": "Home Assistant intents (generated from the home-assistant-intents templates)",
    "mtod": "MTOD (Schuster et al., 2019)",
    "m_atis": "MultiATIS++ (Xu et al., 2020)",
    "mtop": "MTOP (Li et al., 2021)",
    "massive": "MASSIVE (FitzGerald et al., 2022)",
    "xsid": "xSID (van der Goot et al., 2021)",
    "jsonl": "user data (JSON lines)",
}
HUB_DATASET_IDS = {"massive": "AmazonScience/massive"}
FRAMEWORKS = ("transformers", "torch", "datasets", "accelerate", "evaluate", "huggingface_hub")


def _hub_id_or_none(name: str) -> str | None:
    """`base_model` must name a Hub repo: local paths (and the embedded encoder) are left out of the metadata."""
    if "/" not in name or Path(name).exists():
        return None
    try:
        validate_repo_id(name)
    except HFValidationError:
        return None
    return name


def method_description(alignment: list[str], train_languages: list[str]) -> str:
    if not alignment:
        if any(language != "en" for language in train_languages):
            return "Target Language baseline (labelled target-language data, no alignment)"
        return "Zero-Shot baseline (no alignment)"
    return " + ".join(METHOD_NAMES[name] for name in alignment)


def weighting_description(alignment: list[str], weighting: str | None) -> str:
    if not alignment:
        return "none (main losses only)"
    if weighting == "cov":
        return "Coefficient of Variation (CoV): adaptive weights of the alignment losses"
    return (
        "1 (the alignment loss is added to the intent and slot losses as it is)"
        if len(alignment) == 1
        else "sum (every alignment loss weight 1)"
    )


def training_hyperparameters(args, state, results: RunResults, max_seq_length: int) -> dict:
    """The settings a trained model was trained with: its training arguments, the Trainer's final `state` (what
    actually ran) and its `results` (what was frozen, the precision and why, projection's layer)."""
    steps = state.max_steps or state.global_step
    if args.paper_optimization:
        scheduler = "one-cycle (PyTorch OneCycleLR defaults, as the paper's released code)"
        warmup = f"{round(0.3 * steps)} steps (30%), from lr/25"
    else:
        scheduler = getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type)
        warmup = f"{args.get_warmup_steps(steps)} steps"
    optimizer = getattr(args.optim, "value", args.optim)
    world_size = max(args.world_size, 1)
    projection = {}
    if "projection" in args.alignment:
        projection = {
            "projection: alignment layer": results.projection["layer"],
            "projection: filter": args.projection_filter,
            "projection: minimum link similarity": args.projection_min_similarity,
            "projection: aligned": "at every step, by the model being trained"
            if args.projection_refresh == "step"
            else "once, by the model training started from",
        }
    return {
        **projection,
        "learning rate (encoder)": args.learning_rate,
        "learning rate (heads)": args.head_learning_rate if args.head_learning_rate is not None else args.learning_rate,
        "scheduler": scheduler,
        "warm-up": warmup,
        "optimizer": f"{optimizer} (betas {args.adam_beta1}, {args.adam_beta2}; eps {args.adam_epsilon}; weight "
        f"decay {args.weight_decay})",
        "gradient clipping (max norm)": args.max_grad_norm,
        "precision": f"{results.numeric_precision} ({results.precision_choice})"
        if results.precision_choice
        else results.numeric_precision,
        "batch size per device": args.per_device_train_batch_size,
        "gradient accumulation steps": args.gradient_accumulation_steps,
        "processes": world_size,
        "effective batch size": args.per_device_train_batch_size * args.gradient_accumulation_steps * world_size,
        "epochs": round(state.epoch or 0.0, 3),
        "optimisation steps": state.global_step,
        "max_seq_length": max_seq_length,
        "frozen": results.frozen,
        **({"LoRA (PEFT)": lora_description(results.lora)} if results.lora else {}),
        "seed": args.seed,
    }


def lora_description(lora: dict) -> str:
    return (
        f"rank {lora['r']}, alpha {lora['alpha']}, dropout {lora['dropout']}, on {', '.join(lora['target_modules'])}; "
        f"{', '.join(lora['trained_in_full'])} trained in full; {lora['trainable_parameters']:,} of "
        f"{lora['parameters']:,} parameters trained"
    )


def framework_versions() -> dict[str, str]:
    import importlib.metadata

    versions = {"python": platform.python_version()}
    for name in FRAMEWORKS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


# model-index entries: each scalar metric with the Hub's metric id (https://hf.co/metrics), under the task it measures
# (task id, task name) and a name that says which score it is. `overall`, the mean of intent accuracy and slot F1, has
# no standard metric id: it stays in the card's results table, out of the model-index that leaderboards read.
INTENT_TASK = ("text-classification", "Intent classification")
SLOT_TASK = ("token-classification", "Slot filling")
# Both at once: no Hub task id names the joint task, so it is the Hub's `other`; a task id of its own also keeps it
# apart, as model-index groups results by task id and dataset (under token-classification it would merge into slots).
JOINT_TASK = ("other", "Joint intent classification and slot filling")
MODEL_INDEX_METRICS = {
    "intent_accuracy": (INTENT_TASK, "accuracy", "Intent accuracy"),
    "slot_f1": (SLOT_TASK, "f1", "Slot F1 (span-level, micro-averaged)"),
    "slot_precision": (SLOT_TASK, "precision", "Slot precision (span-level, micro-averaged)"),
    "slot_recall": (SLOT_TASK, "recall", "Slot recall (span-level, micro-averaged)"),
    "exact_match": (JOINT_TASK, "exact_match", "Exact match (intent and every slot span right)"),
}


def eval_results(results: RunResults) -> list[EvalResult]:
    """`model-index` entries: every metric of `MODEL_INDEX_METRICS` of every language, and their MEAN over the target
    languages; the dataset by its Hub id where it has one (`HUB_DATASET_IDS`), else by the project's name."""
    dataset = results.dataset
    rows = dict(results.languages)
    if results.mean:
        rows["mean"] = results.mean
    entries = []
    for language, scores in rows.items():
        described = f"MEAN over {', '.join(results.mean_over)}" if language == "mean" else language
        for metric, ((task_type, task_name), metric_type, metric_name) in MODEL_INDEX_METRICS.items():
            entries.append(
                EvalResult(
                    task_type=task_type,
                    task_name=task_name,
                    dataset_type=HUB_DATASET_IDS.get(dataset, dataset),
                    dataset_name=f"{DATASET_NAMES.get(dataset, dataset)} ({described})",
                    dataset_config=language,
                    dataset_split=results.split,
                    metric_type=metric_type,
                    metric_name=f"{metric_name} ({described})",
                    metric_value=round(scores[metric], 4),
                )
            )
    return entries


def label_tables(training_labels: dict[str, dict[str, int]]) -> str:
    """Markdown: each intent with its training examples, each slot type with its entities in them."""
    intents = [{"intent": name, "training examples": count} for name, count in training_labels["intents"].items()]
    slot_types = [
        {"slot type": name, "training entities": count} for name, count in training_labels["slot_types"].items()
    ]
    return make_markdown_table(intents).rstrip() + "\n\n" + make_markdown_table(slot_types).rstrip()


def loss_table(log_history: list[dict]) -> str | None:
    """Markdown: per epoch (the last one possibly partial), the mean of each loss the trainer logged during it (the
    total `loss`, then `intent_loss`, `slot_loss` and each alignment's), the last step, and the validation loss when
    the run evaluated; None when nothing was logged."""
    training = [entry for entry in log_history if "loss" in entry and "epoch" in entry]
    if not training:
        return None
    names = list(dict.fromkeys(name for entry in training for name in entry if name.endswith("loss")))
    evaluations = [entry for entry in log_history if "eval_loss" in entry]
    by_epoch: dict[int, list[dict]] = {}
    for entry in training:
        # Epoch k holds the steps logged at epochs in (k - 1, k].
        by_epoch.setdefault(max(math.ceil(entry["epoch"] - 1e-9), 1), []).append(entry)
    rows = []
    for epoch, entries in by_epoch.items():
        row = {"epoch": round(entries[-1]["epoch"], 2), "step": entries[-1]["step"]}
        for name in names:
            values = [entry[name] for entry in entries if name in entry]
            row[name] = f"{sum(values) / len(values):.4f}" if values else ""
        if evaluations:
            validation = [entry["eval_loss"] for entry in evaluations if epoch - 1 < entry["epoch"] <= epoch + 1e-9]
            row["validation loss"] = f"{validation[-1]:.4f}" if validation else ""
        rows.append(row)
    return make_markdown_table(rows).rstrip()


def render_model_card(
    results: RunResults,
    hyperparameters: dict,
    model_id: str,
    examples: list[dict[str, str]],
    base_model: str | None = None,
    license: str = "unknown",
    log_history: list[dict] | None = None,
) -> ModelCard:
    """A model card with Hub metadata: language, license, base_model, datasets, tags, pipeline, the widget's
    `examples` (dicts with `text` and `language`; the first is the usage code's) and a `model-index` holding the
    per-language metrics of `results` and their MEAN; the text adds the label table and, from the trainer's
    `log_history`, the per-epoch loss table. `base_model` defaults to the encoder the run started from; it enters
    the metadata only if it is a Hub repo id."""
    if not examples:
        raise ValueError("a model card needs at least one example utterance (for its widget and usage code)")
    base_model = base_model or results.model_name_or_path
    dataset = results.dataset
    # A run that only trained has no scores: its card names the languages it trained on and for.
    languages = list(results.languages) or list(dict.fromkeys([*results.train_languages, *results.target_languages]))
    card_data = ModelCardData(
        language=languages,
        license=license,
        library_name="transformers",
        base_model=_hub_id_or_none(base_model),
        datasets=[HUB_DATASET_IDS[dataset]] if dataset in HUB_DATASET_IDS else None,
        tags=["crossaligner-xnlu", "intent-classification", "slot-filling", "cross-lingual", "xlm-roberta"]
        + sorted(results.alignment),
        # The standard pipeline of that task works on this model (its AutoModelForTokenClassification view).
        pipeline_tag="token-classification",
        widget=[{"text": example["text"], "example_title": example["language"]} for example in examples],
        model_name=model_id,
        eval_results=eval_results(results) or None,
    )
    return ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATE),
        model_name=model_id,
        model_id=model_id,
        languages=languages,
        train_languages=results.train_languages,
        target_languages=results.target_languages,
        base_model=base_model,
        dataset=DATASET_NAMES.get(dataset, dataset),
        license=license,
        alignment=results.alignment,
        method=method_description(results.alignment, results.train_languages),
        weighting_description=weighting_description(results.alignment, results.weighting),
        pairing=results.pairing,
        gold_scheme=results.gold_scheme,
        num_intents=results.num_intents,
        num_slot_types=results.num_slot_types,
        split=results.split,
        mean_over=results.mean_over,
        results_table=results_table(results) if results.languages else None,
        example_text=examples[0]["text"].replace('"', '\\"'),
        label_tables=label_tables(results.training_labels) if results.training_labels else None,
        loss_table=loss_table(log_history or []),
        lora=results.lora,
        hyperparameters_table=make_markdown_table(
            [{"hyper-parameter": name, "value": value} for name, value in hyperparameters.items()]
        ).rstrip(),
        training_examples=results.training_examples,
        training_pairs=results.training_pairs,
        skipped_examples=results.skipped_examples,
        unknown_labels=results.unknown_labels,
        frameworks=framework_versions(),
    )
