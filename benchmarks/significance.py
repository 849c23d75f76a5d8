"""Is a method's difference from a baseline (Zero-Shot) significant? Two kinds of test, from the runs' prediction
files, per target language and on all target languages pooled:

- paired tests (the right ones: both runs score the same test examples; `benchmarks/paired_tests.py`): McNemar's
  exact test for intent accuracy and exact match, a paired bootstrap for slot F1 with the 95% interval of the
  difference;
- the paper's two-tailed z-test for the difference of two proportions (`xnlu_evaluation.two_proportion_z_test`),
  which treats the two runs' samples as independent (conservative here), for intent accuracy, exact match and exact
  spans (gold slot spans predicted exactly / gold spans, the per-span correctness behind F1; spurious predictions do
  not lower it), for comparison with the paper's tables.

Exact match: the intent and every slot span right. p < 0.01 (the paper's threshold) is marked `*`.

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
from benchmarks.paired_tests import concatenate, example_outcomes, mcnemar_test, paired_bootstrap_f1  # noqa: E402
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


def run_outcomes(run_dir: str | Path, languages: list[str]) -> dict[str, dict]:
    """`paired_tests.example_outcomes` per language of one run folder, plus the languages pooled."""
    files = prediction_files(run_dir)
    by_language = {lang: example_outcomes(read_predictions(files[lang])) for lang in languages}
    by_language[POOLED] = concatenate(list(by_language.values()))
    return by_language


def compare_paired(method: dict, baseline: dict) -> dict[str, dict[str, dict[str, float]]]:
    """Per language: McNemar's test of intent accuracy and exact match, the paired bootstrap of slot F1."""
    comparison = {}
    for lang, outcomes in method.items():
        reference = baseline[lang]
        comparison[lang] = {
            name: mcnemar_test(outcomes[name], reference[name]) for name in ("intent_accuracy", "exact_match")
        }
        comparison[lang]["slot_f1"] = paired_bootstrap_f1(outcomes["slot_counts"], reference["slot_counts"])
    return comparison


# test name -> (what is read from a run folder, how a run is compared with the baseline)
TESTS = {"paired": (run_outcomes, compare_paired), "paper": (run_proportions, compare)}


def paired_table(comparisons: dict[str, dict], baseline: str) -> str:
    """Markdown: one row per (method, language); McNemar's p for intent accuracy and exact match (with the counts of
    examples only one run gets right), the slot-F1 difference with its bootstrap interval and p."""
    header = (
        f"| method | language | intent acc vs {baseline} | method / baseline only right | p | exact match vs "
        f"{baseline} | method / baseline only right | p | slot F1 vs {baseline} | 95% interval | p |"
    )
    lines = [header, "|" + " --- |" * 11]
    for method, by_language in comparisons.items():
        for lang, tests in by_language.items():
            cells = []
            for name in ("intent_accuracy", "exact_match"):
                test = tests[name]
                cells += [_difference(test), f"{test['method_only']} / {test['baseline_only']}", _p_value(test["p"])]
            f1 = tests["slot_f1"]
            interval = f"[{100 * f1['low']:+.1f}, {100 * f1['high']:+.1f}]"
            cells += [_difference(f1), interval, _p_value(f1["p"])]
            lines.append(f"| {method} | {lang} | " + " | ".join(cells) + " |")
    lines.append(
        f"\n`*`: p < {THRESHOLD}. Intent accuracy and exact match: McNemar's exact test; slot F1: paired bootstrap "
        "over test examples (10,000 resamples, seed 0), percentile interval of the difference in points."
    )
    return "\n".join(lines)


def _difference(test: dict) -> str:
    mark = "*" if test["p"] < THRESHOLD else ""
    return f"{100 * test['method']:.1f} vs {100 * test['baseline']:.1f} ({100 * test['difference']:+.1f}){mark}"


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
    lines.append(
        f"\n`*`: p < {THRESHOLD} (the paper's test: two-tailed z-test for the difference of two proportions, the "
        "samples taken as independent)."
    )
    return "\n".join(lines)


def _p_value(p: float) -> str:
    return "<1e-6" if p < 1e-6 else f"{p:.2g}"


def compare_suite(suite_dir: str | Path, baseline: str, languages: list[str], test: str = "paired") -> dict[str, dict]:
    """`test` ("paired" or "paper") of every finished run in a suite folder (sub-folders with results.json) against
    the baseline run."""
    suite_dir = Path(suite_dir)
    runs = sorted(path.parent.name for path in suite_dir.glob("*/results.json"))
    if baseline not in runs:
        raise FileNotFoundError(f"no finished baseline run {suite_dir / baseline} (finished: {runs})")
    return compare_runs(suite_dir / baseline, [suite_dir / run for run in runs if run != baseline], languages, test)


def compare_runs(baseline_dir: Path, run_dirs: list[Path], languages: list[str], test: str = "paired") -> dict:
    """`test` ("paired" or "paper") of each run folder against the baseline run folder, by run folder name."""
    read, compare_run = TESTS[test]
    reference = read(baseline_dir, languages)
    return {run.name: compare_run(read(run, languages), reference) for run in run_dirs}


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
        baseline, suite = args.baseline, args.paths[0]
        comparisons = {test: compare_suite(suite, baseline, args.languages or ["es", "th"], test) for test in TESTS}
    else:
        baseline_dir, *run_dirs = (Path(path) for path in args.paths)
        baseline, languages = baseline_dir.name, args.languages or target_languages(baseline_dir)
        comparisons = {test: compare_runs(baseline_dir, run_dirs, languages, test) for test in TESTS}
    if args.json:
        Path(args.json).write_text(json.dumps(comparisons, indent=2) + "\n")
    print(f"## Paired tests\n\n{paired_table(comparisons['paired'], baseline)}\n")
    print(f"## The paper's z-test\n\n{significance_table(comparisons['paper'], baseline)}")


if __name__ == "__main__":
    main()
