"""The `xnlu` pipeline: output format, character offsets in every script, batching and bad input."""

import logging

import pytest
import torch
from test_modeling import run_fresh
from transformers import pipeline

TEXTS = {
    "latin": "wake me up at seven am tomorrow in new york",
    "thai": "ตั้งนาฬิกาปลุก พรุ่งนี้",
    "chinese": "明天北京天气",
    "hindi": "कल मौसम नमस्ते",
    "emoji": "😀 the weather in berlin 🌧️ tomorrow",
    "zero_width": "the\u200bweather in\u200d boston",
    "combining": "wake me up at se\u0301ven am",
    "full_width": "ＡＢＣ weather in ｂｏｓｔｏｎ",
    "mixed": "book a flight from 美国 to मौसम 😀",
}


@pytest.fixture(scope="module")
def xnlu(tiny_model_dir):
    return pipeline("xnlu", model=str(tiny_model_dir), trust_remote_code=True)


def assert_well_formed(result, text, model_config):
    assert set(result) == {"intent", "score", "slots"}
    assert result["intent"] in model_config.intent_labels and 0.0 <= result["score"] <= 1.0
    previous_end = 0
    for slot in result["slots"]:
        assert set(slot) == {"type", "text", "start", "end", "score"}
        assert slot["type"] in model_config.slot_labels[1:]
        assert 0 <= slot["start"] < slot["end"] <= len(text)
        assert text[slot["start"] : slot["end"]] == slot["text"]
        assert slot["text"] == slot["text"].strip() and slot["text"]
        assert slot["start"] >= previous_end, "slots overlap or are out of order"
        previous_end = slot["end"]
        assert 0.0 <= slot["score"] <= 1.0


@pytest.mark.parametrize("script", sorted(TEXTS))
def test_offsets_are_valid_in_every_script(xnlu, script):
    text = TEXTS[script]
    assert_well_formed(xnlu(text), text, xnlu.model.config)


def test_every_unit_becomes_a_slot_when_the_model_predicts_one_type(tiny_model_dir):
    """With the slot head forced to one type everywhere, the slots must cover exactly the text units: whole words
    in spaced scripts, sub-words in Thai/Chinese (so spans can end inside a run of characters)."""
    xnlu = pipeline("xnlu", model=str(tiny_model_dir), trust_remote_code=True)
    with torch.no_grad():
        xnlu.model.slot_classifier.weight.zero_()
        xnlu.model.slot_classifier.bias.copy_(torch.tensor([0.0, 9.0, 0.0, 0.0]))
    # Same type everywhere: IO->BIO merges all units into one span per run of adjacent units.
    assert [s["text"] for s in xnlu("the weather in boston")["slots"]] == ["the weather in boston"]
    chinese = xnlu("明天北京天气")["slots"]
    assert [(s["start"], s["end"]) for s in chinese] == [(0, 6)]
    with torch.no_grad():
        # Alternate types by position so every unit is its own span: shows the unit boundaries.
        xnlu.model.slot_classifier.bias.zero_()
    units = _unit_spans(xnlu, "明天北京天气")
    assert units == ["明天", "北京", "天气"]
    assert _unit_spans(xnlu, "wake me up") == ["wake", "me", "up"]
    assert _unit_spans(xnlu, "ตั้งนาฬิกาปลุก") == ["ตั้ง", "นาฬิกา", "ปลุก"]
    # The bare "▁" piece XLM-R puts before such words never becomes (part of) a unit.
    assert _unit_spans(xnlu, "美国航空") == ["美国", "航空"]


def _unit_spans(xnlu, text):
    """Run the pipeline with a slot head that alternates two types by token position, returning the slot texts."""
    model = xnlu.model
    original_forward = model.slot_classifier.forward

    def alternating(hidden):
        logits = torch.zeros(*hidden.shape[:2], len(model.config.slot_labels))
        logits[:, 0::2, 1] = 9.0
        logits[:, 1::2, 2] = 9.0
        return logits

    model.slot_classifier.forward = alternating
    try:
        return [slot["text"] for slot in xnlu(text)["slots"]]
    finally:
        model.slot_classifier.forward = original_forward


# -- exact offsets, with XLM-R's real tokenizer and forced predictions ----------------------------------------------

SLOT_TYPES = ["O", "datetime", "location", "weather/noun"]
# (text, {sentencepiece piece: slot type the model is forced to predict on it}, expected slots written by hand as
# (type, start, end): end exclusive, counted in the original string's characters).
EXACT_SPANS = {
    "latin": (
        "wake me at 7am in New York tomorrow",
        {"▁7": "datetime", "▁New": "location", "▁York": "location"},
        [("datetime", 11, 14), ("location", 18, 26)],
    ),
    "chinese": ("飞往東京的航班", {"東京": "location"}, [("location", 2, 4)]),
    "japanese": (
        "東京の天気を教えて",
        {"東京": "location", "天気": "weather/noun"},
        [("location", 0, 2), ("weather/noun", 3, 5)],
    ),
    "japanese_kana_kanji_digits": (
        "明日の朝7時に起こして",
        {"明日": "datetime", "7": "datetime", "時に": "datetime"},
        [("datetime", 0, 2), ("datetime", 4, 7)],
    ),
    "cjk_next_to_latin": ("去New York的航班", {"New": "location", "▁York": "location"}, [("location", 1, 9)]),
    "thai_unspaced": ("ตั้งนาฬิกาปลุกพรุ่งนี้ 7 โมง", {"พรุ่งนี้": "datetime", "▁7": "datetime"}, [("datetime", 14, 24)]),
    "thai_spaced": ("ตั้ง นาฬิกา ปลุก พรุ่งนี้", {"พรุ่งนี้": "datetime"}, [("datetime", 17, 25)]),
    "hindi": (
        "कल सुबह सात बजे जगाओ",
        {"▁कल": "datetime", "▁सात": "datetime", "▁बजे": "datetime"},
        [("datetime", 0, 2), ("datetime", 8, 15)],
    ),
    # The ZWJ sequence is one entity with its joiners; the emoji with a variation selector keeps the selector.
    "emoji_zwj": (
        "weather in 👩\u200d👩\u200d👧 now ☀\ufe0f in Paris",
        {"👩": "location", "👧": "location", "☀": "weather/noun", "▁Paris": "location"},
        [("location", 11, 16), ("weather/noun", 21, 23), ("location", 27, 32)],
    ),
    "combining_marks": (
        "cafe\u0301 in Montre\u0301al",
        {"▁café": "location", "▁Montréal": "location"},
        [("location", 0, 5), ("location", 9, 18)],
    ),
    "full_width": (
        "ＡＢＣ weather in ｂｏｓｔｏｎ",
        {"▁ABC": "location", "▁bo": "location"},
        [("location", 0, 3), ("location", 15, 21)],
    ),
    # Punctuation written on a word is not part of its slot; a final period is (it may end an abbreviation).
    "punctuation": (
        "¿qué tiempo hace en «Salamanca»? Vuelo a Washington D.C.",
        {"▁«": "location", "▁Washington": "location", "▁D": "location"},
        [("location", 21, 30), ("location", 41, 56)],
    ),
}


@pytest.fixture(scope="module")
def xlmr_pipeline(embedded_encoder, tmp_path_factory):
    """A tiny joint model with XLM-R's real 250k-piece tokenizer (the embedded encoder's), as a pipeline."""
    from tiny_models import build_tiny_model
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(embedded_encoder["path"])
    model = build_tiny_model(
        tokenizer, ["a", "b"], SLOT_TYPES, max_seq_length=32, hidden_size=16, num_hidden_layers=1, intermediate_size=16
    )
    path = tmp_path_factory.mktemp("xlmr_tiny_joint")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return pipeline("xnlu", model=str(path), trust_remote_code=True)


def forced_slots(xnlu, text: str, pieces: dict[str, str]) -> list[tuple[str, int, int]]:
    """The pipeline's slots when the model predicts the given type on each given piece and O everywhere else."""
    model, tokenizer = xnlu.model, xnlu.tokenizer
    forced = {
        tokenizer.convert_tokens_to_ids(piece): SLOT_TYPES.index(slot_type) for piece, slot_type in pieces.items()
    }
    assert tokenizer.unk_token_id not in forced, "a forced piece is not in the vocabulary"
    seen = {}

    def slot_logits(hidden):
        logits = torch.zeros(*hidden.shape[:2], len(SLOT_TYPES))
        logits[..., 0] = 5.0
        for token_id, label in forced.items():
            logits[seen["input_ids"] == token_id] = (
                torch.nn.functional.one_hot(torch.tensor(label), len(SLOT_TYPES)) * 9.0
            )
        return logits

    hook = model.register_forward_pre_hook(
        lambda module, args, kwargs: seen.update(input_ids=kwargs["input_ids"]), with_kwargs=True
    )
    original = model.slot_classifier.forward
    model.slot_classifier.forward = slot_logits
    try:
        result = xnlu(text)
    finally:
        model.slot_classifier.forward = original
        hook.remove()
    for slot in result["slots"]:
        assert text[slot["start"] : slot["end"]] == slot["text"]
    return [(slot["type"], slot["start"], slot["end"]) for slot in result["slots"]]


@pytest.mark.parametrize("case", sorted(EXACT_SPANS))
def test_slot_offsets_are_exactly_the_hand_written_spans(xlmr_pipeline, case):
    text, pieces, expected = EXACT_SPANS[case]
    assert forced_slots(xlmr_pipeline, text, pieces) == expected


def test_batched_equals_one_by_one(xnlu):
    texts = list(TEXTS.values())
    one_by_one = [xnlu(text) for text in texts]
    batched = xnlu(texts, batch_size=4)
    assert len(batched) == len(texts)
    for single, batch in zip(one_by_one, batched):
        assert single["intent"] == batch["intent"] and single["slots"] == [
            {**slot, "score": pytest.approx(slot["score"], abs=1e-5)} for slot in batch["slots"]
        ]
        assert single["score"] == pytest.approx(batch["score"], abs=1e-5)


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_text_gives_well_formed_result_without_slots(xnlu, text):
    result = xnlu(text)
    assert result["slots"] == [] and result["intent"] in xnlu.model.config.intent_labels


def test_long_text_is_truncated_with_warning(xnlu, caplog):
    text = " ".join(["the weather in boston"] * 40)
    with caplog.at_level(logging.WARNING):
        result = xnlu(text)
    assert "truncated" in caplog.text
    assert_well_formed(result, text, xnlu.model.config)
    read = max((slot["end"] for slot in result["slots"]), default=0)
    assert read < len(text) // 2


@pytest.mark.parametrize("bad", [3, None, b"bytes", ["ok", 5]])
def test_non_string_input_raises_type_error(xnlu, bad):
    with pytest.raises(TypeError, match="must be str"):
        xnlu(bad)


def test_generators_and_key_datasets_stream_their_results(xnlu):
    import types

    import datasets
    from transformers.pipelines.pt_utils import KeyDataset

    texts = [TEXTS["latin"], TEXTS["thai"], TEXTS["chinese"]]
    expected = xnlu(texts)
    streamed = xnlu(text for text in texts)
    assert isinstance(streamed, types.GeneratorType) or hasattr(streamed, "__next__")  # lazily, one by one
    assert [result["intent"] for result in streamed] == [result["intent"] for result in expected]
    dataset = datasets.Dataset.from_dict({"text": texts, "id": [1, 2, 3]})
    from_dataset = list(xnlu(KeyDataset(dataset, "text"), batch_size=2))
    assert [(r["intent"], r["slots"]) for r in from_dataset] == [(r["intent"], r["slots"]) for r in expected]
    with pytest.raises(TypeError, match="must be str"):
        list(xnlu(item for item in ["fine", 3]))


def test_top_k_gives_the_most_probable_intents(xnlu):
    text = TEXTS["latin"]
    default = xnlu(text)
    assert set(default) == {"intent", "score", "slots"}  # top_k=1: today's output
    ranked = xnlu(text, top_k=2)
    assert [entry["intent"] for entry in ranked["intents"]][0] == default["intent"] == ranked["intent"]
    assert len(ranked["intents"]) == 2 and ranked["intents"][0]["score"] >= ranked["intents"][1]["score"]
    every = xnlu(text, top_k=None)["intents"]
    assert len(every) == len(xnlu.model.config.intent_labels)
    assert sum(entry["score"] for entry in every) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="top_k must be a positive int"):
        xnlu(text, top_k=0)


def test_standard_pipelines_work_on_the_joint_model_in_a_fresh_process(tiny_model_dir, xnlu, tmp_path):
    """What the model card's `pipeline_tag` promises: transformers' own token-classification (slots, with
    aggregation) and text-classification (intents, with top_k) pipelines, from the saved folder's remote code."""
    text = "wake me up at seven am tomorrow in new york"
    code = f"""
import json
import torch
from transformers import pipeline
path = {str(tiny_model_dir)!r}
slots = pipeline("token-classification", model=path, trust_remote_code=True, aggregation_strategy="simple")
model = slots.model
with torch.no_grad():  # one type on every token: the slot head's bias decides
    model.slot_classifier.weight.zero_()
    model.slot_classifier.bias.copy_(torch.tensor([0.0, 0.0, 9.0, 0.0]))
intents = pipeline("text-classification", model=path, trust_remote_code=True)
print(json.dumps({{"slots": slots({text!r}), "intents": intents({text!r}, top_k=2),
                  "slot_model": type(slots.model).__name__, "intent_model": type(intents.model).__name__,
                  "slot_labels": slots.model.config.id2label, "intent_labels": intents.model.config.id2label}},
                 default=float))
"""
    result = run_fresh(code, tmp_path)
    assert result["slot_model"] == "XLMRobertaJointXNLUForTokenClassification"
    assert result["intent_model"] == "XLMRobertaJointXNLUForSequenceClassification"
    config = xnlu.model.config
    assert list(result["slot_labels"].values()) == config.slot_labels
    assert list(result["intent_labels"].values()) == config.intent_labels
    # Every token "location": aggregated into one entity over the whole text, as io_to_bio would.
    (entity,) = result["slots"]
    assert (entity["entity_group"], entity["start"], entity["end"]) == ("location", 0, len(text))
    local = xnlu(text, top_k=2)
    assert [entry["label"] for entry in result["intents"]] == [entry["intent"] for entry in local["intents"]]
    assert result["intents"][0]["score"] == pytest.approx(local["intents"][0]["score"], abs=1e-5)


def test_pipeline_in_fresh_process_matches_local(tiny_model_dir, xnlu, tmp_path):
    texts = [TEXTS["latin"], TEXTS["thai"], TEXTS["chinese"], TEXTS["emoji"]]
    code = f"""
import json
from transformers import pipeline
xnlu = pipeline("xnlu", model={str(tiny_model_dir)!r}, trust_remote_code=True)
print(json.dumps({{"cls": type(xnlu).__module__, "results": xnlu({texts!r}, batch_size=2)}}))
"""
    result = run_fresh(code, tmp_path)
    assert result["cls"].startswith("transformers_modules.")
    local = xnlu(texts)
    for remote, here in zip(result["results"], local):
        assert remote["intent"] == here["intent"] and remote["score"] == pytest.approx(here["score"], abs=1e-5)
        assert [(s["type"], s["start"], s["end"]) for s in remote["slots"]] == [
            (s["type"], s["start"], s["end"]) for s in here["slots"]
        ]
