# Copyright 2026 The CrossAligner XNLU authors. Apache-2.0.
"""`RunResults`: what one run scored and what it trained, as one typed object. run_xnlu.py builds it once per model
(or merges those of one model per target language); it is written as results.json, results.md (`results_table`:
transformers' `make_markdown_table`, as its model cards have them) and results.png, and the model card reads it.

Scores are fractions in [0, 1] (xnlu_metric.py); the MEAN is the one `xnlu_evaluation` computed (over the target
languages), never recomputed from the per-language rows, except when merging models trained one per language.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from transformers.modelcard import make_markdown_table

from reporting import METRIC_TITLES, plot_scores
from xnlu_evaluation import METRICS, mean_over_languages

RESULTS_FILE = "results.json"
ONE_MODEL = "one model for all target languages"
ONE_MODEL_PER_LANGUAGE = "one model per target language"


# Left out of results.json when empty: what only some runs have (training, projection, one model per language).
_OPTIONAL_FIELDS = (
    "training_examples",
    "training_pairs",
    "unknown_labels",
    "skipped_examples",
    "source_scores",
    "models",
    "projection",
    "self_training",
    "learning_rate",
    "head_learning_rate",
    "frozen",
    "epochs",
    "training_labels",
    "lora",
    "runtime",
)


@dataclass
class RunResults:
    dataset: str
    model_name_or_path: str
    trained: bool
    alignment: list[str]
    weighting: str | None  # with alignment only
    pairing: str | None  # with several target languages in one aligned model only
    one_model_per_language: bool
    split: str | None  # the split the scores are of: test, else dev; None when nothing was scored
    gold_scheme: str
    numeric_precision: str  # fp32 or bf16/fp16 mixed precision: what the model trained and predicted in
    precision_choice: str | None  # why that precision
    train_languages: list[str]
    target_languages: list[str]
    mean_over: list[str]
    languages: dict[str, dict] = field(default_factory=dict)  # xnlu_metric.py's scores, per language
    mean: dict[str, float] = field(default_factory=dict)
    num_intents: int | None = None
    num_slot_types: int | None = None
    # Training (trained runs only).
    training_examples: dict[str, int] = field(default_factory=dict)
    training_pairs: dict[str, int] = field(default_factory=dict)  # distinct English examples per target language
    learning_rate: float | None = None
    head_learning_rate: float | None = None
    frozen: str | None = None
    epochs: float | None = None
    projection: dict | None = None  # the projection alignment's settings
    # {"intents": {intent: examples}, "slot_types": {slot type: entities}} in the training data.
    training_labels: dict[str, dict[str, int]] = field(default_factory=dict)
    lora: dict | None = None  # a LoRA run's adapter settings and trained parameter count (run_xnlu.lora_settings)
    self_training: dict | None = None  # the teacher, filter and rounds, and what each round's filter kept
    # Data the scores could not count as the model sees it.
    unknown_labels: dict[str, dict] = field(default_factory=dict)
    skipped_examples: dict[str, int] = field(default_factory=dict)
    # One model per target language: each model's source-language scores, and the folder of each model.
    source_scores: dict[str, dict] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    # Scored on ONNX Runtime (run_xnlu.py --runtime onnx / onnx-int8); None: by PyTorch.
    runtime: str | None = None

    @property
    def protocol(self) -> str:
        return ONE_MODEL_PER_LANGUAGE if self.one_model_per_language else ONE_MODEL

    def describe(self) -> str:
        """The method in a few words: "crossaligner", "zero-shot, one model per target language", ..."""
        if not self.trained:
            return f"{self.model_name_or_path}, no training" + (f", on {self.runtime}" if self.runtime else "")
        if self.alignment:
            text = " + ".join(self.alignment) + (f", {self.weighting}" if len(self.alignment) > 1 else "")
        elif any(language != "en" for language in self.train_languages):
            text = "Target Language"
        else:
            text = "zero-shot"
        if self.self_training:
            rounds = self.self_training["rounds"]
            text += f", self-training ({self.self_training['filter']} filter, {rounds} round{'s' * (rounds > 1)})"
        return text + (", one model per target language" if self.one_model_per_language else "")

    # ---- results.json ---------------------------------------------------------------------------------------------

    def to_json(self) -> dict:
        """results.json's content: every field, `protocol` in words; the optional ones only when they say something."""
        content = dataclasses.asdict(self)
        one_model_per_language = content.pop("one_model_per_language")
        content = {"protocol": ONE_MODEL_PER_LANGUAGE if one_model_per_language else ONE_MODEL, **content}
        return {
            name: value for name, value in content.items() if name not in _OPTIONAL_FIELDS or value not in ({}, None)
        }

    @classmethod
    def from_json(cls, content: dict) -> RunResults:
        content = dict(content)
        protocol = content.pop("protocol", ONE_MODEL)
        if "precision" in content:  # its name before it was told apart from the metric slot_precision
            content["numeric_precision"] = content.pop("precision")
        names = {item.name for item in dataclasses.fields(cls)}
        unknown = sorted(set(content) - names)
        if unknown:
            raise ValueError(f"results.json has fields RunResults does not know: {', '.join(unknown)}")
        return cls(one_model_per_language=protocol == ONE_MODEL_PER_LANGUAGE, **content)

    @classmethod
    def load(cls, folder: str | Path) -> RunResults:
        path = Path(folder) / RESULTS_FILE
        return cls.from_json(json.loads(path.read_text()))

    def save(self, folder: str | Path) -> None:
        """results.json, and when something was scored the per-language tables (results.md) and bar chart
        (results.png)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / RESULTS_FILE).write_text(json.dumps(self.to_json(), indent=2) + "\n")
        if self.languages:
            (folder / "results.md").write_text(results_table(self) + "\n")
            groups = {**self.languages, **({"MEAN": self.mean} if self.mean else {})}
            plot_scores(groups, folder / "results.png", title=f"{self.dataset} {self.split}")

    # ---- one model per target language ----------------------------------------------------------------------------

    @classmethod
    def merge(cls, models: dict[str, RunResults]) -> RunResults:
        """The results of one model per target language as one table: each language scored by its own model; the
        source language's scores of each model kept apart (`source_scores`); the MEAN over the target languages."""
        first = next(iter(models.values()))
        languages = {
            language: results.languages[language]
            for language, results in models.items()
            if language in results.languages  # not when the models were only trained
        }
        return dataclasses.replace(
            first,
            one_model_per_language=True,
            pairing=None,
            train_languages=sorted({language for results in models.values() for language in results.train_languages}),
            target_languages=list(models),
            mean_over=list(models),
            models={language: language for language in models},
            languages=languages,
            mean=mean_over_languages(languages) if languages else {},
            source_scores={
                language: scores
                for language, results in models.items()
                for other, scores in results.languages.items()
                if other != language
            },
            training_pairs={
                name: count for results in models.values() for name, count in results.training_pairs.items()
            },
            skipped_examples={
                name: count for results in models.values() for name, count in results.skipped_examples.items()
            },
            training_examples=_by_model(models, "training_examples"),
            unknown_labels=_by_model(models, "unknown_labels"),
            projection=first.projection,
            self_training=first.self_training,
        )


def _by_model(models: dict[str, RunResults], name: str) -> dict:
    """`{key} ({language} model)` -> value of each model's field `name`."""
    return {
        f"{key} ({language} model)": value
        for language, results in models.items()
        for key, value in getattr(results, name).items()
    }


# ---- tables ---------------------------------------------------------------------------------------------------------


def results_table(results: RunResults, slot_types: bool = True) -> str:
    """Markdown tables of a run's results, in percent: one row per language, then MEAN (over the target languages, as
    the paper's tables; training languages are marked and not in it); the source language's scores of each model of
    a one-model-per-language run; then (`slot_types`) each language's scores per slot type."""
    train_languages, mean_over = set(results.train_languages), set(results.mean_over)
    rows = []
    for language, scores in results.languages.items():
        name = f"{language} (train)" if language in train_languages and language not in mean_over else language
        rows.append(_row(name, scores, scores.get("num_examples")))
    if results.mean:
        rows.append(_row(f"**MEAN** ({', '.join(results.mean_over)})", results.mean, None))
    for model, scores in results.source_scores.items():
        rows.append(_row(f"en ({model} model, train)", scores, scores.get("num_examples")))
    lines = [_title(results), "", make_markdown_table(rows).rstrip()]
    for language, scores in results.languages.items() if slot_types else ():
        if scores.get("slot_types"):
            lines += ["", f"Slot types, {language}:", "", slot_type_table(scores["slot_types"])]
    return "\n".join(lines)


def _title(results: RunResults) -> str:
    parts = [f"{results.dataset} {results.split} set"]
    if results.trained:
        alignment = " + ".join(results.alignment) or "no alignment"
        weighting = results.weighting
        parts.append(
            alignment + (f" (weighting: {'1 each' if weighting == 'sum' else weighting})" if weighting else "")
        )
        parts.append(results.protocol)
    else:
        parts.append(f"{results.model_name_or_path}, scored without training")
    parts.append(f"gold: {results.gold_scheme.upper()}")
    return "**" + "; ".join(parts) + "**"


def slot_type_table(slot_types: dict) -> str:
    """Markdown: precision / recall / F1 (percent) and support of each slot type, most frequent first."""
    rows = [
        {
            "slot type": slot_type,
            "P": f"{100 * scores['precision']:.1f}",
            "R": f"{100 * scores['recall']:.1f}",
            "F1": f"{100 * scores['f1']:.1f}",
            "support": scores["support"],
        }
        for slot_type, scores in sorted(slot_types.items(), key=lambda item: (-item[1]["support"], item[0]))
    ]
    return make_markdown_table(rows).rstrip()


def _row(name: str, scores: dict, count: int | None) -> dict[str, str]:
    """A table row: the scores in percent (empty where missing) and the number of examples."""
    cells = {METRIC_TITLES[m]: f"{100 * scores[m]:.1f}" if m in scores else "" for m in METRICS}
    return {"language": name, **cells, "examples": "" if count is None else count}
