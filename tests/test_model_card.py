"""The model card as the Hub reads it: metadata checked with huggingface_hub's own parsing and validation (and the
local Hub's validate-yaml), model-index entries as `metadata_eval_result` builds them, the widget, the label and loss
tables, and nothing invented (dataset ids, links)."""

import dataclasses
import re

import pytest
from hub_server import HubServer
from huggingface_hub import ModelCard, ModelCardData, metadata_eval_result
from huggingface_hub import constants as hub_constants
from huggingface_hub.repocard_data import model_index_to_eval_results

from model_card import render_model_card
from run_results import RunResults

MODEL_ID = "test-user/xnlu-card"
EXAMPLES = [
    {"text": "weck mich um sieben uhr", "language": "de"},
    {"text": 'pon una alarma "mañana"', "language": "es"},
    {"text": "ตั้ง นาฬิกา ปลุก", "language": "th"},
    {"text": "wetter in berlin", "language": "de"},
]
# Two epochs logged at steps 1-3, an evaluation at the end of the first, and Trainer's closing summary.
LOG_HISTORY = [
    {"epoch": 0.5, "step": 1, "loss": 2.0, "intent_loss": 1.2, "slot_loss": 0.6, "crossaligner_loss": 0.2,
     "crossaligner_weight": 1.0, "learning_rate": 1e-4},
    {"epoch": 1.0, "step": 2, "loss": 1.0, "intent_loss": 0.6, "slot_loss": 0.3, "crossaligner_loss": 0.1,
     "crossaligner_weight": 1.0, "learning_rate": 5e-5},
    {"epoch": 1.0, "step": 2, "eval_loss": 1.25, "eval_runtime": 0.1},
    {"epoch": 1.5, "step": 3, "loss": 0.5, "intent_loss": 0.3, "slot_loss": 0.15, "crossaligner_loss": 0.05,
     "crossaligner_weight": 1.0, "learning_rate": 0.0},
    {"epoch": 1.5, "step": 3, "train_runtime": 2.0, "train_loss": 1.1667},
]  # fmt: skip


def scores(accuracy: float) -> dict:
    return {
        "intent_accuracy": accuracy,
        "slot_f1": accuracy - 0.1,
        "slot_precision": accuracy - 0.05,
        "slot_recall": accuracy - 0.15,
        "exact_match": accuracy - 0.3,
        "overall": accuracy - 0.05,
        "num_examples": 10,
    }


def run_results(dataset: str = "mtod") -> RunResults:
    return RunResults(
        dataset=dataset,
        model_name_or_path="FacebookAI/xlm-roberta-large",
        trained=True,
        alignment=["crossaligner"],
        weighting="sum",
        pairing="rotate",
        one_model_per_language=False,
        split="test",
        gold_scheme="bio",
        numeric_precision="fp32",
        precision_choice=None,
        train_languages=["en"],
        target_languages=["de", "es", "th"],
        mean_over=["de", "es", "th"],
        languages={"en": scores(0.95), "de": scores(0.7), "es": scores(0.8), "th": scores(0.6)},
        mean=scores(0.7),
        num_intents=2,
        num_slot_types=2,
        training_examples={"en": 36},
        training_labels={
            "intents": {"alarm/set_alarm": 20, "weather/find": 16},
            "slot_types": {"datetime": 25, "location": 0},
        },
    )


def render(dataset: str = "mtod") -> ModelCard:
    card = render_model_card(
        run_results(dataset),
        {"learning rate (encoder)": 5e-5},
        model_id=MODEL_ID,
        examples=EXAMPLES,
        license="cc-by-sa-4.0",
        log_history=LOG_HISTORY,
    )
    return ModelCard(str(card))  # what the Hub reads: the rendered text, parsed again


def squeezed(markdown: str) -> str:
    return re.sub(r" *\| *", " | ", markdown)


def test_the_rendered_metadata_passes_huggingface_hubs_validation(monkeypatch):
    card = render()
    # Parsed again from its own dict (ModelCardData validates the model-index and its eval results) ...
    data = ModelCardData(**card.data.to_dict())
    assert data.eval_results == card.data.eval_results and data.model_name == MODEL_ID
    # ... and accepted by the Hub's validate-yaml route (the local stand-in parses it as the Hub does).
    with HubServer() as hub:
        monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(hub_constants, "ENDPOINT", hub.url)
        card.validate()
        assert ("POST", "/api/validate-yaml") in hub.requests


@pytest.mark.parametrize(
    "task_id, task_name, metric_id, metric_name, value",
    [
        ("text-classification", "Intent classification", "accuracy", "Intent accuracy", 0.8),
        ("token-classification", "Slot filling", "f1", "Slot F1 (span-level, micro-averaged)", 0.7),
        ("token-classification", "Slot filling", "precision", "Slot precision (span-level, micro-averaged)", 0.75),
        ("token-classification", "Slot filling", "recall", "Slot recall (span-level, micro-averaged)", 0.65),
        (
            "other",
            "Joint intent classification and slot filling",
            "exact_match",
            "Exact match (intent and every slot span right)",
            0.5,
        ),
    ],
)
def test_each_metric_has_a_standard_id_under_the_task_it_measures(task_id, task_name, metric_id, metric_name, value):
    expected = metadata_eval_result(
        model_pretty_name=MODEL_ID,
        task_pretty_name=task_name,
        task_id=task_id,
        metrics_pretty_name=f"{metric_name} (es)",
        metrics_id=metric_id,
        metrics_value=round(value, 4),
        dataset_pretty_name="MTOD (Schuster et al., 2019) (es)",
        dataset_id="mtod",
        dataset_config="es",
        dataset_split="test",
    )
    _, (result,) = model_index_to_eval_results(expected["model-index"])
    # metadata_eval_result marks the value self-reported (verified: false); the card leaves `verified` out, as
    # transformers' cards do.
    assert dataclasses.replace(result, verified=None) in render().data.eval_results


def test_model_index_holds_every_language_and_the_mean_with_hub_metric_ids_only():
    results = render().data.eval_results
    assert {result.metric_type for result in results} == {"accuracy", "f1", "precision", "recall", "exact_match"}
    assert {result.dataset_config for result in results} == {"en", "de", "es", "th", "mean"}
    assert len(results) == 5 * 5
    tasks = {result.metric_type: (result.task_type, result.task_name) for result in results}
    assert tasks == {
        "accuracy": ("text-classification", "Intent classification"),
        "f1": ("token-classification", "Slot filling"),
        "precision": ("token-classification", "Slot filling"),
        "recall": ("token-classification", "Slot filling"),
        "exact_match": ("other", "Joint intent classification and slot filling"),
    }
    mean_f1 = next(r for r in results if r.dataset_config == "mean" and r.metric_type == "f1")
    assert mean_f1.metric_name == "Slot F1 (span-level, micro-averaged) (MEAN over de, es, th)"


def test_dataset_ids_are_the_hubs_only_where_the_dataset_is_on_the_hub():
    massive = render("massive").data
    assert massive.datasets == ["AmazonScience/massive"]
    assert {result.dataset_type for result in massive.eval_results} == {"AmazonScience/massive"}
    mtod = render("mtod").data
    assert mtod.datasets is None and {result.dataset_type for result in mtod.eval_results} == {"mtod"}


def test_widget_examples_come_from_several_languages_and_the_card_says_how_to_run_them():
    card = render()
    assert card.data.widget == [{"text": e["text"], "example_title": e["language"]} for e in EXAMPLES]
    assert "hosted" in card.text and "does not run" in card.text
    assert len({example["example_title"] for example in card.data.widget}) == 3
    assert 'xnlu("weck mich um sieben uhr")' in card.text  # the first example is the usage code's


def test_label_table_lists_every_intent_and_slot_type_with_its_training_count():
    text = squeezed(render().text)
    for row in ("| alarm/set_alarm | 20 |", "| weather/find | 16 |", "| datetime | 25 |", "| location | 0 |"):
        assert row in text, row


def test_loss_table_has_each_epochs_mean_of_every_logged_loss():
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in render().text.splitlines()
        if line.startswith("| ") and ("epoch" in line or "0.5000" in line or "1.5000" in line)
    ]
    assert rows == [
        ["epoch", "step", "loss", "intent_loss", "slot_loss", "crossaligner_loss", "validation loss"],
        ["1.0", "2", "1.5000", "0.9000", "0.4500", "0.1500", "1.2500"],
        ["1.5", "3", "0.5000", "0.3000", "0.1500", "0.0500", ""],  # no evaluation in the second epoch
    ]


def test_the_card_links_nowhere():
    card = str(render())
    assert not re.search(r"https?://|github", card)
