"""The benchmark suite's own logic: error kinds, significance tests, the MTOD comparison report, memory sampling."""

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks import error_analysis, mtod_suite, significance
from benchmarks.padding_and_memory import PeakMemory
from reporting import write_predictions
from xnlu_evaluation import two_proportion_z_test

REPO_ROOT = Path(__file__).resolve().parents[1]
WORDS = "book a table for two at eight in paris".split()
GOLD = ["O", "O", "O", "O", "B-party", "O", "B-time", "O", "B-city"]


@pytest.mark.parametrize(
    "predicted, kinds",
    [
        (GOLD, ["correct", "correct", "correct"]),
        # right type, one word too many: boundary
        (["O", "O", "O", "B-party", "I-party", "O", "B-time", "O", "B-city"], ["boundary", "correct", "correct"]),
        # same words, other type: semantics
        (["O", "O", "O", "O", "B-time", "O", "B-time", "O", "B-city"], ["semantics", "correct", "correct"]),
        # other type and other words: both
        (["O", "O", "O", "O", "B-party", "B-city", "I-city", "O", "B-city"], ["correct", "both", "correct"]),
        # nothing predicted for paris: missed; "table" predicted out of nowhere: spurious
        (["O", "O", "B-party", "O", "B-party", "O", "B-time", "O", "O"], ["correct", "correct", "missed", "spurious"]),
    ],
)
def test_span_outcomes_kinds(predicted, kinds):
    assert [kind for kind, _, _ in error_analysis.span_outcomes(GOLD, predicted)] == kinds


def test_no_mistake_is_counted_twice():
    # One predicted span covering two gold spans of its type: two boundary errors, no spurious span.
    predicted = ["O", "O", "O", "O", "B-party", "I-party", "I-party", "O", "O"]
    gold = ["O", "O", "O", "O", "B-party", "O", "B-party", "O", "O"]
    assert [k for k, _, _ in error_analysis.span_outcomes(gold, predicted)] == ["boundary", "boundary"]


def records(predicted_tags: list[list[str]], intents_right: list[bool]) -> list[dict]:
    return [
        {
            "id": str(i),
            "words": WORDS,
            "gold_intent": "book",
            "predicted_intent": "book" if right else "other",
            "gold_tags": GOLD,
            "predicted_tags": tags,
        }
        for i, (tags, right) in enumerate(zip(predicted_tags, intents_right))
    ]


def test_analyse_counts_shares_and_examples():
    semantics = ["O", "O", "O", "O", "B-time", "O", "B-time", "O", "B-city"]
    missed = ["O", "O", "O", "O", "B-party", "O", "B-time", "O", "O"]
    result = error_analysis.analyse(records([GOLD, semantics, semantics, missed], [True] * 4), top=1)
    assert result["gold_spans"] == 12 and result["correct"] == 9 and result["errors"] == 3
    assert result["kinds"]["semantics"] == {"count": 2, "share": pytest.approx(2 / 3)}
    assert result["kinds"]["missed"]["count"] == 1 and result["kinds"]["boundary"]["count"] == 0
    assert result["examples"]["semantics"] == [("[two] party -> time", 2)]
    assert result["examples"]["missed"] == [("[paris] city -> O", 1)]


def write_run(run_dir: Path, predicted_tags, intents_right, languages=("es", "th"), scores=None) -> None:
    run_dir.mkdir(parents=True)
    for lang in languages:
        write_predictions(run_dir / f"predictions_{lang}.jsonl", records(predicted_tags, intents_right))
    scores = scores or {"intent_accuracy": 0.5, "slot_f1": 0.5, "exact_match": 0.25, "overall": 0.5}
    results = {"languages": {lang: {**scores, "num_examples": len(predicted_tags)} for lang in languages}}
    (run_dir / "results.json").write_text(json.dumps(results))


def test_significance_matches_the_z_test(tmp_path):
    missed = ["O", "O", "O", "O", "B-party", "O", "B-time", "O", "O"]
    write_run(tmp_path / "zero_shot", [missed] * 100, [True] * 60 + [False] * 40)
    write_run(tmp_path / "crossaligner", [GOLD] * 100, [True] * 90 + [False] * 10)
    comparisons = significance.compare_suite(tmp_path, "zero_shot", ["es", "th"], test="paper")
    intent = comparisons["crossaligner"]["es"]["intent_accuracy"]
    z, p = two_proportion_z_test(0.9, 100, 0.6, 100)
    assert (intent["z"], intent["p"], intent["n"]) == (pytest.approx(z), pytest.approx(p), 100)
    spans = comparisons["crossaligner"]["pooled"]["exact_spans"]
    assert (spans["method"], spans["baseline"], spans["n"]) == (1.0, pytest.approx(2 / 3), 600)
    table = significance.significance_table(comparisons, "zero_shot")
    assert "| crossaligner | es | 90.0 vs 60.0 (+30.0)*" in table


def test_significance_needs_the_baseline_run(tmp_path):
    write_run(tmp_path / "crossaligner", [GOLD], [True])
    with pytest.raises(FileNotFoundError, match="zero_shot"):
        significance.compare_suite(tmp_path, "zero_shot", ["es"])


def test_suite_report_from_finished_runs(tmp_path, capsys):
    missed = ["O", "O", "O", "O", "B-party", "O", "B-time", "O", "O"]
    write_run(
        tmp_path / "zero_shot",
        [missed] * 10,
        [True] * 8 + [False] * 2,
        scores={"intent_accuracy": 0.8, "slot_f1": 0.6, "exact_match": 0.0, "overall": 0.7},
    )
    write_run(
        tmp_path / "crossaligner",
        [GOLD] * 10,
        [True] * 7 + [False] * 3,
        scores={"intent_accuracy": 0.7, "slot_f1": 1.0, "exact_match": 0.7, "overall": 0.85},
    )
    (tmp_path / "runs.json").write_text(json.dumps({"runs": {"zero_shot": {"wall_seconds": 90}}}))
    mtod_suite.write_comparison(tmp_path, ["es", "th"])
    report = (tmp_path / "comparison.md").read_text()
    assert "| Zero-Shot | 80.0 / 60.0 | 80.0 / 60.0 | 80.0 / 60.0 | 70.0 | 94.1 / 75.1 | 1.5 min |" in report
    assert "| CrossAligner | 70.0 / 100.0 | 70.0 / 100.0 | 70.0 / 100.0 | 85.0 | 95.3 / 78.8 | ? |" in report
    assert "| CrossAligner | -10.0 | +1.2 | +40.0 | +3.7 |" in report  # gains here and in the paper
    assert "- [x] CrossAligner beats Zero-Shot on MEAN slot F1 (+40.0)" in report
    assert "- [ ] CrossAligner is not below Zero-Shot on MEAN intent accuracy (-10.0)" in report
    assert "## Paired tests against Zero-Shot" in report and "## The paper's z-test against Zero-Shot" in report
    assert "| CrossAligner | pooled |" in report
    assert "| Zero-Shot | es | 0.0% | 30 | 20 | 10 | 0 (0%) | 0 (0%) | 0 (0%) | 10 (100%) | 0 (0%) |" in report
    assert "`[paris] city -> O` (10)" in (tmp_path / "errors.md").read_text()
    assert (tmp_path / "comparison.png").stat().st_size > 0


def test_significance_tests_exact_match(tmp_path):
    missed = ["O", "O", "O", "O", "B-party", "O", "B-time", "O", "O"]
    write_run(tmp_path / "zero_shot", [missed] * 50 + [GOLD] * 50, [True] * 100)
    write_run(tmp_path / "aligned", [GOLD] * 100, [True] * 80 + [False] * 20)
    exact = significance.compare_suite(tmp_path, "zero_shot", ["es"], test="paper")["aligned"]["es"]["exact_match"]
    # Exact match needs the intent and every span right: 80 of 100 against 50 of 100.
    assert (exact["method"], exact["baseline"], exact["n"]) == (0.8, 0.5, 100)


def test_projection_methods_are_compared_with_the_strongest_paper_method(tmp_path):
    """Beyond the paper: the share of the Zero-Shot to Target Language slot-F1 gap closed, the intent accuracy
    against XeroAlignIO + CrossAligner (CoV), and z-tests against it."""
    missed = ["O", "O", "O", "O", "B-party", "O", "B-time", "O", "O"]
    runs = {  # name: (predicted tags, intents right, scores)
        "zero_shot": ([missed] * 10, [True] * 8 + [False] * 2, (0.8, 0.6)),
        "target_language": ([GOLD] * 10, [True] * 10, (1.0, 1.0)),
        "xeroalign_crossaligner_cov": ([missed] * 10, [True] * 9 + [False], (0.9, 0.7)),
        "projection": ([GOLD] * 10, [True] * 9 + [False], (0.9, 0.9)),
    }
    for name, (tags, intents, (accuracy, f1)) in runs.items():
        write_run(
            tmp_path / name,
            tags,
            intents,
            scores={"intent_accuracy": accuracy, "slot_f1": f1, "exact_match": 0.5, "overall": (accuracy + f1) / 2},
        )
    mtod_suite.write_comparison(tmp_path, ["es", "th"])
    report = (tmp_path / "comparison.md").read_text()
    assert "| Projection | +10.0 | n/a | +30.0 | n/a | 75% |" in report  # (0.9 - 0.6) / (1.0 - 0.6)
    assert "- [x] Projection closes at least half of the Zero-Shot to Target Language slot-F1 gap (75%)" in report
    assert "- [x] Projection is not below XeroAlignIO + CrossAligner (CoV) on MEAN intent accuracy (+0.0)" in report
    assert "## The paper's z-test: the methods beyond the paper against XeroAlignIO + CrossAligner (CoV)" in report
    assert "| Projection | pooled | 90.0 vs 90.0 (+0.0)" in report


def test_suite_commands_share_budget_and_seed(tmp_path, capsys):
    mtod_suite.run_suite(
        ["--output_dir", str(tmp_path), "--max_train_samples", "100", "--print_commands", "--learning_rate", "5e-5"]
    )
    printed = capsys.readouterr().out
    commands = [line for line in printed.splitlines() if "run_xnlu.py" in line]
    assert len(commands) == len(mtod_suite.PAPER_METHODS)  # the projection methods run on request
    for command in commands:
        for option in (
            "--max_train_samples 100",
            "--seed 42",
            "--learning_rate 5e-5",
            "--target_languages es th",
            "--per_device_train_batch_size 32",  # what the suite measured with, whatever the encoder's default
            "--head_learning_rate 2e-3",
        ):
            assert option in command
    assert "--train_languages target --one_model_per_language true" in printed
    assert "--alignment xeroalign crossaligner --weighting cov --one_model_per_language true" in printed
    assert "--alignment crossaligner --one_model_per_language true" in printed


def test_interrupted_run_resumes_or_restarts(tmp_path):
    run_dir = tmp_path / "crossaligner"
    assert mtod_suite._resume_options(run_dir) == []
    run_dir.mkdir()
    (run_dir / "logs.txt").write_text("partial")
    assert mtod_suite._resume_options(run_dir) == ["--overwrite_output_dir", "true"]
    (run_dir / "checkpoint-10").mkdir()
    assert mtod_suite._resume_options(run_dir) == ["--resume_from_checkpoint", "last"]


@pytest.mark.parametrize("kernel_peak", [True, False], ids=["kernel high-water mark", "sampling thread"])
def test_peak_memory_sees_a_temporary_allocation(kernel_peak, monkeypatch, tmp_path):
    if not kernel_peak:
        monkeypatch.setattr(PeakMemory, "CLEAR_REFS", tmp_path / "missing" / "clear_refs")
    elif not PeakMemory.CLEAR_REFS.exists():
        pytest.skip("no /proc/self/clear_refs here")
    with PeakMemory() as memory:
        block = bytearray(200 * 2**20)
        block[::4096] = b"x" * math.ceil(len(block) / 4096)  # touch every page so it is resident
        time.sleep(0.05)  # long enough for the sampling fallback, where the kernel's peak is not available
        del block
    assert memory.kernel_peak == kernel_peak and memory.peak - memory.before > 150 * 2**20


@pytest.mark.slow
def test_suite_end_to_end_on_mtod(mtod_dir, tiny_encoder, tmp_path):
    """Three methods of the paper's protocol on a sliver of real MTOD, with a tiny encoder (the plumbing, not the
    scores): the runs, one model per target language where the protocol says so, then the report with every section."""
    command = [
        sys.executable,
        str(REPO_ROOT / "benchmarks" / "mtod_suite.py"),
        "--output_dir",
        str(tmp_path),
        "--data_dir",
        str(mtod_dir),
        "--methods",
        "zero_shot",
        "target_language",
        "crossaligner",
        "--max_train_samples",
        "64",
        "--num_train_epochs",
        "1",
        "--max_predict_samples",
        "40",
        "--per_device_train_batch_size",
        "16",
        "--model_name_or_path",
        str(tiny_encoder),
        "--max_seq_length",
        "32",
    ]
    completed = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    runs = json.loads((tmp_path / "runs.json").read_text())["runs"]
    assert {name: run["returncode"] for name, run in runs.items()} == {
        "zero_shot": 0,
        "target_language": 0,
        "crossaligner": 0,
    }
    report = (tmp_path / "comparison.md").read_text()
    for section in ("## Results", "## Gain over Zero-Shot", "## Expectations", "## Paired tests", "## Slot errors"):
        assert section in report
    results = json.loads((tmp_path / "crossaligner" / "results.json").read_text())
    assert results["languages"]["th"]["num_examples"] == 40 and results["alignment"] == ["crossaligner"]
    assert results["protocol"] == "one model per target language" and results["training_pairs"] == {"es": 64, "th": 64}
    assert results["weighting"] == "sum"
    target = json.loads((tmp_path / "target_language" / "th" / "results.json").read_text())
    assert target["train_languages"] == ["th"] and target["epochs"] == 2.0  # twice the aligned runs' epochs
    again = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert again.stdout.count("done before, skipped") == 3


def test_significance_command_on_two_run_folders(tmp_path):
    missed = ["O", "O", "O", "O", "B-party", "O", "B-time", "O", "O"]
    write_run(tmp_path / "zero_shot", [missed] * 50, [True] * 25 + [False] * 25, languages=("de",))
    write_run(tmp_path / "aligned", [GOLD] * 50, [True] * 45 + [False] * 5, languages=("de",))
    assert significance.target_languages(tmp_path / "zero_shot") == ["de"]
    completed = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "benchmarks" / "significance.py"),
            str(tmp_path / "zero_shot"),
            str(tmp_path / "aligned"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "| aligned | de | 90.0 vs 50.0 (+40.0)*" in completed.stdout
