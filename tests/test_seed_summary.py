"""A suite over several seeds: per-seed folders, mean ± sd tables, paired tests per seed, the error-bar chart."""

import pytest
from test_benchmarks import GOLD, write_run

from benchmarks import mtod_suite, seed_summary

MISSED = ["O", "O", "O", "O", "B-party", "O", "B-time", "O", "O"]


def write_seed(folder, aligned_intents_right: int, aligned_f1: float) -> None:
    """A baseline, Target Language and an aligned run of one seed, 20 test examples per language."""
    write_run(
        folder / "zero_shot",
        [MISSED] * 20,
        [True] * 10 + [False] * 10,
        scores={"intent_accuracy": 0.5, "slot_f1": 0.6, "exact_match": 0.0, "overall": 0.55},
    )
    write_run(
        folder / "target_language",
        [GOLD] * 20,
        [True] * 20,
        scores={"intent_accuracy": 1.0, "slot_f1": 1.0, "exact_match": 1.0, "overall": 1.0},
    )
    accuracy = aligned_intents_right / 20
    write_run(
        folder / "crossaligner",
        [GOLD] * 20,
        [True] * aligned_intents_right + [False] * (20 - aligned_intents_right),
        scores={"intent_accuracy": accuracy, "slot_f1": aligned_f1, "exact_match": accuracy, "overall": 0.5},
    )


def test_seed_summary_reports_mean_spread_gap_and_tests_per_seed(tmp_path):
    write_seed(tmp_path / "seed1", aligned_intents_right=20, aligned_f1=0.8)
    write_seed(tmp_path / "seed2", aligned_intents_right=12, aligned_f1=1.0)
    (tmp_path / "seed3").mkdir()  # a seed whose runs have not started: no scores, no tests
    (tmp_path / "logs").mkdir()
    assert list(seed_summary.seed_folders(tmp_path)) == [1, 2, 3]

    text = seed_summary.write_seed_summary(tmp_path, mtod_suite.METHODS, "zero_shot", "target_language", ["es", "th"])
    assert text == (tmp_path / "seeds.md").read_text().rstrip("\n")
    # Intent accuracy 100 and 60: mean 80, sd 28.3; slot F1 80 and 100: 90 ± 14.1; gap closed (90 - 60) / (100 - 60).
    assert (
        "| CrossAligner | 2 | 80.0 ± 28.3 | 90.0 ± 14.1 | 80.0 ± 28.3 | 90.0 ± 14.1 | 80.0 ± 28.3 | 90.0 ± 14.1 | 75% |"
        in text
    )
    assert "| Zero-Shot | 2 | 50.0 ± 0.0 | 60.0 ± 0.0 |" in text
    # Paired tests on the pooled prediction files, one per seed: 40 examples per seed, 20 and 4 more right intents
    # (McNemar p = 2 / 2**20 and 2 / 2**4 = 0.125): significant with one seed of two.
    assert "| CrossAligner | +50.0, +10.0 | +30.0 ± 28.3 | 1 of 2 |" in text
    assert "## Scores over seeds 1, 2, 3" in text
    assert (tmp_path / "seeds.png").stat().st_size > 0


def test_seed_summary_needs_seed_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="no seed<k> suite folders"):
        seed_summary.write_seed_summary(tmp_path, mtod_suite.METHODS, "zero_shot", "target_language", ["es"])


def test_suite_with_seeds_runs_each_seed_in_its_folder(tmp_path, capsys):
    mtod_suite.run_suite(
        ["--output_dir", str(tmp_path), "--seeds", "1", "2", "--methods", "zero_shot", "--print_commands"]
    )
    commands = [line for line in capsys.readouterr().out.splitlines() if "run_xnlu.py" in line]
    assert len(commands) == 2
    for seed, command in zip((1, 2), commands):
        assert f"--seed {seed} " in command and f"--output_dir {tmp_path / f'seed{seed}' / 'zero_shot'}" in command
