"""XLMRobertaForJointXNLU, its config and the IO/BIO helpers."""

import json
import subprocess
import sys

import pytest
import torch
from tiny_models import INTENTS, SLOT_LABELS, build_tiny_model
from transformers import AutoModel, XLMRobertaConfig, XLMRobertaModel

from modeling_crossaligner import (
    XLMRobertaForJointXNLU,
    XLMRobertaJointXNLUConfig,
    bio_to_io,
    io_to_bio,
    tags_to_spans,
)

# Run in a fresh interpreter that cannot import the project: only the saved directory's copy of the code is usable.
FRESH_PROCESS_PRELUDE = """
import sys
for name in ("modeling_crossaligner", "trainer_crossaligner", "data"):
    sys.modules[name] = None  # any import of the project's own modules now fails
"""


def run_fresh(code: str, cwd) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS_PRELUDE + code],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(cwd)},
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


# -- labels ---------------------------------------------------------------------------------------------------------


def test_bio_to_io_strips_prefixes():
    assert bio_to_io(["O", "B-time", "I-time", "B-loc", "O"]) == ["O", "time", "time", "loc", "O"]


@pytest.mark.parametrize("bad", ["B-", "X-time", "time", "b-time", ""])
def test_bio_to_io_rejects_malformed_tags(bad):
    with pytest.raises(ValueError, match="malformed BIO tag"):
        bio_to_io(["O", bad])


@pytest.mark.parametrize(
    "io, bio",
    [
        ([], []),
        (["O", "O"], ["O", "O"]),
        (["time"], ["B-time"]),
        (["O", "time", "time", "O"], ["O", "B-time", "I-time", "O"]),
        (["time", "loc", "loc"], ["B-time", "B-loc", "I-loc"]),
        (["time", "O", "time"], ["B-time", "O", "B-time"]),
        # Known limitation: two adjacent entities of the same type merge into one.
        (["loc", "loc"], ["B-loc", "I-loc"]),
    ],
)
def test_io_to_bio(io, bio):
    assert io_to_bio(io) == bio


def test_bio_io_round_trip_loses_only_adjacent_same_type_boundaries():
    gold = ["B-loc", "I-loc", "O", "B-time", "B-loc"]
    assert io_to_bio(bio_to_io(gold)) == gold
    assert io_to_bio(bio_to_io(["B-loc", "B-loc"])) == ["B-loc", "I-loc"]


def test_tags_to_spans():
    assert tags_to_spans(["O", "B-time", "I-time", "B-loc", "O", "B-loc"]) == [
        ("time", 1, 3),
        ("loc", 3, 4),
        ("loc", 5, 6),
    ]
    # Strict IOB2: an I- that does not continue its type starts a new entity.
    assert tags_to_spans(["I-loc", "I-time"]) == [("loc", 0, 1), ("time", 1, 2)]


# -- config ---------------------------------------------------------------------------------------------------------


def test_config_label_maps_and_validation():
    config = XLMRobertaJointXNLUConfig(intent_labels=["a", "b"], slot_labels=["O", "x"], max_seq_length=8)
    assert config.id2label == {0: "a", 1: "b"} and config.label2id == {"a": 0, "b": 1}  # the intents
    with pytest.raises(ValueError, match="must start with 'O'"):
        XLMRobertaJointXNLUConfig(intent_labels=["a"], slot_labels=["x", "O"])
    with pytest.raises(ValueError, match="IO labels"):
        XLMRobertaJointXNLUConfig(intent_labels=["a"], slot_labels=["O", "B-x"])
    with pytest.raises(ValueError, match="duplicates"):
        XLMRobertaJointXNLUConfig(intent_labels=["a", "a"], slot_labels=["O"])


# -- model ----------------------------------------------------------------------------------------------------------


def _batch(tokenizer, texts):
    return tokenizer(texts, padding=True, return_tensors="pt")


def test_forward_shapes_and_main_loss(tiny_model, tiny_tokenizer):
    batch = _batch(tiny_tokenizer, ["wake me up at seven am", "the weather in boston"])
    slot_labels = torch.full_like(batch["input_ids"], -100)
    slot_labels[:, 1] = torch.tensor([1, 0])
    intent_labels = torch.tensor([0, 1])
    out = tiny_model(**batch, intent_labels=intent_labels, slot_labels=slot_labels)
    batch_size, seq_len = batch["input_ids"].shape
    assert out.intent_logits.shape == (batch_size, len(INTENTS))
    assert out.slot_logits.shape == (batch_size, seq_len, len(SLOT_LABELS))
    assert out.pooled_output.shape == (batch_size, tiny_model.config.hidden_size)
    expected_intent = torch.nn.functional.cross_entropy(out.intent_logits, intent_labels)
    expected_slot = torch.nn.functional.cross_entropy(out.slot_logits[:, 1], torch.tensor([1, 0]))
    torch.testing.assert_close(out.intent_loss, expected_intent)
    torch.testing.assert_close(out.slot_loss, expected_slot)
    torch.testing.assert_close(out.loss, expected_intent + expected_slot)


def test_all_ignored_slot_labels_give_zero_loss_not_nan(tiny_model, tiny_tokenizer):
    batch = _batch(tiny_tokenizer, ["the weather"])
    out = tiny_model(**batch, intent_labels=torch.tensor([0]), slot_labels=torch.full_like(batch["input_ids"], -100))
    assert out.slot_loss.item() == 0.0 and torch.isfinite(out.loss)


def test_crossaligner_logits_do_not_depend_on_batch_padding(tiny_model, tiny_tokenizer):
    short = "the weather"
    alone = _batch(tiny_tokenizer, [short])
    padded = _batch(tiny_tokenizer, [short, "wake me up at seven am tomorrow morning in new york"])
    assert padded["input_ids"].shape[1] > alone["input_ids"].shape[1]
    with torch.no_grad():
        logits_alone = tiny_model.crossaligner_logits(tiny_model(**alone).slot_logits, alone["attention_mask"])
        logits_padded = tiny_model.crossaligner_logits(tiny_model(**padded).slot_logits, padded["attention_mask"])
    torch.testing.assert_close(logits_alone[0], logits_padded[0], atol=1e-5, rtol=1e-5)
    assert logits_padded.shape == (2, len(SLOT_LABELS))


def test_crossaligner_layout_zeroes_padding_rows(tiny_model):
    num_labels = len(SLOT_LABELS)
    slot_logits = torch.randn(1, 3, num_labels)
    mask = torch.tensor([[1, 1, 0]])
    garbage = slot_logits.clone()
    garbage[0, 2] = 1e4  # whatever sits on a padding row must not matter
    torch.testing.assert_close(
        tiny_model.crossaligner_logits(slot_logits, mask), tiny_model.crossaligner_logits(garbage, mask)
    )


def test_labels_outside_label_set_raise(tiny_model, tiny_tokenizer):
    batch = _batch(tiny_tokenizer, ["the weather"])
    slot_labels = torch.full_like(batch["input_ids"], -100)
    with pytest.raises(ValueError, match="intent_labels has values \\[3\\] outside the label set"):
        tiny_model(**batch, intent_labels=torch.tensor([len(INTENTS)]), slot_labels=slot_labels)
    slot_labels[0, 1] = len(SLOT_LABELS)
    with pytest.raises(ValueError, match="slot_labels has values"):
        tiny_model(**batch, intent_labels=torch.tensor([0]), slot_labels=slot_labels)
    slot_labels[0, 1] = -5
    with pytest.raises(ValueError, match="slot_labels has values \\[-5\\]"):
        tiny_model(**batch, slot_labels=slot_labels)


def test_label_shapes_must_match_input(tiny_model, tiny_tokenizer):
    batch = _batch(tiny_tokenizer, ["the weather", "wake me up"])
    with pytest.raises(ValueError, match="intent_labels has shape \\(3,\\), expected \\(2,\\)"):
        tiny_model(**batch, intent_labels=torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="slot_labels has shape"):
        tiny_model(**batch, slot_labels=torch.zeros(2, 1, dtype=torch.long))


def test_from_encoder_copies_encoder_and_initialises_heads(tmp_path, tiny_tokenizer):
    torch.manual_seed(1)
    encoder_config = XLMRobertaConfig(
        vocab_size=len(tiny_tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=40,
        type_vocab_size=1,
    )
    encoder = XLMRobertaModel(encoder_config)
    encoder.save_pretrained(tmp_path)
    model = XLMRobertaForJointXNLU.from_encoder(tmp_path, INTENTS, SLOT_LABELS, max_seq_length=16)
    assert model.config.intent_labels == INTENTS and model.config.max_seq_length == 16
    for name, tensor in encoder.state_dict().items():
        torch.testing.assert_close(model.roberta.state_dict()[name], tensor, msg=name)
    assert model.crossaligner_head.in_features == 16 * len(SLOT_LABELS)


def test_from_encoder_rejects_non_xlmr_checkpoints(tmp_path):
    from transformers import BertConfig

    BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64).save_pretrained(
        tmp_path
    )
    with pytest.raises(ValueError, match="'bert' checkpoint; an XLM-R-shaped encoder"):
        XLMRobertaForJointXNLU.from_encoder(tmp_path, INTENTS, SLOT_LABELS)


def test_saved_model_is_safetensors_with_remote_code(tiny_model_dir):
    files = {path.name for path in tiny_model_dir.iterdir()}
    assert "model.safetensors" in files and "modeling_crossaligner.py" in files
    assert not {"pytorch_model.bin", "model.bin"} & files
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["auto_map"] == {
        "AutoConfig": "modeling_crossaligner.XLMRobertaJointXNLUConfig",
        "AutoModel": "modeling_crossaligner.XLMRobertaForJointXNLU",
        "AutoModelForTokenClassification": "modeling_crossaligner.XLMRobertaJointXNLUForTokenClassification",
        "AutoModelForSequenceClassification": "modeling_crossaligner.XLMRobertaJointXNLUForSequenceClassification",
    }
    # The sentence-level labels of the saved config are the intents.
    assert config["id2label"] == {str(i): intent for i, intent in enumerate(config["intent_labels"])}
    assert config["custom_pipelines"]["xnlu"]["impl"] == "modeling_crossaligner.XNLUPipeline"


def test_pickled_weights_are_refused(tmp_path, tiny_model):
    torch.save(tiny_model.state_dict(), tmp_path / "pytorch_model.bin")
    tiny_model.config.save_pretrained(tmp_path)
    with pytest.raises(OSError):
        XLMRobertaForJointXNLU.from_pretrained(tmp_path)


def test_automodel_in_fresh_process_gives_identical_outputs(tiny_model_dir, tiny_model, tiny_tokenizer, tmp_path):
    texts = ["wake me up at seven am", "美国航空 天气", "สวัสดี พรุ่งนี้"]
    code = f"""
import json, torch
from transformers import AutoConfig, AutoModel, AutoTokenizer
path = {str(tiny_model_dir)!r}
config = AutoConfig.from_pretrained(path, trust_remote_code=True)
model = AutoModel.from_pretrained(path, trust_remote_code=True).eval()
tokenizer = AutoTokenizer.from_pretrained(path)
batch = tokenizer({texts!r}, padding=True, return_tensors="pt")
with torch.no_grad():
    out = model(**batch)
print(json.dumps({{"config": type(config).__name__, "model": type(model).__name__,
                   "module": type(model).__module__,
                   "intent": out.intent_logits.tolist(), "slots": out.slot_logits.tolist()}}))
"""
    result = run_fresh(code, tmp_path)
    assert result["config"] == "XLMRobertaJointXNLUConfig" and result["model"] == "XLMRobertaForJointXNLU"
    assert result["module"].startswith("transformers_modules.")
    batch = tiny_tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = tiny_model(**batch)
    torch.testing.assert_close(torch.tensor(result["intent"]), expected.intent_logits, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(torch.tensor(result["slots"]), expected.slot_logits, atol=1e-6, rtol=1e-5)


def test_automodel_in_process_resolves_registered_class(tiny_model_dir):
    model = AutoModel.from_pretrained(tiny_model_dir, trust_remote_code=True)
    assert type(model).__name__ == "XLMRobertaForJointXNLU"


def test_build_is_deterministic(tiny_tokenizer):
    a = build_tiny_model(tiny_tokenizer, INTENTS, SLOT_LABELS, seed=3)
    b = build_tiny_model(tiny_tokenizer, INTENTS, SLOT_LABELS, seed=3)
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(x, y, msg=name)
