"""One process of the 2-process CPU (gloo) training test: `torchrun --nproc_per_node 2 tests/ddp_worker.py OUT_DIR`.

Each rank trains the tiny model with CrossAligner + XeroAlignIO under CoV and writes OUT_DIR/rank<r>.json with its
log history and, per optimisation step, its own (local) loss values and the process-averaged values CoV received.
"""

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import torch.distributed as dist  # noqa: E402

from tiny_models import build_tiny_tokenizer  # noqa: E402
from trainer_helpers import make_trainer, pair_dataset  # noqa: E402


def main(output_dir: Path) -> None:
    tokenizer = build_tiny_tokenizer()
    trainer = make_trainer(output_dir / "run", train_dataset=pair_dataset(tokenizer, count=32), tokenizer=tokenizer,
                           alignment=["crossaligner", "xeroalign"], weighting="cov", max_steps=5)
    local, reduced = [], []
    reduce = trainer.reduce_across_processes

    def recording_reduce(values):
        local.append(values.tolist())
        reduced.append(reduce(values).tolist())
        return reduce(values)

    trainer.reduce_across_processes = recording_reduce
    trainer.train()
    record = {
        "rank": dist.get_rank(),
        "world_size": dist.get_world_size(),
        "num_processes": trainer.accelerator.num_processes,
        "loss_names": trainer.loss_names,
        "local": local,
        "reduced": reduced,
        "log_history": trainer.state.log_history,
    }
    (output_dir / f"rank{record['rank']}.json").write_text(json.dumps(record))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
    # Skip the interpreter's teardown: in about one run in six under pytest, a native thread left by the libraries
    # aborted it ("terminate called without an active exception") after everything above had finished.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
