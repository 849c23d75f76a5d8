"""Renders a trained model's README.md (the Hub model card) from the top-level `model_card.md` template."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from huggingface_hub.utils import HFValidationError, validate_repo_id

from reporting import METRICS, METRIC_TITLES, results_table

TEMPLATE = Path(__file__).resolve().parent / "model_card.md"
METHOD_NAMES = {
    "crossaligner": "CrossAligner",
    "xeroalign": "XeroAlignIO",
    "contrastive": "Contrastive alignment",
    "translate_intent": "Translate-Intent",
}
DATASET_NAMES = {
    "home_assistant": "Home Assistant intents (generated from the home-assistant-intents templates)",
    "mtod": "MTOD (Schuster et al., 2019)",
    "m_atis": "MultiATIS++ (Xu et al., 2020)",
    "mtop": "MTOP (Li et al., 2021)",
    "massive": "MASSIVE (FitzGerald et al., 2022)",
    "jsonl": "user data (JSON lines)",
}
HUB_DATASET_IDS = {"massive": "AmazonScience/massive"}


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


def render_model_card(
    results: dict, hyperparameters: dict, model_id: str, example_text: str, base_model: str | None = None
) -> ModelCard:
    """A model card with Hub metadata: language, license, base_model, datasets, tags and a `model-index` holding
    every per-language metric of `results` (a `results.json` dict). `base_model` defaults to the encoder the run
    started from; it enters the metadata only if it is a Hub repo id."""
    base_model = base_model or results["model_name_or_path"]
    dataset = results["dataset"]
    languages = list(results["languages"])
    eval_results = [
        EvalResult(
            task_type="token-classification" if metric == "slot_f1" else "text-classification",
            task_name="Slot filling" if metric == "slot_f1" else "Intent classification",
            dataset_type=HUB_DATASET_IDS.get(dataset, dataset),
            dataset_name=f"{DATASET_NAMES.get(dataset, dataset)} ({language})",
            dataset_config=language,
            dataset_split=results["split"],
            metric_type={"intent_accuracy": "accuracy", "slot_f1": "f1"}.get(metric, metric),
            metric_name=f"{METRIC_TITLES[metric]} ({language})",
            metric_value=round(scores[metric], 4),
        )
        for language, scores in results["languages"].items()
        for metric in METRICS
    ]
    card_data = ModelCardData(
        language=languages,
        license="apache-2.0",
        library_name="transformers",
        base_model=_hub_id_or_none(base_model),
        datasets=[HUB_DATASET_IDS[dataset]] if dataset in HUB_DATASET_IDS else None,
        tags=["crossaligner-xnlu", "intent-classification", "slot-filling", "cross-lingual", "xlm-roberta"]
        + sorted(results["alignment"]),
        pipeline_tag="token-classification",
        model_name=model_id,
        eval_results=eval_results,
    )
    weighting = results["weighting"]
    return ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATE),
        model_name=model_id,
        model_id=model_id,
        languages=languages,
        train_languages=results["train_languages"],
        target_languages=[language for language in languages if language not in results["train_languages"]],
        base_model=base_model,
        dataset=DATASET_NAMES.get(dataset, dataset),
        alignment=results["alignment"],
        method=method_description(results["alignment"], results["train_languages"]),
        weighting_description=(
            "none (main losses only)"
            if not results["alignment"]
            else "Coefficient of Variation (CoV)" if weighting == "cov" else "sum (every auxiliary loss weight 1)"
        ),
        num_intents=hyperparameters.get("num_intents"),
        num_slot_types=hyperparameters.get("num_slot_types"),
        split=results["split"],
        results_table=results_table(results),
        example_text=example_text.replace('"', '\\"'),
        hyperparameters=hyperparameters,
    )
