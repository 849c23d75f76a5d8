"""Throughput of the `xnlu` pipeline on CPU against (a) a bare batched forward of the same model and (b) what a user
has without it: transformers' `token-classification` and `text-classification` pipelines on two models of the same
size, both run on every sentence.

Model: the embedded multilingual-e5-small encoder (12 layers, hidden 384) with MTOD's intents and slot types,
max_seq_length 64; heads untrained (speed only). Inputs: the first `--n` English MTOD test sentences, batch 32.
Each round runs every method on every sentence, chunk by chunk and interleaved so that load from other processes
hits all methods alike; the median over `--rounds` is reported. Targets: pipeline overhead over the bare forward at
most 20%, at least 1.6x the throughput of the two-pipeline alternative.

    python benchmarks/pipeline_speed.py [--n 1000] [--rounds 3] [--batch_size 32] [--threads 2] [--chunk 256]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import datasets
import torch
import transformers
from transformers import (
    AutoTokenizer,
    XLMRobertaForSequenceClassification,
    XLMRobertaForTokenClassification,
    pipeline,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import data  # noqa: E402
from embedded_encoder import embedded_encoder_path  # noqa: E402
from modeling_crossaligner import XLMRobertaForJointXNLU  # noqa: E402

MTOD_DIR = REPO_ROOT.parent / "shared" / "data" / "mtod"
MAX_SEQ_LENGTH = 64


def read_texts(n: int) -> list[str]:
    lines = (MTOD_DIR / "en" / "test-en.conllu").read_text(encoding="utf-8").splitlines()
    return [line.removeprefix("# text: ") for line in lines if line.startswith("# text: ")][:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="number of MTOD test sentences")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--chunk", type=int, default=256, help="sentences per interleaving step (a multiple of the batch size)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()

    corpus = data.load_corpus("mtod", str(MTOD_DIR), languages=["en"])
    intents, slots = corpus.intent_labels(), corpus.slot_labels()
    encoder = embedded_encoder_path()
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    model = XLMRobertaForJointXNLU.from_encoder(encoder, intents, slots, max_seq_length=MAX_SEQ_LENGTH).eval()
    texts = read_texts(args.n)
    batch = args.batch_size

    xnlu = pipeline("xnlu", model=model, tokenizer=tokenizer)
    token_classifier = pipeline(
        "token-classification",
        model=XLMRobertaForTokenClassification.from_pretrained(encoder, num_labels=len(slots)).eval(),
        tokenizer=tokenizer,
    )
    text_classifier = pipeline(
        "text-classification",
        model=XLMRobertaForSequenceClassification.from_pretrained(encoder, num_labels=len(intents)).eval(),
        tokenizer=tokenizer,
    )

    def bare_forward(texts: list[str]) -> None:
        with torch.inference_mode():
            for start in range(0, len(texts), batch):
                inputs = tokenizer(
                    texts[start : start + batch],
                    padding=True,
                    truncation=True,
                    max_length=MAX_SEQ_LENGTH,
                    return_tensors="pt",
                )
                model(**inputs)

    def xnlu_pipeline(texts: list[str]) -> None:
        xnlu(texts, batch_size=batch)

    def two_pipelines(texts: list[str]) -> None:
        token_classifier(texts, batch_size=batch)
        text_classifier(texts, batch_size=batch, truncation=True, max_length=MAX_SEQ_LENGTH)

    methods = {"bare forward": bare_forward, "xnlu pipeline": xnlu_pipeline, "token+text pipelines": two_pipelines}
    for method in methods.values():  # warm-up (allocator, lazy initialisation) on one batch
        method(texts[:batch])
    # Fine-grained interleaving: each round goes through the sentences chunk by chunk, running every method on the
    # chunk in rotating order, so that a burst of load from other processes hits all methods alike.
    seconds = {name: [] for name in methods}
    for _ in range(args.rounds):
        totals = dict.fromkeys(methods, 0.0)
        for index, start in enumerate(range(0, len(texts), args.chunk)):
            names = list(methods)
            for name in names[index % len(names) :] + names[: index % len(names)]:
                started = time.perf_counter()
                methods[name](texts[start : start + args.chunk])
                totals[name] += time.perf_counter() - started
        for name, total in totals.items():
            seconds[name].append(total)

    throughput = {name: len(texts) / statistics.median(times) for name, times in seconds.items()}
    print(f"{len(texts)} MTOD test sentences, batch {batch}, {args.threads} threads, median of {args.rounds} rounds")
    for name, value in throughput.items():
        runs = ", ".join(f"{len(texts) / t:.0f}" for t in seconds[name])
        print(f"  {name:22s} {value:7.1f} utterances/s   (rounds: {runs})")
    overhead = throughput["bare forward"] / throughput["xnlu pipeline"] - 1
    speedup = throughput["xnlu pipeline"] / throughput["token+text pipelines"]
    print(f"xnlu pipeline overhead over the bare forward: {overhead:+.1%} (target <= +20%)")
    print(f"xnlu pipeline vs token-classification + text-classification: {speedup:.2f}x (target >= 1.6x)")


if __name__ == "__main__":
    main()
