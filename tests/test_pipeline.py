"""The `xnlu` pipeline: output format, character offsets in every script, agreement with transformers'
token-classification pipeline, words as input, long texts in windows, batching and bad input."""

import contextlib
import logging
import warnings

import pytest
import torch
from test_modeling import run_fresh
from tiny_models import SLOT_LABELS
from transformers import pipeline

from modeling_crossaligner import io_to_bio

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
        assert set(slot) == {"entity_group", "word", "start", "end", "score"}
        assert slot["entity_group"] in model_config.slot_labels[1:]
        assert 0 <= slot["start"] < slot["end"] <= len(text)
        assert text[slot["start"] : slot["end"]] == slot["word"]
        assert slot["word"] == slot["word"].strip() and slot["word"]
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
    assert [s["word"] for s in xnlu("the weather in boston")["slots"]] == ["the weather in boston"]
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


@contextlib.contextmanager
def slot_logits(model, logits_of):
    """Within the block, the slot head returns `logits_of(input_ids)` for the batch being run (the encoder still
    runs): predictions forced per token, per position in the window, or both."""
    seen = {}
    hook = model.register_forward_pre_hook(
        lambda module, args, kwargs: seen.update(input_ids=kwargs["input_ids"]), with_kwargs=True
    )
    original = model.slot_classifier.forward
    model.slot_classifier.forward = lambda hidden: logits_of(seen["input_ids"])
    try:
        yield
    finally:
        model.slot_classifier.forward = original
        hook.remove()


def one_hot_logits(labels: torch.Tensor, num_labels: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(labels, num_labels).float() * 9.0


def by_token(tokenizer, pieces: dict[str, int], num_labels: int):
    """Logits that give each listed piece its label and every other token label 0 (O)."""
    forced = {tokenizer.convert_tokens_to_ids(piece): label for piece, label in pieces.items()}
    assert tokenizer.unk_token_id not in forced, "a forced piece is not in the vocabulary"

    def logits_of(input_ids):
        labels = torch.zeros_like(input_ids)
        for token_id, label in forced.items():
            labels[input_ids == token_id] = label
        return one_hot_logits(labels, num_labels)

    return logits_of


def _unit_spans(xnlu, text):
    """Run the pipeline with a slot head that alternates two types by token position, returning the slot texts."""

    def alternating(input_ids):
        labels = torch.ones_like(input_ids)
        labels[:, 1::2] = 2
        return one_hot_logits(labels, len(xnlu.model.config.slot_labels))

    with slot_logits(xnlu.model, alternating):
        return [slot["word"] for slot in xnlu(text)["slots"]]


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
    labels = {piece: SLOT_TYPES.index(slot_type) for piece, slot_type in pieces.items()}
    with slot_logits(xnlu.model, by_token(xnlu.tokenizer, labels, len(SLOT_TYPES))):
        result = xnlu(text)
    for slot in result["slots"]:
        assert text[slot["start"] : slot["end"]] == slot["word"]
    return [(slot["entity_group"], slot["start"], slot["end"]) for slot in result["slots"]]


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
    assert "truncated" in caplog.text and "stride=" in caplog.text
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
        assert [(s["entity_group"], s["start"], s["end"]) for s in remote["slots"]] == [
            (s["entity_group"], s["start"], s["end"]) for s in here["slots"]
        ]


# -- transformers' token-classification pipeline on the same model -------------------------------------------------

ONE_PIECE_WORDS = "wake me up at seven am tomorrow in new york"  # every word is one piece of the tiny vocabulary
SUB_WORDS = "wake me up in seattle tomorrow at seven am"  # "seattle" is seven pieces: ▁s e a t t l e


@pytest.fixture(scope="module")
def compared_model_dir(tiny_model_dir, tiny_tokenizer, tmp_path_factory):
    """The tiny model with its slot head leaning a little to "O", so that the sentences below have outside words,
    slots of several types, and sub-words ("seattle"'s) that `first` and `average` read differently."""
    from modeling_crossaligner import XLMRobertaForJointXNLU

    model = XLMRobertaForJointXNLU.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        model.slot_classifier.bias[0] += 0.1
    path = tmp_path_factory.mktemp("compared_model")
    model.save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def compared(compared_model_dir):
    return pipeline("xnlu", model=str(compared_model_dir), trust_remote_code=True)


@pytest.fixture(scope="module")
def token_classifier(compared_model_dir):
    return pipeline("token-classification", model=str(compared_model_dir), trust_remote_code=True)


def token_classification(token_classifier, inputs, **kwargs):
    with warnings.catch_warnings():
        # Its word heuristic for tokenizers without a sub-word prefix warns on every token.
        warnings.filterwarnings("ignore", "Tokenizer does not support real words")
        return token_classifier(inputs, **kwargs)


def test_the_compared_model_reads_the_sub_words_differently(compared):
    """So that the comparisons below tell `first`, `average` and `max` apart and see outside words."""
    first, average = (
        [
            (s["entity_group"], s["word"])
            for s in compared(SUB_WORDS, aggregation_strategy=strategy, ignore_labels=[])["slots"]
        ]
        for strategy in ("first", "average")
    )
    assert ("datetime", "in seattle") in first and ("location", "seattle") in average
    assert ("O", "wake me") in first


@pytest.mark.parametrize("ignore_labels", [None, []])
@pytest.mark.parametrize(
    ("strategy", "text"),
    [("simple", ONE_PIECE_WORDS), ("first", SUB_WORDS), ("average", SUB_WORDS), ("max", SUB_WORDS)],
)
def test_slots_are_the_entities_of_the_token_classification_pipeline(
    compared, token_classifier, strategy, text, ignore_labels
):
    """Same labels, offsets and scores as transformers' entities, with its default `ignore_labels` and with none
    ignored (then the outside words come as "O" groups in both). transformers' `simple` labels every sub-word on its
    own, so it is compared on words of one piece."""
    kwargs = {"aggregation_strategy": strategy} | ({} if ignore_labels is None else {"ignore_labels": ignore_labels})
    theirs = token_classification(token_classifier, text, **kwargs)
    ours = compared(text, **kwargs)["slots"]
    assert [(e["entity_group"], e["start"], e["end"]) for e in ours] == [
        (e["entity_group"], e["start"], e["end"]) for e in theirs
    ]
    assert [e["score"] for e in ours] == pytest.approx([float(e["score"]) for e in theirs], abs=1e-6)
    assert all(e["word"] == text[e["start"] : e["end"]] for e in ours)
    if strategy == "simple":  # with word aggregation transformers glues the words' text ("me up" -> "meup")
        assert [e["word"] for e in ours] == [e["word"] for e in theirs]
    if ignore_labels == []:
        assert "O" in {e["entity_group"] for e in ours}


def test_none_gives_each_word_with_its_tag_where_the_token_pipeline_gives_each_token(compared, token_classifier):
    text = ONE_PIECE_WORDS
    theirs = token_classification(token_classifier, text, aggregation_strategy="none", ignore_labels=[])
    ours = compared(text, aggregation_strategy="none", ignore_labels=[])["slots"]
    assert len(ours) == len(text.split()) == len(theirs)
    assert [(e["entity"].split("-", 1)[-1], e["start"], e["end"], e["word"]) for e in ours] == [
        (e["entity"], e["start"], e["end"], e["word"].lstrip("▁")) for e in theirs
    ]
    assert [e["score"] for e in ours] == pytest.approx([float(e["score"]) for e in theirs], abs=1e-6)
    assert [e["index"] for e in ours] == list(range(len(ours)))
    # BIO tags, restored from the IO labels as the scores read them; "O" is left out by default.
    tags = [e["entity"] for e in ours]
    assert tags == io_to_bio([tag.split("-", 1)[-1] for tag in tags])
    default = compared(text, aggregation_strategy="none")["slots"]
    assert "O" in tags and default == [e for e in ours if e["entity"] != "O"]


def test_words_in_give_offsets_over_the_words_joined_by_spaces(compared, token_classifier):
    words = SUB_WORDS.split()
    for strategy in ("first", "average"):
        theirs = token_classification(token_classifier, words, is_split_into_words=True, aggregation_strategy=strategy)
        (theirs,) = theirs  # transformers answers one list of words with a list of one result
        ours = compared(words, is_split_into_words=True, aggregation_strategy=strategy)
        assert [(e["entity_group"], e["start"], e["end"]) for e in ours["slots"]] == [
            (e["entity_group"], e["start"], e["end"]) for e in theirs
        ]
        # The same as the text the words were split from.
        assert ours == compared(" ".join(words), aggregation_strategy=strategy)


def test_words_in_are_the_units_in_every_script(xnlu):
    """Each given word is one unit, as the datasets' words are in training, also in scripts written without spaces
    (where a text's units are sub-words); `none` then gives one entry per word, at the word's index."""
    words = ["明天北京", "天气", "in", "", "seattle?"]
    entries = xnlu(words, is_split_into_words=True, aggregation_strategy="none", ignore_labels=[])["slots"]
    # The empty word has no token, so no entry; the others come back as written, at their index.
    assert [(e["index"], e["word"]) for e in entries] == [(0, "明天北京"), (1, "天气"), (2, "in"), (4, "seattle?")]
    joined = " ".join(words)
    assert all(joined[e["start"] : e["end"]] == e["word"] for e in entries)
    text_units = xnlu("明天北京 天气", aggregation_strategy="none", ignore_labels=[])["slots"]
    assert [e["word"] for e in text_units] == ["明天", "北京", "天气"]


def rounded(results):
    """Results with scores to 5 places: batches pad, which moves float sums in the last digits."""
    if isinstance(results, list):
        return [rounded(result) for result in results]
    return {
        key: round(value, 5) if key == "score" else rounded(value) if isinstance(value, list) else value
        for key, value in results.items()
    }


def test_words_in_batches_and_streams(xnlu):
    sentences = [SUB_WORDS.split(), ["明天", "北京", "天气"], []]
    batched = rounded(xnlu(sentences, is_split_into_words=True, batch_size=2))
    assert rounded(list(xnlu((words for words in sentences), is_split_into_words=True))) == batched
    # One by one; an empty list alone is an empty batch, so the sentence without words is checked on its own.
    assert rounded([xnlu(words, is_split_into_words=True) for words in sentences[:2]]) == batched[:2]
    assert batched[2]["slots"] == [] and batched[2]["intent"] in xnlu.model.config.intent_labels
    with pytest.raises(TypeError, match="is_split_into_words=True must be a list of words"):
        xnlu(SUB_WORDS, is_split_into_words=True)
    with pytest.raises(TypeError, match="is_split_into_words=True must be a list of words"):
        xnlu([["fine"], "not a list"], is_split_into_words=True)


def test_an_empty_list_gives_an_empty_list(xnlu):
    assert xnlu([]) == []
    assert xnlu([], is_split_into_words=True) == []


# -- long texts: overlapping windows -------------------------------------------------------------------------------

REPEATED = "the weather in boston"  # four one-piece words


def test_stride_reads_a_long_text_whole_in_windows(xnlu, caplog):
    """With predictions that depend on the token only, windows of 8 tokens give what one window over the whole text
    gives, slots that run across window boundaries included, and no truncation."""
    text = " ".join([REPEATED] * 7)  # 28 tokens: within the tiny model's 32 positions, so one window can read it
    pieces = {"▁weather": 2, "▁in": 2, "▁boston": 2, "▁the": 1}
    with slot_logits(xnlu.model, by_token(xnlu.tokenizer, pieces, len(SLOT_LABELS))):
        whole = xnlu(text, max_length=30)
        with caplog.at_level(logging.WARNING):
            windowed = xnlu(text, max_length=10, stride=3)
        batched = xnlu([text, "the weather"], max_length=10, stride=3, batch_size=3)
    assert len(whole["slots"]) == 14 and whole["slots"][-1]["end"] == len(text)
    assert windowed["slots"] == whole["slots"] and "truncated" not in caplog.text
    assert rounded(batched[0]) == rounded(windowed)


def test_each_token_is_read_from_the_window_where_it_has_most_context(xnlu):
    """A slot head that says `datetime` on the 3 tokens at either edge of a window and `location` elsewhere: merged
    right, only the 3 tokens at either end of the text keep `datetime` (a token near a window's edge is read from the
    next window, where it is further in)."""
    text = " ".join([REPEATED] * 8)  # 32 tokens; windows of 14 shifted by 6 start at 0, 6, 12, 18

    def edges_are_datetime(input_ids):
        positions = torch.arange(input_ids.shape[1])
        margin = torch.minimum(positions - 1, input_ids.shape[1] - 2 - positions)  # within the text tokens
        labels = torch.where(margin < 3, 1, 2).expand_as(input_ids)
        return one_hot_logits(labels, len(SLOT_LABELS))

    with slot_logits(xnlu.model, edges_are_datetime):
        slots = xnlu(text, max_length=16, stride=8)["slots"]
    words = text.split()
    assert [(s["entity_group"], s["word"]) for s in slots] == [
        ("datetime", " ".join(words[:3])),
        ("location", " ".join(words[3:-3])),
        ("datetime", " ".join(words[-3:])),
    ]


def test_with_stride_the_intent_is_the_first_windows(xnlu):
    text = " ".join([REPEATED] * 10)
    windowed = xnlu(text, max_length=16, stride=4, top_k=None)
    first_window = xnlu(text, max_length=16, top_k=None)  # truncated: reads exactly the first window
    assert windowed["intent"] == first_window["intent"]
    assert windowed["intents"] == first_window["intents"]
    assert windowed["slots"][-1]["end"] > first_window["slots"][-1]["end"]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"stride": 14, "max_length": 16}, ValueError, "stride=14 must be less than the 14 text tokens"),
        ({"stride": -1}, ValueError, "stride must be a non-negative int"),
        ({"max_length": 2}, ValueError, "max_length must be an int of at least 3"),
        ({"aggregation_strategy": "longest"}, ValueError, "aggregation_strategy must be one of 'none', 'simple'"),
        ({"ignore_labels": ["locaton"]}, ValueError, r"ignore_labels \['locaton'\] are not slot labels"),
        ({"ignore_labels": "O"}, ValueError, "ignore_labels must be a list of slot labels"),
        ({"is_split_into_words": "yes"}, ValueError, "is_split_into_words must be True or False"),
        ({"delimiter": " "}, TypeError, r"unexpected xnlu pipeline arguments: \['delimiter'\]"),
    ],
)
def test_bad_arguments_are_named(xnlu, kwargs, error, message):
    with pytest.raises(error, match=message):
        xnlu(REPEATED, **kwargs)


def test_ignore_labels_leaves_out_those_slots(compared):
    every = compared(SUB_WORDS, ignore_labels=[])["slots"]
    assert {"O", "datetime", "location"} <= {slot["entity_group"] for slot in every}
    # Nothing ignored: the groups cover every word, in order.
    assert " ".join(slot["word"] for slot in every) == SUB_WORDS
    without_location = compared(SUB_WORDS, ignore_labels=["O", "location"])["slots"]
    assert without_location == [slot for slot in every if slot["entity_group"] == "datetime"]


def test_arguments_given_at_creation_hold_for_every_call(tiny_model_dir):
    xnlu = pipeline("xnlu", model=str(tiny_model_dir), trust_remote_code=True, aggregation_strategy="none", top_k=2)
    result = xnlu(ONE_PIECE_WORDS)
    assert len(result["intents"]) == 2 and all("entity" in entry for entry in result["slots"])
    assert "intents" not in xnlu(ONE_PIECE_WORDS, top_k=1)
