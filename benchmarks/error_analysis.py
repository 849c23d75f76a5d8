"""Slot errors by kind, from a run's prediction files (`predictions_<lang>.jsonl` of run_xnlu.py).

The kinds follow section 6 of the CrossAligner paper, made mechanical (the paper's authors judged 700 errors by hand;
here every span is counted). Gold and predicted spans come from `tags_to_spans` (conlleval chunks). A gold span with an
identical predicted span (same type, same words) is correct; every other gold span is one error:

- boundary:  an overlapping predicted span has the right type but other words (more or fewer);
- semantics: a predicted span covers exactly its words with another type;
- both:      overlapping predicted spans only, each with the wrong type and other words;
- missed:    no predicted span overlaps it.

A predicted span that overlaps no gold span is a spurious error. Predicted spans that overlap a gold span are already
accounted for by that gold span's error, so no mistake is counted twice. When several predicted spans overlap one
gold span, the kind closest to correct wins (semantics, then boundary, then both).

    python benchmarks/error_analysis.py outputs/mtod_suite/crossaligner [--languages es th] [--top 5]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modeling_crossaligner import tags_to_spans  # noqa: E402
from reporting import prediction_files, read_predictions  # noqa: E402

KINDS = ("boundary", "semantics", "both", "missed", "spurious")


def _overlaps(a: tuple[str, int, int], b: tuple[str, int, int]) -> bool:
    return a[1] < b[2] and b[1] < a[2]


def span_outcomes(gold_tags: list[str], predicted_tags: list[str]) -> list[tuple[str, tuple, tuple | None]]:
    """(kind, gold span or None, predicted span or None) for every gold span and every spurious predicted span of one
    utterance; kind is "correct" or one of KINDS. Spans are (type, start_word, end_word_exclusive)."""
    gold, predicted = tags_to_spans(gold_tags), tags_to_spans(predicted_tags)
    outcomes = []
    for span in gold:
        overlapping = [p for p in predicted if _overlaps(span, p)]
        same_extent = [p for p in overlapping if p[1:] == span[1:]]
        same_type = [p for p in overlapping if p[0] == span[0]]
        if same_extent and same_extent[0][0] == span[0]:
            outcomes.append(("correct", span, same_extent[0]))
        elif same_extent:
            outcomes.append(("semantics", span, same_extent[0]))
        elif same_type:
            outcomes.append(("boundary", span, same_type[0]))
        elif overlapping:
            outcomes.append(("both", span, overlapping[0]))
        else:
            outcomes.append(("missed", span, None))
    outcomes += [("spurious", None, p) for p in predicted if not any(_overlaps(p, g) for g in gold)]
    return outcomes


def _text(words: list[str], span: tuple | None) -> str:
    return "" if span is None else " ".join(words[span[1] : span[2]])


def _example(kind: str, words: list[str], gold: tuple | None, predicted: tuple | None) -> str:
    """What the most-frequent lists count: the same mistake on the same words reads the same."""
    if kind == "missed":
        return f"[{_text(words, gold)}] {gold[0]} -> O"
    if kind == "spurious":
        return f"[{_text(words, predicted)}] O -> {predicted[0]}"
    if kind == "semantics":
        return f"[{_text(words, gold)}] {gold[0]} -> {predicted[0]}"
    return f"[{_text(words, gold)}] {gold[0]} -> [{_text(words, predicted)}] {predicted[0]}"


def analyse(records: list[dict], top: int = 5) -> dict:
    """Error counts of one language's prediction records: `gold_spans`, `correct`, `errors` (all kinds), per kind its
    `count` and `share` (of all errors), and `examples`: per kind the `top` most frequent (text, count)."""
    counts = Counter()
    examples = {kind: Counter() for kind in KINDS}
    gold_spans = type_sets_right = 0
    for record in records:
        words = record["words"]
        type_sets_right += {span[0] for span in tags_to_spans(record["gold_tags"])} == {
            span[0] for span in tags_to_spans(record["predicted_tags"])
        }
        for kind, gold, predicted in span_outcomes(record["gold_tags"], record["predicted_tags"]):
            gold_spans += gold is not None
            counts[kind] += 1
            if kind != "correct":
                examples[kind][_example(kind, words, gold, predicted)] += 1
    errors = sum(counts[kind] for kind in KINDS)
    return {
        "examples_scored": len(records),
        "type_sets_right": type_sets_right / len(records) if records else 0.0,
        "gold_spans": gold_spans,
        "correct": counts["correct"],
        "errors": errors,
        "kinds": {kind: {"count": counts[kind], "share": counts[kind] / errors if errors else 0.0} for kind in KINDS},
        "examples": {kind: examples[kind].most_common(top) for kind in KINDS},
    }


def analyse_run(run_dir: str | Path, languages: list[str] | None = None, top: int = 5) -> dict[str, dict]:
    """`analyse` of every prediction file of a run folder (or only `languages`'), by language."""
    files = prediction_files(run_dir)
    return {lang: analyse(read_predictions(files[lang]), top) for lang in (languages or sorted(files))}


def error_table(analyses: dict[str, dict[str, dict]]) -> str:
    """Markdown: one row per (run, language): the share of examples whose slot types are all right (the set of
    types predicted is the gold set, wherever the spans are: what CrossAligner trains), gold spans, correct, then
    count (share of errors) per kind."""
    lines = [
        "| run | language | slot-type sets right | gold spans | correct | errors | " + " | ".join(KINDS) + " |",
        "|" + " --- |" * (6 + len(KINDS)),
    ]
    for run, by_language in analyses.items():
        for lang, result in by_language.items():
            cells = [f"{result['kinds'][k]['count']} ({100 * result['kinds'][k]['share']:.0f}%)" for k in KINDS]
            lines.append(
                f"| {run} | {lang} | {100 * result['type_sets_right']:.1f}% | {result['gold_spans']} | "
                f"{result['correct']} | {result['errors']} | " + " | ".join(cells) + " |"
            )
    return "\n".join(lines)


def examples_table(by_language: dict[str, dict]) -> str:
    """Markdown: the most frequent errors of one run, per language and kind."""
    lines = ["| language | kind | most frequent errors (count) |", "| --- | --- | --- |"]
    for lang, result in by_language.items():
        for kind in KINDS:
            listed = "; ".join(f"`{text}` ({count})" for text, count in result["examples"][kind]) or "none"
            lines.append(f"| {lang} | {kind} | {listed.replace('|', '&#124;')} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", nargs="+", help="run_xnlu.py output folders")
    parser.add_argument("--languages", nargs="+", help="default: every predictions_<lang>.jsonl of the run")
    parser.add_argument("--top", type=int, default=5, help="most frequent errors listed per kind")
    args = parser.parse_args()
    analyses = {Path(run).name: analyse_run(run, args.languages, args.top) for run in args.run_dirs}
    print(error_table(analyses))
    for run, by_language in analyses.items():
        print(f"\n{run}:\n")
        print(examples_table(by_language))


if __name__ == "__main__":
    main()
