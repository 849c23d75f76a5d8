"""Time per training step of each alignment setting relative to Zero-Shot, on the same batches (CPU).

Model: a randomly initialised XLM-R of the embedded encoder's size (12 layers, hidden 384, 12 heads, intermediate
1536) with a small vocabulary to save memory; batches of 32 pairs with MTOD-like lengths (10-15 tokens each side).
A step is Trainer's `training_step` (forward, losses, backward) plus clipping and the optimiser step. All settings
run each batch one after the other, and each reports the median over batches of its time relative to Zero-Shot's on
the same batch, so that load from other processes (this is a shared machine) hits every setting alike; each
(setting, batch) is timed `--repeats` times (the model trains on the batch again each time) and the fastest kept.

`--compare-calls` also times `forward_pairs` done as two model calls (English, then translation) against the
trainer's single concatenated call.

    python benchmarks/train_step_speed.py [--steps 8] [--warmup 2] [--repeats 3] [--threads 1] [--compare-calls]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import datasets
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crossaligner_config import CrossAlignerTrainingArguments  # noqa: E402
from modeling_crossaligner import (  # noqa: E402
    JointXNLUOutput,
    XLMRobertaForJointXNLU,
    XLMRobertaJointXNLUConfig,
)
from trainer_crossaligner import CrossAlignerTrainer, PairOutputs  # noqa: E402
from xnlu_batching import XNLUDataCollator  # noqa: E402

VOCAB, PAD = 8000, 1
INTENTS = [f"intent_{i}" for i in range(12)]
SLOTS = ["O"] + [f"slot_{i}" for i in range(10)]
MAX_SEQ_LENGTH = 50
SETTINGS = [
    ("none", "cov"),
    ("crossaligner", "cov"),
    ("xeroalign", "cov"),
    ("contrastive", "cov"),
    ("translate_intent", "cov"),
    ("crossaligner,xeroalign", "cov"),
    ("crossaligner,xeroalign", "sum"),
    ("crossaligner,xeroalign,contrastive,translate_intent", "cov"),
    ("projection", "sum"),
    ("projection,crossaligner", "cov"),
    ("projection,xeroalign", "cov"),
]


def pair_dataset(rows: int, seed: int = 0) -> datasets.Dataset:
    generator = torch.Generator().manual_seed(seed)

    def sentence():
        length = int(torch.randint(10, 16, (1,), generator=generator))
        return [0] + torch.randint(5, VOCAB, (length - 2,), generator=generator).tolist() + [2]

    data = []
    for _ in range(rows):
        english, translation = sentence(), sentence()
        slots = [-100] + torch.randint(0, len(SLOTS), (len(english) - 2,), generator=generator).tolist() + [-100]
        targets = [0.0] * len(SLOTS)
        for label in slots:
            if label >= 0:
                targets[label] = 1.0
        data.append(
            {
                "input_ids": english,
                "attention_mask": [1] * len(english),
                "slot_labels": slots,
                "intent_labels": int(torch.randint(0, len(INTENTS), (1,), generator=generator)),
                "translation_input_ids": translation,
                "translation_attention_mask": [1] * len(translation),
                "crossaligner_targets": targets,
                # One word per English token and one unit per translation token (what projection aligns).
                "word_token_index": list(range(1, len(english) - 1)),
                "translation_unit_heads": list(range(1, len(translation) - 1)),
            }
        )
    return datasets.Dataset.from_list(data)


def model() -> XLMRobertaForJointXNLU:
    torch.manual_seed(0)
    config = XLMRobertaJointXNLUConfig(
        vocab_size=VOCAB,
        hidden_size=384,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=1536,
        max_position_embeddings=MAX_SEQ_LENGTH + 2,
        type_vocab_size=1,
        pad_token_id=PAD,
        intent_labels=INTENTS,
        slot_labels=SLOTS,
        max_seq_length=MAX_SEQ_LENGTH,
    )
    return XLMRobertaForJointXNLU(config)


class TwoCallTrainer(CrossAlignerTrainer):
    """English and translation through the model in two calls; outputs laid out as the one-call version's."""

    def forward_pairs(self, model, inputs):
        english = model(
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            intent_labels=inputs["intent_labels"],
            slot_labels=inputs["slot_labels"],
        )
        translation = model(
            input_ids=inputs["translation_input_ids"], attention_mask=inputs["translation_attention_mask"]
        )
        length = max(english.slot_logits.shape[1], translation.slot_logits.shape[1])

        def pad_rows(logits):
            return torch.nn.functional.pad(logits, (0, 0, 0, length - logits.shape[1]))

        outputs = JointXNLUOutput(
            loss=english.loss,
            intent_loss=english.intent_loss,
            slot_loss=english.slot_loss,
            intent_logits=torch.cat([english.intent_logits, translation.intent_logits]),
            slot_logits=torch.cat([pad_rows(english.slot_logits), pad_rows(translation.slot_logits)]),
            pooled_output=torch.cat([english.pooled_output, translation.pooled_output]),
        )
        return PairOutputs(outputs=outputs, batch_size=inputs["input_ids"].shape[0])


def make_trainer(
    trainer_class, alignment: str, weighting: str, output_dir: str, joint_model: XLMRobertaForJointXNLU | None = None
) -> CrossAlignerTrainer:
    """A trainer ready for `timed_step` (run_xnlu.py's learning rates), on `joint_model` or a fresh `model()`."""
    args = CrossAlignerTrainingArguments(
        output_dir=output_dir,
        alignment=alignment,
        weighting=weighting,
        per_device_train_batch_size=32,
        learning_rate=1e-4,
        head_learning_rate=2e-3,
        report_to="none",
        use_cpu=True,
        seed=0,
    )
    trainer = trainer_class(
        model=joint_model or model(), args=args, data_collator=XNLUDataCollator(SimpleNamespace(pad_token_id=PAD))
    )
    trainer.create_optimizer_and_scheduler(num_training_steps=1000)
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer's training loop, which we bypass
    return trainer


def time_projection(trainer: CrossAlignerTrainer) -> None:
    """Accumulate in `trainer.projection_seconds` the time its projection (word alignment and tag projection, done
    without gradients) takes: the part of the step that is the alignment itself rather than the model."""
    trainer.projection_seconds = 0.0
    project_pairs = trainer.project_pairs

    def timed(*args, **kwargs):
        start = time.perf_counter()
        result = project_pairs(*args, **kwargs)
        trainer.projection_seconds += time.perf_counter() - start
        return result

    trainer.project_pairs = timed


def timed_step(trainer: CrossAlignerTrainer, batch: dict[str, torch.Tensor]) -> float:
    """One optimisation step as Trainer's loop does it: forward + backward (training_step), clip, step, zero."""
    start = time.perf_counter()
    trainer.training_step(trainer.model, batch)
    torch.nn.utils.clip_grad_norm_(trainer.model.parameters(), 1.0)
    trainer.optimizer.step()
    trainer.lr_scheduler.step()
    trainer.model.zero_grad()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per setting")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="timings per setting and batch; the fastest is kept")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1: OpenMP threads spinning on a shared, busy machine distort timings)",
    )
    parser.add_argument("--compare-calls", action="store_true")
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    datasets.disable_progress_bars()
    runs = [(CrossAlignerTrainer, alignment, weighting) for alignment, weighting in SETTINGS]
    if options.compare_calls:
        runs += [(TwoCallTrainer, "crossaligner,xeroalign", "cov"), (TwoCallTrainer, "xeroalign", "cov")]
    collator = XNLUDataCollator(SimpleNamespace(pad_token_id=PAD))
    dataset = pair_dataset(32 * (options.warmup + options.steps))
    batches = [collator([dataset[i] for i in range(start, start + 32)]) for start in range(0, len(dataset), 32)]

    with tempfile.TemporaryDirectory() as output_dir:
        trainers = {run: make_trainer(*run, output_dir) for run in runs}
        for trainer in trainers.values():
            time_projection(trainer)
        # Every setting runs batch b right after the others ran it: load from other processes hits all settings
        # alike, and each setting's time is compared with Zero-Shot's on the same batch at (nearly) the same time.
        ratios: dict[tuple, list[float]] = {run: [] for run in runs}
        seconds: dict[tuple, list[float]] = {run: [] for run in runs}
        projection_seconds: dict[tuple, list[float]] = {run: [] for run in runs}
        for index, batch in enumerate(batches):
            step = {run: math.inf for run in runs}
            projecting = {run: math.inf for run in runs}
            for _ in range(options.repeats):
                for run, trainer in trainers.items():
                    # Interference from other processes only ever adds time: keep the fastest repeat.
                    trainer.projection_seconds = 0.0
                    step[run] = min(step[run], timed_step(trainer, batch))
                    projecting[run] = min(projecting[run], trainer.projection_seconds)
            if index >= options.warmup:
                for run in runs:
                    seconds[run].append(step[run])
                    ratios[run].append(step[run] / step[runs[0]])
                    projection_seconds[run].append(projecting[run])

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; batch 32 pairs, 10-15 tokens per side; "
        f"medians over {options.steps} batches (after {options.warmup} warm-up) of the fastest of {options.repeats}"
    )
    print(
        "| alignment | weighting | encoding | s/step | vs zero-shot (same batch) | of which projection's alignment |\n"
        "| --- | --- | --- | --- | --- | --- |"
    )
    for run in runs:
        trainer_class, alignment, weighting = run
        encoding = "-" if alignment == "none" else ("two calls" if trainer_class is TwoCallTrainer else "one call")
        projecting = statistics.median(projection_seconds[run])
        share = f"{projecting:.3f} s ({projecting / statistics.median(seconds[run]):.0%})" if projecting else ""
        print(
            f"| {alignment} | {weighting} | {encoding} | {statistics.median(seconds[run]):.3f} | "
            f"{statistics.median(ratios[run]):.2f}x | {share} |"
        )


if __name__ == "__main__":
    main()
