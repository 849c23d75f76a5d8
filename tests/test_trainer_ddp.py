"""Two real CPU processes (torchrun, gloo): CoV weights come from process-averaged losses, identical on every rank."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from test_trainer_losses import reference_cov_weights

WORKER = Path(__file__).with_name("ddp_worker.py")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_processes_use_the_same_cov_weights_from_reduced_losses(tmp_path):
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(_free_port()), str(WORKER), str(tmp_path)]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
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
        {name: [entry[f"{name[:-5]}_weight"] for entry in r["log_history"] if "loss" in entry] for name in
         (names[i] for i in aux)}
        for r in ranks
    ]
    assert weights[0] == weights[1]
    for index in aux:
        name = names[index]
        # The weights are those a single-process CoV computes from the reduced values, not from one rank's own.
        np.testing.assert_allclose(weights[0][name], reference_cov_weights(reduced[0][:, index]), rtol=1e-6)
        assert not np.allclose(weights[0][name][2:], reference_cov_weights(local[0][:, index])[2:], rtol=1e-3)
