"""How a run's results are shown: the per-language table, the bar chart and the prediction files."""

from __future__ import annotations

import json
from pathlib import Path

METRICS = ("intent_accuracy", "slot_f1", "exact_match", "overall")
METRIC_TITLES = {"intent_accuracy": "intent acc", "slot_f1": "slot F1", "exact_match": "exact match", "overall": "overall"}


def results_table(results: dict) -> str:
    """Markdown table of `results.json`-shaped results, in percent: one row per language, then MEAN.

    MEAN averages the target languages (as the paper's tables do); training languages are marked and not in it.
    """
    train_languages = set(results.get("train_languages", []))
    header = "| language | " + " | ".join(METRIC_TITLES[m] for m in METRICS) + " | examples |"
    lines = [header, "|" + " --- |" * (len(METRICS) + 2)]
    for language, scores in results["languages"].items():
        name = f"{language} (train)" if language in train_languages else language
        lines.append(_row(name, scores, scores.get("num_examples")))
    if results.get("mean"):
        lines.append(_row("**MEAN**", results["mean"], None))
    return "\n".join(lines)


def _row(name: str, scores: dict, count: int | None) -> str:
    cells = [f"{100 * scores[m]:.1f}" for m in METRICS]
    return f"| {name} | " + " | ".join(cells) + f" | {'' if count is None else count} |"


def plot_results(results: dict, path: str | Path, title: str | None = None) -> None:
    """Grouped bar chart: the four metrics per language, plus MEAN."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt

    groups = dict(results["languages"])
    if results.get("mean"):
        groups["MEAN"] = results["mean"]
    width = 0.8 / len(METRICS)
    figure, axes = plt.subplots(figsize=(max(6.0, 1.4 * len(groups) + 2), 4.0))
    for index, metric in enumerate(METRICS):
        positions = [g + (index - (len(METRICS) - 1) / 2) * width for g in range(len(groups))]
        values = [100 * scores[metric] for scores in groups.values()]
        bars = axes.bar(positions, values, width, label=METRIC_TITLES[metric])
        axes.bar_label(bars, fmt="%.0f", fontsize=7, padding=1)
    axes.set_xticks(range(len(groups)), list(groups))
    axes.set_ylim(0, 105)
    axes.set_ylabel("%")
    axes.set_title(title or f"{results.get('dataset', '')} {results.get('split', '')}".strip())
    axes.legend(ncols=len(METRICS), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), frameon=False)
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_predictions(path: str | Path, predictions: list[dict]) -> None:
    """One JSON object per line: id, words, gold and predicted intent, gold and predicted BIO tags."""
    with open(path, "w", encoding="utf-8") as handle:
        for record in predictions:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def read_predictions(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
