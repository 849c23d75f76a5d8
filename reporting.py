"""How scores are shown and predictions kept: the metrics' titles, the bar chart, the prediction files."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

# The bar chart shows the first two and the last two of the table's METRICS.
PLOTTED = ("intent_accuracy", "slot_f1", "exact_match", "overall")
METRIC_TITLES = {
    "intent_accuracy": "intent acc",
    "slot_f1": "slot F1",
    "slot_precision": "slot P",
    "slot_recall": "slot R",
    "exact_match": "exact match",
    "overall": "overall",
}


def plot_scores(
    groups: Mapping[str, Mapping[str, float]],
    path: str | Path,
    title: str,
    errors: Mapping[str, Mapping[str, float]] | None = None,
) -> None:
    """Grouped bar chart: four metrics (`PLOTTED`) per group (e.g. per language, then MEAN); `errors` (the same
    layout, e.g. standard deviations over seeds) are drawn as error bars."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt

    width = 0.8 / len(PLOTTED)
    figure, axes = plt.subplots(figsize=(max(6.0, 1.4 * len(groups) + 2), 4.0))
    for index, metric in enumerate(PLOTTED):
        positions = [g + (index - (len(PLOTTED) - 1) / 2) * width for g in range(len(groups))]
        values = [100 * scores[metric] for scores in groups.values()]
        spread = [100 * errors[group][metric] for group in groups] if errors else None
        bars = axes.bar(positions, values, width, yerr=spread, capsize=2, label=METRIC_TITLES[metric])
        axes.bar_label(bars, fmt="%.0f", fontsize=7, padding=1)
    axes.set_xticks(range(len(groups)), list(groups))
    axes.set_ylim(0, 105)
    axes.set_ylabel("%")
    axes.set_title(title)
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
