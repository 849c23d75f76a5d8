"""What translate_data.py costs on CPU: sentences per second with random-weight models of real sizes (nothing is
downloaded), translating the first `--n` English MTOD test utterances into German through `translate_data` itself
(length-sorted batches, beam search, whole lines written and flushed):

- `opus-mt`: a Marian model of Helsinki-NLP/opus-mt-en-de's size (6 + 6 layers, d_model 512, 58,101-piece
  vocabulary: 74M parameters);
- `nllb-600m`: an M2M100 model of facebook/nllb-200-distilled-600M's size (12 + 12 layers, d_model 1024,
  256,206-piece vocabulary: 615M parameters), with M2M100's tokenizer and language codes.

The models are built by tests/tiny_translation_models.py at these sizes; the tokenizer is sentencepiece trained on
those utterances (8,000 pieces), its vocabulary filled up to the real model's size. Random weights never write
end-of-sentence, so every translation is `--max_new_tokens` long; a real model stops at the end of the longest
translation of each batch, which for these short utterances is about the length of the source (printed), so the
default of 16 tokens matches a real run's work. CPU seconds count the generation only (not loading the model).

    python benchmarks/translation_speed.py [--model opus-mt|nllb-600m] [--n 256] [--batch_size 32] [--num_beams 1 4]
        [--max_new_tokens 16] [--threads 1] [--bf16]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import transformers

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "tests")]

from tiny_translation_models import save_m2m100, save_marian  # noqa: E402

import translate_data  # noqa: E402

MTOD_DIR = REPO_ROOT.parent / "shared" / "data" / "mtod"
# The architectures of Helsinki-NLP/opus-mt-en-de and facebook/nllb-200-distilled-600M (their config.json).
MODELS = {
    "opus-mt": (
        save_marian,
        58101,
        dict(
            d_model=512,
            encoder_layers=6,
            decoder_layers=6,
            encoder_attention_heads=8,
            decoder_attention_heads=8,
            encoder_ffn_dim=2048,
            decoder_ffn_dim=2048,
            max_position_embeddings=512,
            activation_function="swish",
            scale_embedding=True,
        ),
    ),
    "nllb-600m": (
        save_m2m100,
        256206,
        dict(
            d_model=1024,
            encoder_layers=12,
            decoder_layers=12,
            encoder_attention_heads=16,
            decoder_attention_heads=16,
            encoder_ffn_dim=4096,
            decoder_ffn_dim=4096,
            max_position_embeddings=1024,
            activation_function="relu",
            scale_embedding=True,
        ),
    ),
}


def read_texts(n: int) -> list[str]:
    lines = (MTOD_DIR / "en" / "test-en.conllu").read_text(encoding="utf-8").splitlines()
    return [line.removeprefix("# text: ") for line in lines if line.startswith("# text: ")][:n]


def count_cpu_seconds(module, name: str) -> list[float]:
    """Wrap ``module.name`` so that the CPU seconds spent in it add up in the returned one-item list."""
    function, total = getattr(module, name), [0.0]

    def timed(*args, **kwargs):
        started = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            total[0] += time.process_time() - started

    setattr(module, name, timed)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=list(MODELS), default="opus-mt")
    parser.add_argument("--n", type=int, default=256, help="number of MTOD English test utterances")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--num_beams", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--max_new_tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--bf16", action="store_true", help="load the model in bf16 (default fp32, as on a CPU)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    texts = read_texts(args.n)
    with tempfile.TemporaryDirectory() as root:
        save, vocab_size, architecture = MODELS[args.model]
        model_dir = save(
            Path(root) / args.model, texts, spm_vocab_size=8000, vocab_size=vocab_size, architecture=architecture
        )
        model = transformers.AutoModelForSeq2SeqLM.from_pretrained(model_dir)
        parameters = sum(parameter.numel() for parameter in model.parameters())
        del model
        tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
        source_tokens = statistics.mean(len(ids) for ids in tokenizer(texts)["input_ids"])
        data_dir = Path(root) / "data"
        (data_dir / "en").mkdir(parents=True)
        lines = [json.dumps({"id": str(i), "text": text, "intent": "x"}) + "\n" for i, text in enumerate(texts)]
        (data_dir / "en" / "train.jsonl").write_text("".join(lines), encoding="utf-8")
        print(f"{args.model}: {parameters / 1e6:.0f}M parameters; {len(texts)} utterances, {source_tokens:.1f} tokens")
        precision = "bf16" if args.bf16 else "fp32"
        print(f"CPU threads {args.threads}, {precision}, batch {args.batch_size}, {args.max_new_tokens} tokens each")
        # CPU time of the generation beside the loop's wall time: on a shared machine the wall time also counts other
        # processes' turns.
        generation_cpu = count_cpu_seconds(translate_data, "generate_translations")
        print("| beams | seconds | sentences/s | CPU seconds | sentences per CPU second |")
        print("| --- | --- | --- | --- | --- |")
        for beams in args.num_beams:
            generation_cpu[0] = 0.0
            summary = translate_data.translate_data(
                data_dir,
                ["de"],
                str(model_dir),
                num_beams=beams,
                max_new_tokens=args.max_new_tokens,
                batch_size=args.batch_size,
                device="cpu",
                bf16=args.bf16,
                overwrite=True,
            )["de"]
            cpu = generation_cpu[0]
            print(
                f"| {beams} | {summary.seconds:.1f} | {summary.sentences_per_second:.1f} | {cpu:.1f} "
                f"| {len(texts) / cpu:.1f} |"
            )


if __name__ == "__main__":
    main()
