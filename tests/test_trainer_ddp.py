"""Two real CPU processes (torchrun, gloo) against one process with the same global batch: CoV weights come from
process-averaged losses and are identical on every rank, both ranks end with identical parameters, and those are the
single process's (within float tolerance)."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from test_trainer_losses import reference_cov_weights
from tiny_models import build_tiny_tokenizer
from trainer_helpers import tiny_model

WORKER = Path(__file__).with_name("ddp_worker.py")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("ddp")
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    commands = [
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            str(_free_port()),
            str(WORKER),
            str(output_dir),
        ],
        [sys.executable, str(WORKER), str(output_dir), "--single"],
    ]
    for command in commands:
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    records = {name: json.loads((output_dir / f"{name}.json").read_text()) for name in ("rank0", "rank1", "single")}
    weights = {name: load_file(output_dir / f"{name}.safetensors") for name in records}
    return records, weights


@pytest.mark.slow
def test_two_processes_use_the_same_cov_weights_from_reduced_losses(runs):
    records, _ = runs
    ranks = [records["rank0"], records["rank1"]]
    assert [(r["rank"], r["world_size"], r["num_processes"]) for r in ranks] == [(0, 2, 2), (1, 2, 2)]
    names = ranks[0]["loss_names"]
    aux = [index for index, name in enumerate(names) if name not in ("intent_loss", "slot_loss")]

    local = [np.array(r["local"]) for r in ranks]
    reduced = [np.array(r["reduced"]) for r in ranks]
    assert len(local[0]) == 5
    # Each rank trained on its own shard, and CoV received the mean over both ranks, the same on each.
    assert not np.allclose(local[0], local[1])
    np.testing.assert_allclose(reduced[0], reduced[1], rtol=0, atol=0)
    np.testing.assert_allclose(reduced[0], (local[0] + local[1]) / 2, rtol=1e-6)

    weights = [
        {
            name: [entry[f"{name[:-5]}_weight"] for entry in r["log_history"] if "loss" in entry]
            for name in (names[i] for i in aux)
        }
        for r in ranks
    ]
    assert weights[0] == weights[1]
    for index in aux:
        name = names[index]
        # The weights are those a single-process CoV computes from the reduced values, not from one rank's own.
        np.testing.assert_allclose(weights[0][name], reference_cov_weights(reduced[0][:, index]), rtol=1e-6)
        assert not np.allclose(weights[0][name][2:], reference_cov_weights(local[0][:, index])[2:], rtol=1e-3)


@pytest.mark.slow
def test_both_ranks_end_with_the_parameters_of_one_process_on_the_same_global_batch(runs):
    records, weights = runs
    assert weights["rank0"].keys() == weights["single"].keys()
    for name, value in weights["rank0"].items():
        torch.testing.assert_close(weights["rank1"][name], value, rtol=0, atol=0, msg=name)
        torch.testing.assert_close(value, weights["single"][name], rtol=1e-4, atol=1e-5, msg=name)
    # The single process saw the same losses as the two processes together, step by step.
    np.testing.assert_allclose(
        np.array(records["single"]["local"]), np.array(records["rank0"]["reduced"]), rtol=1e-4, atol=1e-6
    )
    # Training moved the parameters: the equality above is not that of an untouched model.
    initial = tiny_model(build_tiny_tokenizer()).state_dict()
    moved = [name for name, value in weights["single"].items() if not torch.allclose(value, initial[name], atol=1e-4)]
    assert "intent_classifier.weight" in moved and "crossaligner_head.weight" in moved
