"""One process of the 2-process CPU (gloo) training test, or the single-process run it is compared with:

    torchrun --nproc_per_node 2 tests/ddp_worker.py OUT_DIR      # writes OUT_DIR/rank<r>.json and rank<r>.safetensors
    python tests/ddp_worker.py OUT_DIR --single                  # the same global batch in one process: single.*

Each trains the tiny model (dropout off; SGD, no clipping) with CrossAligner + XeroAlignIO under CoV on examples that
all have six words, so that every process's mean slot loss is over the same number of labelled tokens and the
processes' averaged gradients are the single process's gradients. The record holds the log history and, per
optimisation step, the process's own (local) loss values and the process-averaged values CoV received.
"""

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import torch.distributed as dist  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from tiny_models import INTENTS, SLOT_LABELS, build_tiny_tokenizer  # noqa: E402
from trainer_helpers import MAX_SEQ_LENGTH, english_examples, make_trainer, translations  # noqa: E402

from data.encoding import encode_pairs  # noqa: E402

PER_DEVICE_BATCH, PROCESSES, STEPS = 4, 2, 5
SIX_WORDS = ("wake me up at nine am", "what is the weather in boston", "remind me to call mom tomorrow")


def six_word_pairs(tokenizer):
    english = english_examples(200, seed=0)
    english = english.filter(lambda row: " ".join(row["words"]) in SIX_WORDS).select(range(40))
    return encode_pairs(english, {"es": translations(english, seed=1)}, tokenizer, INTENTS, SLOT_LABELS, MAX_SEQ_LENGTH)


def main(output_dir: Path, single: bool) -> None:
    tokenizer = build_tiny_tokenizer()
    trainer = make_trainer(
        output_dir / "run",
        train_dataset=six_word_pairs(tokenizer),
        tokenizer=tokenizer,
        alignment=["crossaligner", "xeroalign"],
        weighting="cov",
        max_steps=STEPS,
        per_device_train_batch_size=PER_DEVICE_BATCH * (PROCESSES if single else 1),
        # Plain SGD without clipping: an update proportional to the gradient, so that a wrongly scaled loss or
        # gradient shows in the parameters (Adam and clipping would normalise it away).
        optim="sgd",
        learning_rate=0.1,
        max_grad_norm=0.0,
        model_overrides=dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout=0.0),
    )
    local, reduced = [], []
    reduce = trainer.reduce_across_processes

    def recording_reduce(values):
        local.append(list(values.values()))
        reduced.append(list(reduce(values).values()))
        return reduce(values)

    trainer.reduce_across_processes = recording_reduce
    trainer.train()
    name = "single" if single else f"rank{dist.get_rank()}"
    record = {
        "rank": 0 if single else dist.get_rank(),
        "world_size": 1 if single else dist.get_world_size(),
        "num_processes": trainer.accelerator.num_processes,
        "loss_names": trainer.loss_names,
        "local": local,
        "reduced": reduced,
        "log_history": trainer.state.log_history,
    }
    (output_dir / f"{name}.json").write_text(json.dumps(record))
    save_file(
        {key: value.contiguous() for key, value in trainer.model.state_dict().items()},
        str(output_dir / f"{name}.safetensors"),
    )
    if not single:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]), "--single" in sys.argv[2:])
    # Skip the interpreter's teardown: in about one run in six under pytest, a native thread left by the libraries
    # aborted it ("terminate called without an active exception") after everything above had finished.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
