"""How a run's results are shown: the per-language tables, the bar chart and the prediction files."""

from __future__ import annotations

import json
from pathlib import Path

# Columns of the main table; the bar chart shows the first two and the last two.
METRICS = ("intent_accuracy", "slot_f1", "slot_precision", "slot_recall", "exact_match", "overall")
PLOTTED = ("intent_accuracy", "slot_f1", "exact_match", "overall")
METRIC_TITLES = {
    "intent_accuracy": "intent acc",
    "slot_f1": "slot F1",
    "slot_precision": "slot P",
    "slot_recall": "slot R",
    "exact_match": "exact match",
    "overall": "overall",
}


def results_table(results: dict, slot_types: bool = True) -> str:
    """Markdown tables of `results.json`-shaped results, in percent: one row per language, then MEAN (over the target
    languages, as the paper's tables; training languages are marked and not in it); the source language's scores
    of each model of a one-model-per-language run; then (`slot_types`) each language's scores per slot type."""
    train_languages = set(results.get("train_languages", []))
    mean_over = set(results.get("mean_over", results["languages"]))
    header = "| language | " + " | ".join(METRIC_TITLES[m] for m in METRICS) + " | examples |"
    lines = [_title(results), "", header, "|" + " --- |" * (len(METRICS) + 2)]
    for language, scores in results["languages"].items():
        name = f"{language} (train)" if language in train_languages and language not in mean_over else language
        lines.append(_row(name, scores, scores.get("num_examples")))
    if results.get("mean"):
        lines.append(_row(f"**MEAN** ({', '.join(results.get('mean_over', []))})", results["mean"], None))
    for model, scores in results.get("source_scores", {}).items():
        lines.append(_row(f"en ({model} model, train)", scores, scores.get("num_examples")))
    for language, scores in results["languages"].items() if slot_types else ():
        if scores.get("slot_types"):
            lines += ["", f"Slot types, {language}:", "", slot_type_table(scores["slot_types"])]
    return "\n".join(lines)


def _title(results: dict) -> str:
    parts = [f"{results.get('dataset', '')} {results.get('split', '')} set".strip()]
    if results.get("trained", True):
        alignment = " + ".join(results.get("alignment") or []) or "no alignment"
        weighting = results.get("weighting")
        parts.append(
            alignment + (f" (weighting: {'1 each' if weighting == 'sum' else weighting})" if weighting else "")
        )
        parts.append(results.get("protocol", "one model for all target languages"))
    else:
        parts.append(f"{results.get('model_name_or_path')}, scored without training")
    parts.append(f"gold: {results.get('gold_scheme', 'bio').upper()}")
    return "**" + "; ".join(parts) + "**"


def slot_type_table(slot_types: dict) -> str:
    """Markdown: precision / recall / F1 (percent) and support of each slot type, most frequent first."""
    lines = ["| slot type | P | R | F1 | support |", "| --- | --- | --- | --- | --- |"]
    for slot_type, scores in sorted(slot_types.items(), key=lambda item: (-item[1]["support"], item[0])):
        lines.append(
            f"| {slot_type} | {100 * scores['precision']:.1f} | {100 * scores['recall']:.1f} | "
            f"{100 * scores['f1']:.1f} | {scores['support']} |"
        )
    return "\n".join(lines)


def _row(name: str, scores: dict, count: int | None) -> str:
    cells = [f"{100 * scores[m]:.1f}" if m in scores else "" for m in METRICS]
    return f"| {name} | " + " | ".join(cells) + f" | {'' if count is None else count} |"


def plot_results(results: dict, path: str | Path, title: str | None = None) -> None:
    """Grouped bar chart: four metrics per language, plus MEAN."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt

    groups = dict(results["languages"])
    if results.get("mean"):
        groups["MEAN"] = results["mean"]
    width = 0.8 / len(PLOTTED)
    figure, axes = plt.subplots(figsize=(max(6.0, 1.4 * len(groups) + 2), 4.0))
    for index, metric in enumerate(PLOTTED):
        positions = [g + (index - (len(PLOTTED) - 1) / 2) * width for g in range(len(groups))]
        values = [100 * scores[metric] for scores in groups.values()]
        bars = axes.bar(positions, values, width, label=METRIC_TITLES[metric])
        axes.bar_label(bars, fmt="%.0f", fontsize=7, padding=1)
    axes.set_xticks(range(len(groups)), list(groups))
    axes.set_ylim(0, 105)
    axes.set_ylabel("%")
    axes.set_title(title or f"{results.get('dataset', '')} {results.get('split', '')}".strip())
    axes.legend(ncols=len(PLOTTED), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), frameon=False)
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_predictions(path: str | Path, predictions: list[dict]) -> None:
    """One JSON object per line (prediction files: id, words, gold and predicted intent, gold and predicted BIO
    tags; projection files: id, the translation's words and projected tags, the English words and tags)."""
    with open(path, "w", encoding="utf-8") as handle:
        for record in predictions:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def prediction_files(run_dir: str | Path) -> dict[str, Path]:
    """Language -> predictions file of a run_xnlu.py output folder: its `predictions_<lang>.jsonl`, or for a run of
    one model per target language, each target language's file in its model's folder."""
    run_dir = Path(run_dir)
    files = {path.stem.removeprefix("predictions_"): path for path in sorted(run_dir.glob("predictions_*.jsonl"))}
    results_file = run_dir / "results.json"
    if results_file.is_file():
        for language, folder in json.loads(results_file.read_text()).get("models", {}).items():
            files[language] = run_dir / folder / f"predictions_{language}.jsonl"
    return files


def read_predictions(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
