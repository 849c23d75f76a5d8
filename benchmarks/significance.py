"""Is a method's difference from a baseline (Zero-Shot) significant? The paper's two-tailed z-test for the difference
of two proportions (`xnlu_evaluation.two_proportion_z_test`), from the runs' prediction files, per target language
and on all target languages pooled, for two proportions:

- intent accuracy: correct intents / test examples;
- exact match: test examples whose intent and slot spans are all right / test examples;
- exact spans: gold slot spans predicted exactly (type and words) / gold spans, the per-span correctness behind F1
  (spurious predictions do not lower it: read it next to the F1 of the comparison table).

Both runs score the same test examples, so the samples are paired; the z-test treats them as independent, as the
paper did, which makes it conservative. p < 0.01 (the paper's threshold) is marked `*`.

    python benchmarks/significance.py outputs/mtod_suite [--baseline zero_shot] [--languages es th]
    python benchmarks/significance.py BASELINE_RUN RUN [RUN ...] [--languages de es]   # any run_xnlu.py folders
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.error_analysis import span_outcomes  # noqa: E402
from reporting import prediction_files, read_predictions  # noqa: E402
from xnlu_evaluation import two_proportion_z_test  # noqa: E402

THRESHOLD = 0.01
POOLED = "pooled"


PROPORTIONS = (("intent_accuracy", "intent acc"), ("exact_match", "exact match"), ("exact_spans", "exact spans"))


def proportions(records: list[dict]) -> dict[str, tuple[int, int]]:
    """(successes, trials) of the tested proportions in one language's prediction records."""
    intents = exact = 0
    outcomes = []
    for record in records:
        spans = span_outcomes(record["gold_tags"], record["predicted_tags"])
        intent_right = record["gold_intent"] == record["predicted_intent"]
        intents += intent_right
        exact += intent_right and all(kind == "correct" for kind, _, _ in spans)
        outcomes += [kind for kind, gold, _ in spans if gold is not None]
    return {
        "intent_accuracy": (intents, len(records)),
        "exact_match": (exact, len(records)),
        "exact_spans": (outcomes.count("correct"), len(outcomes)),
    }


def run_proportions(run_dir: str | Path, languages: list[str]) -> dict[str, dict[str, tuple[int, int]]]:
    """`proportions` per language of one run folder, plus the languages pooled."""
    files = prediction_files(run_dir)
    by_language = {lang: proportions(read_predictions(files[lang])) for lang in languages}
    by_language[POOLED] = {
        name: (sum(p[name][0] for p in by_language.values()), sum(p[name][1] for p in by_language.values()))
        for name, _ in PROPORTIONS
    }
    return by_language


def compare(method: dict, baseline: dict) -> dict[str, dict[str, dict[str, float]]]:
    """Per language and proportion: the method's and the baseline's value, the difference, z and p."""
    comparison = {}
    for lang, tested in method.items():
        comparison[lang] = {}
        for name, (successes, trials) in tested.items():
            base_successes, base_trials = baseline[lang][name]
            if trials == 0 or base_trials == 0:  # e.g. no gold spans at all: nothing to test
                continue
            value, base = successes / trials, base_successes / base_trials
            z, p = two_proportion_z_test(value, trials, base, base_trials)
            comparison[lang][name] = {
                "method": value,
                "baseline": base,
                "difference": value - base,
                "z": z,
                "p": p,
                "n": trials,
            }
    return comparison


def significance_table(comparisons: dict[str, dict], baseline: str) -> str:
    """Markdown: one row per (method, language); difference from the baseline in points, z and p per proportion."""
    names = PROPORTIONS
    header = "| method | language | " + " | ".join(f"{title} vs {baseline} | z | p" for _, title in names) + " |"
    lines = [header, "|" + " --- |" * (2 + 3 * len(names))]
    for method, by_language in comparisons.items():
        for lang, tests in by_language.items():
            cells = []
            for name, _ in names:
                if name not in tests:
                    cells += ["n/a", "", ""]
                    continue
                test = tests[name]
                mark = "*" if test["p"] < THRESHOLD else ""
                cells += [
                    f"{100 * test['method']:.1f} vs {100 * test['baseline']:.1f} "
                    f"({100 * test['difference']:+.1f}){mark}",
                    f"{test['z']:.2f}",
                    _p_value(test["p"]),
                ]
            lines.append(f"| {method} | {lang} | " + " | ".join(cells) + " |")
    lines.append(f"\n`*`: p < {THRESHOLD} (two-tailed z-test for the difference of two proportions).")
    return "\n".join(lines)


def _p_value(p: float) -> str:
    return "<1e-6" if p < 1e-6 else f"{p:.2g}"


def compare_suite(suite_dir: str | Path, baseline: str, languages: list[str]) -> dict[str, dict]:
    """`compare` of every finished run in a suite folder (sub-folders with results.json) against the baseline run."""
    suite_dir = Path(suite_dir)
    runs = sorted(path.parent.name for path in suite_dir.glob("*/results.json"))
    if baseline not in runs:
        raise FileNotFoundError(f"no finished baseline run {suite_dir / baseline} (finished: {runs})")
    return compare_runs(suite_dir / baseline, [suite_dir / run for run in runs if run != baseline], languages)


def compare_runs(baseline_dir: Path, run_dirs: list[Path], languages: list[str]) -> dict[str, dict]:
    """`compare` of each run folder against the baseline run folder, by run folder name."""
    reference = run_proportions(baseline_dir, languages)
    return {run.name: compare(run_proportions(run, languages), reference) for run in run_dirs}


def target_languages(run_dir: str | Path) -> list[str]:
    """The languages a run_xnlu.py run's MEAN is over (its target languages)."""
    results = json.loads((Path(run_dir) / "results.json").read_text())
    return list(
        results.get("mean_over")
        or [lang for lang in results["languages"] if lang not in results.get("train_languages", ["en"])]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "paths",
        nargs="+",
        help="a benchmarks/mtod_suite.py output folder, or a baseline run_xnlu.py "
        "folder followed by the run folders to compare with it",
    )
    parser.add_argument("--baseline", default="zero_shot", help="the suite's baseline run (suite folder only)")
    parser.add_argument(
        "--languages", nargs="+", help="default: es th for a suite, the baseline run's target languages otherwise"
    )
    parser.add_argument("--json", help="also write the comparisons to this file")
    args = parser.parse_args()
    if len(args.paths) == 1:
        baseline = args.baseline
        comparisons = compare_suite(args.paths[0], baseline, args.languages or ["es", "th"])
    else:
        baseline_dir, *run_dirs = (Path(path) for path in args.paths)
        baseline = baseline_dir.name
        comparisons = compare_runs(baseline_dir, run_dirs, args.languages or target_languages(baseline_dir))
    if args.json:
        Path(args.json).write_text(json.dumps(comparisons, indent=2) + "\n")
    print(significance_table(comparisons, baseline))


if __name__ == "__main__":
    main()
