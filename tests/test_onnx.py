"""ONNX export (export_onnx.py), int8 quantization, and the ONNX Runtime backend of the `xnlu` pipeline and of
run_xnlu.py's scoring: the same intents, slot spans and offsets as PyTorch, and clear errors."""

import hashlib
import json
import shutil
import sys

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from test_modeling import run_fresh
from test_run_xnlu import write_mtod
from tiny_models import INTENTS, SLOT_LABELS, build_tiny_model
from transformers import pipeline

import export_onnx
import run_xnlu
from modeling_crossaligner import ONNX_FILES, OnnxRuntimeJointXNLU, XLMRobertaForJointXNLU
from push_to_hub import select_files

# Utterances in several scripts, of different lengths (padded batches), with words the tiny tokenizer knows.
TEXTS = [
    "wake me up at seven am tomorrow in new york",
    "what is the weather in boston",
    "pon las alarma a las siete mañana",
    "weck mich um sieben uhr",
    "réveille moi à sept heures",
    "明天北京天气",
    "ตั้งนาฬิกาปลุก พรุ่งนี้",
    "कल मौसम नमस्ते",
    "book a flight from 美国 to denver",
]


def file_hashes(folder):
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def model_dir(tiny_tokenizer, tmp_path_factory):
    """A saved tiny joint model whose heads are initialised widely enough that its predictions are decisive (slots
    of every type, different intents), so that int8 rounding is not a coin toss."""
    path = tmp_path_factory.mktemp("onnx_model")
    model = build_tiny_model(tiny_tokenizer, INTENTS, SLOT_LABELS, seed=1, initializer_range=0.6)
    model.save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def exported(model_dir):
    before = file_hashes(model_dir)
    export = export_onnx.export_onnx(model_dir, quantize=True)
    return model_dir, export, before


def test_export_writes_both_graphs_and_touches_nothing_else(exported):
    model_dir, export, before = exported
    after = file_hashes(model_dir)
    assert sorted(set(after) - set(before)) == sorted(ONNX_FILES.values())
    assert {name: after[name] for name in before} == before, "a PyTorch file changed"
    assert export.model_path == model_dir / "onnx" / "model.onnx"
    assert export.quantized_path == model_dir / "onnx" / "model_quantized.onnx"


def test_graph_has_dynamic_batch_and_sequence_axes_and_only_the_logits(exported):
    model_dir, _, _ = exported
    graph = onnx.load(str(model_dir / ONNX_FILES["onnx"]))
    onnx.checker.check_model(graph)
    assert graph.opset_import[0].version == export_onnx.DEFAULT_OPSET

    def dims(value):
        return [dim.dim_param or dim.dim_value for dim in value.type.tensor_type.shape.dim]

    assert {value.name: dims(value) for value in graph.graph.input} == {
        "input_ids": ["batch", "sequence"],
        "attention_mask": ["batch", "sequence"],
    }
    assert {value.name: dims(value) for value in graph.graph.output} == {
        "intent_logits": ["batch", len(INTENTS)],
        "slot_logits": ["batch", "sequence", len(SLOT_LABELS)],
    }


def test_exported_logits_match_pytorch_and_int8_stays_close(exported):
    _, export, _ = exported
    assert export.check.max_intent_logit_difference < 1e-4
    assert export.check.max_slot_logit_difference < 1e-4
    assert export.check.same_intents == export.check.same_slot_labels == 1.0
    # int8 rounds: close, not equal (a tiny random model is fragile under int8; a real one: BENCHMARKS.md).
    assert export.quantized_check.max_slot_logit_difference > export.check.max_slot_logit_difference
    assert export.quantized_check.same_slot_labels >= 0.9


# 2 layers x (q, k, v, attention output, intermediate, output) + pooler + intent and slot heads.
LINEAR_LAYERS = 2 * 6 + 3


def test_quantized_graph_has_int8_linear_layers_and_embeddings(exported):
    model_dir, export, _ = exported
    # Activations quantized per token (QuantizeLinear along the rows), the products in ONNX Runtime's fused operator.
    assert export.quantized_operators["MatMulIntegerToFloat"] == LINEAR_LAYERS
    assert export.quantized_operators["QuantizeLinear"] > 0
    assert "DynamicQuantizeLinear" not in export.quantized_operators
    # The 3 embedding tables: 8-bit rows, dequantized after the Gather.
    assert export.quantized_operators["DequantizeLinear"] == 3
    tables = {t.name: t.data_type for t in onnx.load(str(export.quantized_path)).graph.initializer}
    eight_bits = (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)
    assert tables["model.roberta.embeddings.word_embeddings.weight_quantized"] in eight_bits
    assert "model.roberta.embeddings.word_embeddings.weight" not in tables
    # Weights get a scale per output channel (per tensor costs much more accuracy: BENCHMARKS.md section 5).
    graph = onnx.load(str(export.quantized_path)).graph
    shapes = {t.name: list(t.dims) for t in graph.initializer}
    # MatMulIntegerToFloat(A, B, A's scale, B's scale, A's zero point, B's zero point): B's zero point has one entry
    # per output channel.
    weight_zero_points = [shapes[n.input[5]] for n in graph.node if n.op_type == "MatMulIntegerToFloat"]
    assert len(weight_zero_points) == LINEAR_LAYERS and all(dims and dims[0] > 1 for dims in weight_zero_points)
    assert (model_dir / ONNX_FILES["onnx-int8"]).stat().st_size < (model_dir / ONNX_FILES["onnx"]).stat().st_size


def test_keep_fp32_leaves_the_named_modules_unquantized(exported, tmp_path):
    _, export, _ = exported
    quantized = tmp_path / "partly_fp32.onnx"
    kept = export_onnx.quantize_int8(export.model_path, quantized, ("roberta.embeddings", "slot_classifier"))
    assert kept
    counts = export_onnx.quantized_operator_counts(quantized)
    assert counts["MatMulIntegerToFloat"] == LINEAR_LAYERS - 1  # the slot head
    assert "DequantizeLinear" not in counts  # no 8-bit embedding table
    tables = {t.name: t.data_type for t in onnx.load(str(quantized)).graph.initializer}
    assert tables["model.roberta.embeddings.word_embeddings.weight"] == onnx.TensorProto.FLOAT
    with pytest.raises(ValueError, match=r"keep_fp32: no module \['classifier'\]"):
        export_onnx.quantize_int8(export.model_path, tmp_path / "x.onnx", ("classifier",))


def logits(path, tokenizer, texts):
    feeds = dict(tokenizer(list(texts), padding=True, return_tensors="np"))
    feeds = {name: feeds[name].astype(np.int64) for name in ("input_ids", "attention_mask")}
    return onnxruntime.InferenceSession(str(path)).run(["intent_logits", "slot_logits"], feeds)


@pytest.fixture(scope="module")
def per_batch(exported, tmp_path_factory):
    """The int8 graph as quantize_dynamic writes it: one activation scale per batch."""
    path = tmp_path_factory.mktemp("per_batch") / "per_batch.onnx"
    export_onnx.quantize_int8(exported[1].model_path, path, int8_activations="per_batch")
    return path


def test_per_batch_activations_are_quantize_dynamics_graph(per_batch):
    counts = export_onnx.quantized_operator_counts(per_batch)
    assert counts["MatMulInteger"] == LINEAR_LAYERS and counts["DynamicQuantizeLinear"] > 0
    assert "MatMulIntegerToFloat" not in counts and "QuantizeLinear" not in counts
    assert {entry.domain for entry in onnx.load(str(per_batch)).opset_import} <= {"", "ai.onnx"}


def test_per_token_activations_do_not_depend_on_the_batch(exported, per_batch, tiny_tokenizer):
    _, export, _ = exported
    alone = {
        path: [logits(path, tiny_tokenizer, [text]) for text in TEXTS] for path in (export.quantized_path, per_batch)
    }
    together = {path: logits(path, tiny_tokenizer, TEXTS) for path in (export.quantized_path, per_batch)}

    def batch_difference(path):
        """The largest change of an utterance's logits between running it alone and in the padded batch."""
        return max(
            max(
                np.abs(together[path][0][index] - intents[0]).max(),
                np.abs(together[path][1][index, : slots.shape[1]] - slots[0]).max(),
            )
            for index, (intents, slots) in enumerate(alone[path])
        )

    # Each token's scale is its own: the other utterances of a batch, and the padding, change nothing. (That it is
    # closer to fp32 is measured on a trained model, BENCHMARKS.md section 5: a tiny random one is no judge of it.)
    assert batch_difference(export.quantized_path) < 1e-4
    assert batch_difference(per_batch) > 1e-2


def test_per_token_activations_before_opset_18(exported, tiny_tokenizer, tmp_path):
    """Before opset 18 ReduceMax takes its axes as an attribute; the graph computes the same as at opset 18."""
    model_dir = tmp_path / "opset17"
    shutil.copytree(exported[0], model_dir)
    export = export_onnx.export_onnx(model_dir, quantize=True, opset=17)
    graph = onnx.load(str(export.quantized_path))
    assert {entry.domain: entry.version for entry in graph.opset_import} == {"": 17, "com.microsoft": 1}
    reductions = [node for node in graph.graph.node if node.op_type == "ReduceMax"]
    assert reductions and all(len(node.input) == 1 and node.attribute[0].name == "axes" for node in reductions)
    at_17, at_18 = (logits(path, tiny_tokenizer, TEXTS) for path in (export.quantized_path, exported[1].quantized_path))
    np.testing.assert_allclose(at_17[1], at_18[1], atol=1e-4)


def test_per_token_rewrite_refuses_a_graph_it_does_not_know():
    """A DynamicQuantizeLinear whose output feeds something else than MatMulInteger is not quantize_dynamic's; the
    graph is left as it was, the quantization before it (quantize_dynamic's pattern) included."""
    from onnx import TensorProto, helper, numpy_helper

    from int8_per_token import UnexpectedQuantizedGraph, per_token_activations

    weights = [
        numpy_helper.from_array(np.ones((4, 3), np.int8), "w"),
        numpy_helper.from_array(np.zeros(3, np.int8), "w_zero_point"),
        numpy_helper.from_array(np.full(3, 0.1, np.float32), "w_scale"),
    ]
    graph = helper.make_graph(
        [
            helper.make_node("DynamicQuantizeLinear", ["x"], ["x_q", "x_scale", "x_zero_point"], name="known"),
            helper.make_node("MatMulInteger", ["x_q", "w", "x_zero_point", "w_zero_point"], ["p"], name="product"),
            helper.make_node("Cast", ["p"], ["p_float"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["x_scale", "w_scale"], ["scales"]),
            helper.make_node("Mul", ["p_float", "scales"], ["y"]),
            helper.make_node("DynamicQuantizeLinear", ["y"], ["y_q", "y_scale", "y_zero_point"], name="unknown"),
            helper.make_node("DequantizeLinear", ["y_q", "y_scale", "y_zero_point"], ["z"]),
        ],
        "half_known",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2, 3])],
        initializer=weights,
    )
    model = helper.make_model(graph)
    before = model.SerializeToString()
    with pytest.raises(UnexpectedQuantizedGraph, match="y_q: expected to be read by MatMulInteger nodes"):
        per_token_activations(model)
    assert model.SerializeToString() == before


def test_blockwise_int8_weights_are_matmulnbits_and_closer_to_fp32(exported, per_batch, tiny_tokenizer, tmp_path):
    _, export, _ = exported
    blockwise = tmp_path / "blockwise.onnx"
    export_onnx.quantize_int8(export.model_path, blockwise, int8_weights="blockwise")
    counts = export_onnx.quantized_operator_counts(blockwise)
    # Every linear layer but the pooler's and the intent head's (2-D Gemm nodes, left in fp32); no 8-bit table.
    assert counts == {"MatMulNBits": LINEAR_LAYERS - 2}
    fp32, by_batch, by_block = (
        logits(path, tiny_tokenizer, TEXTS)[1] for path in (export.model_path, per_batch, blockwise)
    )
    assert np.abs(by_block - fp32).max() < np.abs(by_batch - fp32).max()
    with pytest.raises(ValueError, match=r"int8_weights: 'int4' is not one of per_channel, blockwise"):
        export_onnx.quantize_int8(export.model_path, tmp_path / "x.onnx", int8_weights="int4")
    with pytest.raises(ValueError, match=r"int8_activations: 'per_row' is not one of per_token, per_batch"):
        export_onnx.quantize_int8(export.model_path, tmp_path / "x.onnx", int8_activations="per_row")
    with pytest.raises(ValueError, match=r"int8_activations applies to per_channel weights"):
        export_onnx.quantize_int8(
            export.model_path, tmp_path / "x.onnx", int8_weights="blockwise", int8_activations="per_batch"
        )
    assert not (tmp_path / "x.onnx").exists()


@pytest.fixture(scope="module")
def torch_pipeline(exported):
    return pipeline("xnlu", model=str(exported[0]), trust_remote_code=True)


@pytest.mark.parametrize("batch_size", [1, 4])
def test_onnx_pipeline_gives_pytorchs_intents_slots_and_offsets(exported, torch_pipeline, batch_size):
    onnx_pipeline = pipeline("xnlu", model=str(exported[0]), trust_remote_code=True, runtime="onnx")
    assert type(onnx_pipeline.runtime_model).__name__ == "OnnxRuntimeJointXNLU"  # the folder's copy of the class
    expected = torch_pipeline(TEXTS, batch_size=batch_size, top_k=2)
    actual = onnx_pipeline(TEXTS, batch_size=batch_size, top_k=2)
    assert sum(len(result["slots"]) for result in expected) >= len(TEXTS), "the test model predicts too few slots"
    assert len({result["intent"] for result in expected}) > 1
    for want, got in zip(expected, actual):
        assert got["intent"] == want["intent"]
        assert [i["intent"] for i in got["intents"]] == [i["intent"] for i in want["intents"]]
        spans = [(slot["entity_group"], slot["start"], slot["end"], slot["word"]) for slot in got["slots"]]
        assert spans == [(slot["entity_group"], slot["start"], slot["end"], slot["word"]) for slot in want["slots"]]
        assert got["score"] == pytest.approx(want["score"], abs=1e-5)
        assert [s["score"] for s in got["slots"]] == pytest.approx([s["score"] for s in want["slots"]], abs=1e-5)


def test_onnx_pipeline_without_reading_the_pytorch_weights(exported):
    """With the model on "meta" (its weights never read), ONNX Runtime still gets its inputs on the CPU."""
    with_weights = pipeline("xnlu", model=str(exported[0]), trust_remote_code=True, runtime="onnx")
    without = pipeline(
        "xnlu", model=str(exported[0]), trust_remote_code=True, runtime="onnx", model_kwargs={"device_map": "meta"}
    )
    assert {parameter.device.type for parameter in without.model.parameters()} == {"meta"}
    assert without(TEXTS, batch_size=4, top_k=2) == with_weights(TEXTS, batch_size=4, top_k=2)


def test_int8_pipeline_gives_the_same_format_and_nearly_the_same_predictions(exported, torch_pipeline):
    int8_pipeline = pipeline("xnlu", model=str(exported[0]), trust_remote_code=True, runtime="onnx-int8")
    expected, actual = torch_pipeline(TEXTS, batch_size=4), int8_pipeline(TEXTS, batch_size=4)
    assert [result["intent"] for result in actual] == [result["intent"] for result in expected]
    for text, result in zip(TEXTS, actual):
        assert set(result) == {"intent", "score", "slots"}
        assert all(text[slot["start"] : slot["end"]] == slot["word"] for slot in result["slots"])
    spans = [{(s["entity_group"], s["start"], s["end"]) for s in result["slots"]} for result in (*expected, *actual)]
    same = sum(len(a & b) for a, b in zip(spans[: len(TEXTS)], spans[len(TEXTS) :]))
    # A tiny random model is fragile under int8 (a real one: BENCHMARKS.md); most spans still survive.
    assert same >= 0.5 * sum(len(a) for a in spans[: len(TEXTS)])


def test_onnx_pipeline_runs_from_the_model_folder_alone(exported, tmp_path):
    """The folder's own copy of modeling_crossaligner.py, in a process that cannot import the project."""
    code = f"""
import json
from transformers import pipeline
xnlu = pipeline("xnlu", model={str(exported[0])!r}, trust_remote_code=True, runtime="onnx")
print(json.dumps(xnlu("wake me up at seven am")))
"""
    result = run_fresh(code, tmp_path)
    expected = pipeline("xnlu", model=str(exported[0]), trust_remote_code=True)("wake me up at seven am")
    assert result["intent"] == expected["intent"]
    assert [(s["start"], s["end"]) for s in result["slots"]] == [(s["start"], s["end"]) for s in expected["slots"]]


# -- scoring with run_xnlu.py ---------------------------------------------------------------------------------------


def score(model_dir, data_dir, output_dir, *extra):
    return run_xnlu.main(
        [
            "--model_name_or_path",
            str(model_dir),
            "--dataset",
            "mtod",
            "--data_dir",
            str(data_dir),
            "--output_dir",
            str(output_dir),
            "--do_eval",
            "--do_predict",
            "--bf16",
            "false",
            "--report_to",
            "none",
            *extra,
        ]
    )


def test_run_xnlu_scores_on_onnx_runtime_as_on_pytorch(exported, tmp_path):
    model_dir = exported[0]
    data_dir = write_mtod(tmp_path / "mtod", copies=1)
    torch_results = score(model_dir, data_dir, tmp_path / "torch")
    onnx_results = score(model_dir, data_dir, tmp_path / "onnx", "--runtime", "onnx")
    assert onnx_results.runtime == "onnx" and onnx_results.numeric_precision == "fp32"
    assert torch_results.runtime is None
    assert json.loads((tmp_path / "onnx" / "results.json").read_text())["runtime"] == "onnx"
    assert onnx_results.languages == torch_results.languages
    for language in ("en", "es", "de"):
        name = f"predictions_{language}.jsonl"
        assert (tmp_path / "onnx" / name).read_text() == (tmp_path / "torch" / name).read_text()
    losses = {
        runtime: json.loads((tmp_path / runtime / "predict_results.json").read_text())["predict_es_loss"]
        for runtime in ("torch", "onnx")
    }
    assert losses["onnx"] == pytest.approx(losses["torch"], abs=1e-5)
    int8_results = score(model_dir, data_dir, tmp_path / "int8", "--runtime", "onnx-int8")
    assert int8_results.numeric_precision == "int8" and set(int8_results.languages) == {"en", "es", "de"}


# -- errors ---------------------------------------------------------------------------------------------------------


def test_missing_onnx_file_says_how_to_export_it(model_dir, tmp_path):
    bare = tmp_path / "no_onnx"
    shutil.copytree(model_dir, bare, ignore=shutil.ignore_patterns("onnx"))
    with pytest.raises(FileNotFoundError, match=r"has no onnx/model_quantized.onnx .*export_onnx.py .* --quantize"):
        pipeline("xnlu", model=str(bare), trust_remote_code=True, runtime="onnx-int8")
    data_dir = write_mtod(tmp_path / "mtod", copies=1)
    with pytest.raises(run_xnlu.UsageError, match=r"--runtime onnx: .*has no onnx/model.onnx"):
        score(bare, data_dir, tmp_path / "scored", "--runtime", "onnx")


def test_missing_onnxruntime_is_a_clear_error(exported, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r"runtime='onnx' needs ONNX Runtime: pip install onnxruntime"):
        OnnxRuntimeJointXNLU.from_pretrained(str(exported[0]), "onnx")


def test_unknown_runtime_and_model_without_folder_are_refused(exported, tiny_model, tiny_tokenizer):
    with pytest.raises(ValueError, match=r"runtime must be one of \['torch', 'onnx', 'onnx-int8'\], got 'tensorrt'"):
        pipeline("xnlu", model=str(exported[0]), trust_remote_code=True, runtime="tensorrt")
    built = build_tiny_model(tiny_tokenizer, INTENTS, SLOT_LABELS)  # made in memory: no folder to read onnx/ from
    with pytest.raises(ValueError, match=r"reads the model's onnx/model.onnx: pass the model as a folder or Hub id"):
        pipeline("xnlu", model=built, tokenizer=tiny_tokenizer, runtime="onnx")


def test_runtime_onnx_cannot_train(tiny_encoder, tmp_path, capsys):
    data_dir = write_mtod(tmp_path / "mtod", copies=1)
    argv = ["--dataset", "mtod", "--data_dir", str(data_dir), "--model_name_or_path", str(tiny_encoder)]
    assert run_xnlu.cli([*argv, "--output_dir", str(tmp_path / "out"), "--runtime", "onnx"]) == 2
    assert "--runtime onnx scores an exported model: train with the default --runtime torch" in capsys.readouterr().err


def test_export_command_line_errors(tmp_path, capsys):
    assert export_onnx.main([str(tmp_path)]) == 1
    assert f"{tmp_path} has no config.json: expected a trained model folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        export_onnx.main([str(tmp_path), "--keep_fp32", "intent_classifier"])
    assert "--keep_fp32 applies to --quantize" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        export_onnx.main([str(tmp_path), "--int8_weights", "blockwise"])
    assert "--int8_weights applies to --quantize" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        export_onnx.main([str(tmp_path), "--int8_activations", "per_batch"])
    assert "--int8_activations applies to --quantize" in capsys.readouterr().err


def test_publishing_uploads_the_onnx_folder(exported, tmp_path):
    model_dir = tmp_path / "published"
    shutil.copytree(exported[0], model_dir)
    (model_dir / "README.md").write_text("card\n")
    (model_dir / "onnx" / ".model.onnx.123.tmp").write_text("an export being written\n")
    uploaded, _ = select_files(model_dir)
    assert {name for name in uploaded if name.startswith("onnx/")} == set(ONNX_FILES.values())


def test_onnx_model_is_called_like_the_pytorch_model(exported):
    """Padded batches and labels: the same logits on real tokens, and the same losses."""
    model_dir, _, _ = exported
    onnx_model = OnnxRuntimeJointXNLU.from_pretrained(str(model_dir), "onnx")
    torch_model = XLMRobertaForJointXNLU.from_pretrained(model_dir).eval()
    ids = torch.tensor([[0, 5, 6, 7, 2], [0, 8, 2, 1, 1]])
    mask = (ids != 1).long()
    labels = {"intent_labels": torch.tensor([0, 2]), "slot_labels": torch.tensor([[-100, 1, 0, 2, -100]] * 2)}
    with torch.no_grad():
        expected = torch_model(input_ids=ids, attention_mask=mask, **labels)
    actual = onnx_model(input_ids=ids, attention_mask=mask, **labels)
    assert torch.allclose(actual.intent_logits, expected.intent_logits, atol=1e-5)
    assert torch.allclose(actual.slot_logits[mask.bool()], expected.slot_logits[mask.bool()], atol=1e-5)
    for name in ("loss", "intent_loss", "slot_loss"):
        assert float(actual[name]) == pytest.approx(float(expected[name]), abs=1e-5), name
