"""A suite run with several seeds, summarised: each method's scores as mean and standard deviation over the seeds (per
language and MEAN), the share of the Zero-Shot to Target Language slot-F1 gap it closes, and its paired tests against
the baseline, one per seed, with the mean difference and its spread; a bar chart with the spread as error bars.

How the seeds are combined: every seed is a complete suite (its own English sample, initialisation and order), in
`<output_dir>/seed<k>/`; each seed's runs are tested against the same seed's baseline with the paired tests of
`benchmarks/significance.py` on the target languages pooled, and the summary reports the mean and standard deviation
of those per-seed differences and how many seeds were significant (p < 0.01). No test pools examples across seeds:
the seeds' test sets are the same examples, so pooling would count each example several times.

    python benchmarks/mtod_suite.py --seeds 1 2 3 --output_dir outputs/mtod_suite_seeds   # writes seeds.md, seeds.png
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.significance import POOLED, THRESHOLD, compare_runs  # noqa: E402
from reporting import PLOTTED, plot_scores  # noqa: E402
from xnlu_evaluation import mean_over_languages  # noqa: E402

SEED_FOLDER = re.compile(r"seed(\d+)")
MEAN = "MEAN"


def seed_folders(output_dir: str | Path) -> dict[int, Path]:
    """Seed -> its suite folder (`seed<k>`), in seed order."""
    folders = {
        int(match.group(1)): path
        for path in Path(output_dir).iterdir()
        if path.is_dir() and (match := SEED_FOLDER.fullmatch(path.name))
    }
    return dict(sorted(folders.items()))


def seed_scores(folders: dict[int, Path], method: str, languages: list[str]) -> dict[int, dict[str, dict]]:
    """Seed -> language (and MEAN) -> scores of one method, for the seeds where it finished."""
    scores = {}
    for seed, folder in folders.items():
        results_file = folder / method / "results.json"
        if results_file.is_file():
            by_language = json.loads(results_file.read_text())["languages"]
            scores[seed] = {lang: by_language[lang] for lang in languages}
            scores[seed][MEAN] = mean_over_languages(by_language, languages)
    return scores


def spread(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _cell(values: list[float], signed: bool = False) -> str:
    mean, deviation = spread([100 * value for value in values])
    return f"{mean:{'+' if signed else ''}.1f} ± {deviation:.1f}"


def scores_table(finished: list, baseline: str, target: str | None, languages: list[str]) -> str:
    """Markdown: per finished method ((method, its `seed_scores`) pairs), intent accuracy and slot F1 per language
    and MEAN as mean ± sd over seeds, and the share of the baseline to `target` slot-F1 gap closed by the
    seed-averaged MEAN."""
    columns = [*languages, MEAN]
    averaged = {m.name: statistics.fmean(s[MEAN]["slot_f1"] for s in scores.values()) for m, scores in finished}
    lines = [
        "| method | seeds | " + " | ".join(f"{c} intent acc | {c} slot F1" for c in columns) + " | gap closed |",
        "|" + " --- |" * (3 + 2 * len(columns)),
    ]
    for method, scores in finished:
        cells = [
            _cell([s[column][metric] for s in scores.values()])
            for column in columns
            for metric in ("intent_accuracy", "slot_f1")
        ]
        gap = ""
        if target in averaged and baseline in averaged and method.name not in (baseline, target):
            width = averaged[target] - averaged[baseline]
            gap = f"{(averaged[method.name] - averaged[baseline]) / width:.0%}" if width else ""
        lines.append(f"| {method.title} | {len(scores)} | " + " | ".join(cells) + f" | {gap} |")
    return "\n".join(lines) + (
        "\n\nMean ± standard deviation over the seeds, in percent; gap closed: (method - baseline) / (target - "
        "baseline) of the MEAN slot F1 averaged over the seeds."
    )


def paired_tests_by_seed(folders, methods, baseline: str, languages: list[str]) -> dict[str, dict[int, dict]]:
    """Method -> seed -> the pooled paired tests against that seed's baseline run."""
    tests: dict[str, dict[int, dict]] = {}
    for seed, folder in folders.items():
        if not (folder / baseline / "results.json").is_file():
            continue
        runs = [folder / m.name for m in methods if m.name != baseline and (folder / m.name / "results.json").is_file()]
        for name, comparison in compare_runs(folder / baseline, runs, languages).items():
            tests.setdefault(name, {})[seed] = comparison[POOLED]
    return tests


def tests_table(tests: dict[str, dict[int, dict]], methods, baseline_title: str) -> str:
    """Markdown: per method and metric, the per-seed difference from the baseline (points), their mean ± sd, and the
    number of seeds where the paired test is significant."""
    names = (("intent_accuracy", "intent acc"), ("exact_match", "exact match"), ("slot_f1", "slot F1"))
    header = " | ".join(f"{title}: difference per seed | mean ± sd | significant" for _, title in names)
    lines = [
        f"| method | {header} |",
        "|" + " --- |" * (1 + 3 * len(names)),
    ]
    for method in methods:
        by_seed = tests.get(method.name)
        if not by_seed:
            continue
        cells = []
        for name, _ in names:
            differences = [by_seed[seed][name]["difference"] for seed in by_seed]
            significant = sum(by_seed[seed][name]["p"] < THRESHOLD for seed in by_seed)
            per_seed = ", ".join(f"{100 * d:+.1f}" for d in differences)
            cells += [per_seed, _cell(differences, signed=True), f"{significant} of {len(by_seed)}"]
        lines.append(f"| {method.title} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + (
        f"\n\nAgainst {baseline_title} of the same seed, the target languages' test examples pooled; significant: "
        f"p < {THRESHOLD} (McNemar's exact test for intent accuracy and exact match, paired bootstrap for slot F1)."
    )


def write_seed_summary(output_dir: str | Path, methods, baseline: str, target: str | None, languages) -> str:
    """seeds.md and seeds.png in `output_dir` from its `seed<k>` suite folders; returns the markdown."""
    output_dir, languages = Path(output_dir), list(languages)
    folders = seed_folders(output_dir)
    if not folders:
        raise FileNotFoundError(f"no seed<k> suite folders in {output_dir}")
    titles = {m.name: m.title for m in methods}
    # Each method's results.json files, read once for the table and the chart.
    finished = [(m, scores) for m in methods if (scores := seed_scores(folders, m.name, languages))]
    text = (
        f"## Scores over seeds {', '.join(map(str, folders))}\n\n"
        f"{scores_table(finished, baseline, target, languages)}\n\n"
        f"## Paired tests against {titles.get(baseline, baseline)}, one per seed\n\n"
        f"{tests_table(paired_tests_by_seed(folders, methods, baseline, languages), methods, titles.get(baseline))}"
    )
    (output_dir / "seeds.md").write_text(text + "\n")
    means, errors = {}, {}
    for method, scores in finished:
        values = {metric: spread([s[MEAN][metric] for s in scores.values()]) for metric in PLOTTED}
        means[method.label] = {metric: mean for metric, (mean, _) in values.items()}
        errors[method.label] = {metric: deviation for metric, (_, deviation) in values.items()}
    plot_scores(
        means,
        output_dir / "seeds.png",
        title=f"MEAN over {' and '.join(languages)}: mean ± sd of {len(folders)} seeds",
        errors=errors,
    )
    return text
