"""CPU inference of a trained model on PyTorch fp32, ONNX Runtime fp32 and ONNX Runtime int8 (export_onnx.py), side by
side: throughput at batch 32 and latency at batch 1 (median, p90) on 1 and 2 threads, on the first `--n` English MTOD
test sentences; then each backend's scores on the full MTOD es and th test sets, scored as run_xnlu.py scores them.

The model is one the MTOD suite trained (default: its Zero-Shot model; train it with `python benchmarks/mtod_suite.py
--methods zero_shot`). Its onnx/ graphs are exported first where missing or when `--export` is given; the int8 layout
options (`--keep_fp32` leaves modules out of the int8 quantization, `--int8_weights blockwise` chooses 8-bit
MatMulNBits, `--int8_activations per_batch` one activation scale per batch) export them again too. Speed is the
model's forward alone, on inputs tokenized beforehand (the same for every backend): `forward b32` (utterances/s) and
`b1 median` / `b1 p90` (ms per utterance); `pipeline b32` is the whole `xnlu` pipeline (tokenization and
post-processing included). Each round runs every backend on every sentence, in rotating order, so that load from
other processes hits all alike; throughput is the median over `--rounds`, latencies are pooled over them. The
machine's load (`os.getloadavg`) is printed with the table, which is also written to `--output` (Markdown).

    python benchmarks/onnx_speed.py [--model_dir outputs/mtod_suite/zero_shot] [--n 1000] [--rounds 3] \\
        [--threads 1 2] [--output benchmarks/results/onnx_speed.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import datasets
import numpy as np
import torch
import transformers
from transformers import AutoTokenizer
from transformers.trainer_callback import PrinterCallback

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import data  # noqa: E402
from crossaligner_config import CrossAlignerTrainingArguments  # noqa: E402
from export_onnx import INT8_ACTIVATIONS, INT8_WEIGHTS, export_onnx  # noqa: E402
from modeling_crossaligner import ONNX_FILES, OnnxRuntimeJointXNLU, XLMRobertaForJointXNLU, XNLUPipeline  # noqa: E402
from trainer_crossaligner import CrossAlignerTrainer  # noqa: E402

DEFAULT_MODEL_DIR = REPO_ROOT / "outputs" / "mtod_suite" / "zero_shot"
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "mtod"
BACKENDS = {"PyTorch fp32": "torch", "ONNX Runtime fp32": "onnx", "ONNX Runtime int8": "onnx-int8"}
SCORED_LANGUAGES = ("es", "th")


def load_backend(model_dir: Path, runtime: str, threads: int):
    if runtime == "torch":
        return XLMRobertaForJointXNLU.from_pretrained(model_dir).eval()
    return OnnxRuntimeJointXNLU.from_pretrained(str(model_dir), runtime, num_threads=threads)


def read_texts(data_dir: Path, n: int) -> list[str]:
    lines = (data_dir / "en" / "test-en.conllu").read_text(encoding="utf-8").splitlines()
    return [line.removeprefix("# text: ") for line in lines if line.startswith("# text: ")][:n]


def measure_speed(model_dir: Path, texts: list[str], threads: int, rounds: int, batch_size: int) -> dict[str, dict]:
    """Per backend: forward throughput at `batch_size`, batch-1 latencies (median, p90) and pipeline throughput."""
    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    max_length = XLMRobertaForJointXNLU.config_class.from_pretrained(model_dir).max_seq_length

    def encode(batch: list[str]) -> dict[str, torch.Tensor]:
        return tokenizer(batch, padding=True, truncation=True, max_length=max_length, return_tensors="pt")

    batches = [encode(texts[start : start + batch_size]) for start in range(0, len(texts), batch_size)]
    singles = [encode([text]) for text in texts]
    models = {name: load_backend(model_dir, runtime, threads) for name, runtime in BACKENDS.items()}
    # The project's pipeline class, not the folder's copy of it (a model trained before ONNX Runtime support).
    pipelines = {
        name: XNLUPipeline(model=models["PyTorch fp32"], tokenizer=tokenizer, runtime=runtime)
        for name, runtime in BACKENDS.items()
    }

    def forward_all(model, inputs: list[dict]) -> list[float]:
        seconds = []
        with torch.inference_mode():
            for batch in inputs:
                started = time.perf_counter()
                model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
                seconds.append(time.perf_counter() - started)
        return seconds

    for name, model in models.items():  # warm-up: allocators, ONNX Runtime's first run
        forward_all(model, batches[:2] + singles[:8])
        pipelines[name](texts[:batch_size], batch_size=batch_size)
    throughput = {name: [] for name in models}
    latencies = {name: [] for name in models}
    pipeline_throughput = {name: [] for name in models}
    names = list(models)
    for round_index in range(rounds):
        for name in names[round_index % len(names) :] + names[: round_index % len(names)]:
            throughput[name].append(len(texts) / sum(forward_all(models[name], batches)))
            latencies[name].extend(forward_all(models[name], singles))
            started = time.perf_counter()
            pipelines[name](texts, batch_size=batch_size)
            pipeline_throughput[name].append(len(texts) / (time.perf_counter() - started))
    return {
        name: {
            "forward b32": statistics.median(throughput[name]),
            "b1 median": 1000 * float(np.median(latencies[name])),
            "b1 p90": 1000 * float(np.percentile(latencies[name], 90)),
            "pipeline b32": statistics.median(pipeline_throughput[name]),
        }
        for name in models
    }


def score_backends(model_dir: Path, data_dir: Path, threads: int) -> dict[str, dict[str, dict]]:
    """Per backend, the intent accuracy and slot F1 of each of `SCORED_LANGUAGES`' full test set, scored by the
    trainer's `evaluate_languages` as run_xnlu.py scores them (fp32; ONNX Runtime through `OnnxRuntimeJointXNLU`)."""
    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    config = XLMRobertaForJointXNLU.config_class.from_pretrained(model_dir)
    corpus = data.load_corpus("mtod", str(data_dir), splits={language: ["test"] for language in SCORED_LANGUAGES})
    test_sets = {
        language: data.encode_labelled(
            corpus.labelled[language]["test"],
            tokenizer,
            config.intent_labels,
            config.slot_labels,
            config.max_seq_length,
        )
        for language in SCORED_LANGUAGES
    }
    scores = {}
    with tempfile.TemporaryDirectory(prefix="onnx_speed-") as output_dir:
        args = CrossAlignerTrainingArguments(
            output_dir=output_dir,
            alignment=[],
            per_device_eval_batch_size=64,
            report_to="none",
            use_cpu=True,
            dataloader_pin_memory=False,
            disable_tqdm=True,
        )
        for name, runtime in BACKENDS.items():
            trainer = CrossAlignerTrainer(
                model=load_backend(model_dir, runtime, threads), args=args, processing_class=tokenizer
            )
            trainer.remove_callback(PrinterCallback)  # the scores are in the table
            evaluation = trainer.evaluate_languages(test_sets, mean_over=list(SCORED_LANGUAGES))
            scores[name] = evaluation.scores
    return scores


def render(speed: dict[int, dict[str, dict]], scores: dict[str, dict[str, dict]], header: str) -> str:
    lines = [header, ""]
    lines += [
        "| backend | threads | forward b32 (utt/s) | b1 median (ms) | b1 p90 (ms) | pipeline b32 (utt/s) | "
        "b32 vs PyTorch | b1 median vs PyTorch |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for threads, rows in speed.items():
        reference = rows["PyTorch fp32"]
        for name, row in rows.items():
            lines.append(
                f"| {name} | {threads} | {row['forward b32']:.0f} | {row['b1 median']:.1f} | {row['b1 p90']:.1f} | "
                f"{row['pipeline b32']:.0f} | {row['forward b32'] / reference['forward b32']:.2f}x | "
                f"{row['b1 median'] / reference['b1 median']:.2f}x |"
            )
    lines += [
        "",
        "| backend | " + " | ".join(f"{lang} intent acc. | {lang} slot F1" for lang in SCORED_LANGUAGES) + " |",
    ]
    lines.append("| --- |" + " --- | --- |" * len(SCORED_LANGUAGES))
    for name, by_language in scores.items():
        cells = [
            f"{100 * by_language[lang]['intent_accuracy']:.2f} | {100 * by_language[lang]['slot_f1']:.2f}"
            for lang in SCORED_LANGUAGES
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", type=Path, default=DEFAULT_MODEL_DIR, help="a trained model folder")
    parser.add_argument("--data_dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--n", type=int, default=1000, help="English MTOD test sentences timed")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--export", action="store_true", help="export the onnx/ graphs again")
    parser.add_argument("--keep_fp32", nargs="+", default=[], metavar="MODULE", help="see export_onnx.py")
    parser.add_argument("--int8_weights", choices=INT8_WEIGHTS, default="per_channel", help="see export_onnx.py")
    parser.add_argument("--int8_activations", choices=INT8_ACTIVATIONS, help="see export_onnx.py")
    parser.add_argument("--skip_scores", action="store_true", help="time only")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "benchmarks" / "results" / "onnx_speed.md")
    args = parser.parse_args()
    if not (args.model_dir / "config.json").is_file():
        parser.error(
            f"--model_dir {args.model_dir}: no trained model there (python benchmarks/mtod_suite.py "
            "--methods zero_shot trains one)"
        )
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()

    # A layout option asks for that layout: the files already there may have another.
    layout_given = args.keep_fp32 or args.int8_weights != "per_channel" or args.int8_activations
    if args.export or layout_given or not all((args.model_dir / path).is_file() for path in ONNX_FILES.values()):
        export = export_onnx(
            args.model_dir,
            quantize=True,
            keep_fp32=tuple(args.keep_fp32),
            int8_weights=args.int8_weights,
            int8_activations=args.int8_activations,
        )
        print(
            f"exported: {export.check.describe()}\nint8 ({export.quantized_operators}): "
            f"{export.quantized_check.describe()}"
        )
    texts = read_texts(args.data_dir, args.n)
    load_before = os.getloadavg()
    started = time.time()
    speed = {
        threads: measure_speed(args.model_dir, texts, threads, args.rounds, args.batch_size) for threads in args.threads
    }
    scores = {} if args.skip_scores else score_backends(args.model_dir, args.data_dir, max(args.threads))
    load_after = os.getloadavg()
    sizes = ", ".join(
        f"{path} {(args.model_dir / path).stat().st_size / 2**20:.0f} MB"
        for path in ("model.safetensors", *ONNX_FILES.values())
    )
    header = (
        f"{args.model_dir.name}: {len(texts)} English MTOD test sentences, batch {args.batch_size} and 1, "
        f"{args.rounds} rounds, {time.time() - started:.0f} s; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; "
        f"torch {torch.__version__}, onnxruntime {__import__('onnxruntime').__version__}; {sizes}"
    )
    table = render(speed, scores, header)
    print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(table, encoding="utf-8")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
