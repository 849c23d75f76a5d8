"""Speed of reading + encoding MTOD: English train with its es and th translations, cold and from the cache.

    python benchmarks/data_speed.py [--data_dir ../shared/data/mtod] [--max_seq_length 50]

Each run is a fresh process (as a second training run would be), timed from after the imports and the
tokenizer load. The first run uses an empty cache directory, the second the cache the first one wrote.
The tokenizer is the embedded encoder's (multilingual-e5-small, XLM-R's 250k-piece vocabulary).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def one_run(data_dir: str, cache_dir: str, max_seq_length: int) -> dict:
    sys.path.insert(0, str(REPO_ROOT))
    import datasets
    from transformers import AutoTokenizer

    from data import encode_pairs, load_corpus
    from embedded_encoder import embedded_encoder_path

    datasets.disable_progress_bars()
    tokenizer = AutoTokenizer.from_pretrained(embedded_encoder_path())
    start = time.perf_counter()
    corpus = load_corpus("mtod", data_dir, cache_dir=cache_dir)
    read = time.perf_counter()
    pairs = encode_pairs(
        corpus.labelled["en"]["train"],
        corpus.translations,
        tokenizer,
        corpus.intent_labels(),
        corpus.slot_labels(),
        max_seq_length,
        ["es", "th"],
    )
    done = time.perf_counter()
    return {"read_s": read - start, "encode_s": done - read, "total_s": done - start, "pairs": len(pairs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default=str(REPO_ROOT.parent / "shared" / "data" / "mtod"))
    parser.add_argument("--max_seq_length", type=int, default=50)
    parser.add_argument("--one_run", metavar="CACHE_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_run:
        print(json.dumps(one_run(args.data_dir, args.one_run, args.max_seq_length)))
        return
    with tempfile.TemporaryDirectory(prefix="xnlu_data_speed_") as cache_dir:
        for label in ("first run (empty cache)", "second run (from the cache)"):
            command = [
                sys.executable,
                __file__,
                "--data_dir",
                args.data_dir,
                "--max_seq_length",
                str(args.max_seq_length),
                "--one_run",
                cache_dir,
            ]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            result = json.loads(output.strip().splitlines()[-1])
            print(
                f"{label}: read {result['read_s']:.2f} s + encode {result['encode_s']:.2f} s "
                f"= {result['total_s']:.2f} s for {result['pairs']} (English, translation) pairs"
            )


if __name__ == "__main__":
    main()
