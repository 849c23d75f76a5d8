"""Dynamic padding against padding every input to `max_seq_length` (the original code's way), and peak memory of
training and inference, on MTOD's length distribution with the embedded encoder (CPU).

Data: MTOD English training examples paired with their Spanish or Thai translations as run_xnlu.py draws them, a
seeded sample of `--steps` batches of 32, the same batches for every setting. Model: the embedded multilingual-e5-small
with MTOD's labels and run_xnlu.py's defaults (frozen word embeddings, head learning rate).

Settings: a training step (forward, losses, backward, optimiser step) of Zero-Shot and of XeroAlignIO + CrossAligner
(CoV), and an inference forward pass of the English side (batch 32, no gradients), each with the trainer's collator
padding the batch to its longest sequence (dynamic) and to `max_seq_length` (`pad_to_multiple_of=max_seq_length`).
Each setting runs in a Python process of its own. "peak" is that process's peak resident memory (RSS) during the
timed steps (model, optimiser state, activations; `PeakMemory`), "steps add" the peak minus the RSS before the first
step.

    python benchmarks/padding_and_memory.py [--steps 6] [--warmup 1] [--max_seq_length 64] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import datasets
import numpy as np
import psutil
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from transformers import AutoTokenizer  # noqa: E402

import data  # noqa: E402
from benchmarks.train_step_speed import make_trainer, timed_step  # noqa: E402
from embedded_encoder import embedded_encoder_path  # noqa: E402
from run_xnlu import ScriptArguments, load_model  # noqa: E402
from trainer_crossaligner import CrossAlignerTrainer  # noqa: E402
from xnlu_batching import PairSampler, XNLUDataCollator  # noqa: E402

DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "mtod"
TARGETS = ["es", "th"]
BATCH = 32
SETTINGS = [  # (name, mode, alignment)
    ("Zero-Shot training step", "train", "none"),
    ("XeroAlignIO + CrossAligner (CoV) training step", "train", "crossaligner,xeroalign"),
    ("inference forward (English side)", "inference", "none"),
]
PADDINGS = ("dynamic", "max_seq_length")


def training_pairs(data_dir: str, max_seq_length: int, tokenizer) -> tuple[datasets.Dataset, data.XNLUCorpus]:
    """The (English, translation) pairs of MTOD that one epoch of a model aligned to es and th trains on (the
    trainer's PairSampler, languages rotating), and the corpus they come from."""
    corpus = data.load_corpus("mtod", data_dir, languages=["en", *TARGETS])
    pairs = data.encode_pairs(
        corpus.labelled["en"]["train"],
        corpus.translations,
        tokenizer=tokenizer,
        intent_labels=corpus.intent_labels(["en"]),
        slot_labels=corpus.slot_labels(["en"]),
        max_seq_length=max_seq_length,
        target_languages=TARGETS,
    )
    epoch = PairSampler(pairs["id"], pairs["translation_language"], "rotate", seed=42).epoch_rows(0)
    return pairs.select(sorted(epoch)), corpus


class PeakMemory:
    """Peak resident memory of this process while the `with` block runs. On Linux the kernel's own high-water mark
    (VmHWM), reset on entry through /proc/self/clear_refs: exact. Elsewhere a thread samples the RSS every 5 ms
    (which misses peaks shorter than that, or taken while Python code holds the GIL)."""

    STATUS, CLEAR_REFS = Path("/proc/self/status"), Path("/proc/self/clear_refs")

    def __enter__(self):
        self.process = psutil.Process()
        self.before = self.peak = self.process.memory_info().rss
        try:
            self.CLEAR_REFS.write_text("5")  # 5: reset the peak RSS to the current RSS
            self.kernel_peak = True
        except OSError:
            self.kernel_peak = False
            self.stop = threading.Event()
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self) -> None:
        while not self.stop.wait(0.005):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __exit__(self, *exc):
        if self.kernel_peak:
            self.peak = int(re.search(r"VmHWM:\s+(\d+) kB", self.STATUS.read_text()).group(1)) * 1024
        else:
            self.stop.set()
            self.thread.join()
            self.peak = max(self.peak, self.process.memory_info().rss)


def measure(setting: dict) -> dict:
    """Run one setting in this process: seconds per step (median), tokens per batch, peak memory."""
    torch.set_num_threads(setting["threads"])
    torch.manual_seed(0)
    datasets.disable_progress_bars()
    tokenizer = AutoTokenizer.from_pretrained(embedded_encoder_path())
    pairs, corpus = training_pairs(setting["data_dir"], setting["max_seq_length"], tokenizer)
    # The model run_xnlu.py would train (its defaults: frozen word embeddings).
    model = load_model(
        str(embedded_encoder_path()), corpus, ScriptArguments(dataset="mtod", max_seq_length=setting["max_seq_length"])
    )
    rows = pairs.shuffle(seed=0).select(range(BATCH * (setting["warmup"] + setting["steps"])))
    pad_to = setting["max_seq_length"] if setting["padding"] == "max_seq_length" else None
    collator = XNLUDataCollator(tokenizer, pad_to_multiple_of=pad_to)
    batches = [collator([rows[i] for i in range(start, start + BATCH)]) for start in range(0, len(rows), BATCH)]
    if setting["mode"] == "train":
        with tempfile.TemporaryDirectory() as output_dir:
            trainer = make_trainer(CrossAlignerTrainer, setting["alignment"], "cov", output_dir, joint_model=model)
            with PeakMemory() as memory:
                seconds = [timed_step(trainer, batch) for batch in batches]
    else:
        model.eval()
        seconds = []
        with PeakMemory() as memory, torch.inference_mode():
            for batch in batches:
                start = time.perf_counter()
                model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
                seconds.append(time.perf_counter() - start)
    timed = batches[setting["warmup"] :]
    sides = ["input_ids"] + (["translation_input_ids"] if setting["alignment"] != "none" else [])
    return {
        "seconds_per_step": statistics.median(seconds[setting["warmup"] :]),
        "tokens_per_batch": statistics.mean(sum(batch[side].numel() for side in sides) for batch in timed),
        "real_tokens_per_batch": statistics.mean(
            sum(int(batch[side.replace("input_ids", "attention_mask")].sum()) for side in sides) for batch in timed
        ),
        "peak_rss_mb": memory.peak / 2**20,
        "steps_add_mb": (memory.peak - memory.before) / 2**20,
    }


def length_table(data_dir: str, max_seq_length: int) -> str:
    """Markdown: the token length distribution of the English side and of the translations."""
    datasets.disable_progress_bars()
    tokenizer = AutoTokenizer.from_pretrained(embedded_encoder_path())
    pairs, _ = training_pairs(data_dir, max_seq_length, tokenizer)
    lines = ["| side | examples | mean | median | p90 | p99 | max |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for title, column in (("English", "input_ids"), ("translation (es/th)", "translation_input_ids")):
        lengths = np.array([len(ids) for ids in pairs[column]])
        lines.append(
            f"| {title} | {len(lengths)} | {lengths.mean():.1f} | {np.median(lengths):.0f} | "
            f"{np.percentile(lengths, 90):.0f} | {np.percentile(lengths, 99):.0f} | {lengths.max()} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", default=str(DEFAULT_DATA_DIR))
    parser.add_argument("--steps", type=int, default=6, help="timed batches per setting")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--max_seq_length", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--setting", help=argparse.SUPPRESS)  # internal: measure one setting (JSON) and print JSON
    args = parser.parse_args()
    if args.setting:
        print(json.dumps(measure(json.loads(args.setting))))
        return
    if not Path(args.data_dir, "en", "train-en.conllu").is_file():
        sys.exit(f"MTOD not found in {args.data_dir} (pass --data_dir)")
    print(f"Token lengths, MTOD training pairs (tokens with <s> and </s>, max_seq_length {args.max_seq_length}):\n")
    print(length_table(args.data_dir, args.max_seq_length), flush=True)
    results = {}
    for title, mode, alignment in SETTINGS:
        for padding in PADDINGS:
            setting = dict(vars(args), mode=mode, alignment=alignment, padding=padding)
            print(f"measuring: {title}, {padding} padding", file=sys.stderr, flush=True)
            output = subprocess.run(
                [sys.executable, __file__, "--setting", json.dumps(setting)], check=True, capture_output=True, text=True
            ).stdout
            results[title, padding] = json.loads(output.splitlines()[-1])
    print(
        f"\ntorch {torch.__version__}, {args.threads} threads, batch {BATCH}, median of {args.steps} batches "
        f"after {args.warmup} warm-up\n"
    )
    print("| setting | padding | tokens per batch (real) | s/step | speed-up of dynamic | peak RSS MB | steps add MB |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for title, _, _ in SETTINGS:
        dynamic = results[title, "dynamic"]["seconds_per_step"]
        for padding in PADDINGS:
            result = results[title, padding]
            speedup = f"{result['seconds_per_step'] / dynamic:.2f}x" if padding == "max_seq_length" else ""
            print(
                f"| {title} | {padding} | {result['tokens_per_batch']:.0f} ({result['real_tokens_per_batch']:.0f}) | "
                f"{result['seconds_per_step']:.3f} | {speedup} | {result['peak_rss_mb']:.0f} | "
                f"{result['steps_add_mb']:.0f} |"
            )


if __name__ == "__main__":
    main()
