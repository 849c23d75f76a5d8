#!/usr/bin/env python
# Copyright 2026 The CrossAligner XNLU authors. Apache-2.0.
"""Export a trained joint model to ONNX for ONNX Runtime, and optionally quantize it to int8.

    python export_onnx.py MODEL_DIR [--quantize [--int8_weights per_channel|blockwise]
                                     [--int8_activations per_token|per_batch] [--keep_fp32 MODULE ...]]

Writes `MODEL_DIR/onnx/model.onnx` (and with `--quantize` `MODEL_DIR/onnx/model_quantized.onnx`), the layout
optimum and transformers.js read; nothing else in MODEL_DIR is touched. The graph takes `input_ids` and
`attention_mask` (dynamic batch and sequence axes) and returns `intent_logits` and `slot_logits`: what the `xnlu`
pipeline and scoring read. It is checked with `onnx.checker`, and ONNX Runtime's outputs are compared with PyTorch's on
utterances in several scripts (the maximum absolute difference is reported; the export fails past `FP32_TOLERANCE`).

Then `pipeline("xnlu", model=MODEL_DIR, trust_remote_code=True, runtime="onnx")` (or `"onnx-int8"`) and
`run_xnlu.py --model_name_or_path MODEL_DIR --runtime onnx --do_predict ...` run the model on ONNX Runtime.
Needs the `onnx` extra: `pip install -e ".[onnx]"`.
"""

from __future__ import annotations

import argparse
import ast
import collections
import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.export import Dim
from transformers import AutoTokenizer

from int8_per_token import per_token_activations
from modeling_crossaligner import (
    ONNX_FILES,
    ONNX_INPUT_NAMES,
    ONNX_OUTPUT_NAMES,
    OnnxRuntimeJointXNLU,
    XLMRobertaForJointXNLU,
)

logger = logging.getLogger("export_onnx")

# The opset torch's exporter implements (ONNX Runtime runs it since 1.14).
DEFAULT_OPSET = 18
# Largest absolute difference between the fp32 graph's logits and PyTorch's that the export accepts.
FP32_TOLERANCE = 1e-3
# Operators dynamic int8 quantization rewrites: the linear layers (MatMul -> DynamicQuantizeLinear + MatMulInteger)
# and the embedding tables (Gather of int8 rows, dequantized).
QUANTIZED_OPERATORS = ("MatMul", "Gather")
# The two int8 weight layouts of `--int8_weights`. per_channel: quantize_dynamic, int8 weights with a scale per output
# channel (MatMulInteger, the fastest). blockwise: MatMulNBits with 8-bit weights and a scale per block of BLOCK_SIZE
# input channels, computed in int8 with activations scaled per block too (accuracy level 4); the embeddings, the
# pooler and the intent head (Gemm nodes) stay fp32.
INT8_WEIGHTS = ("per_channel", "blockwise")
BLOCK_SIZE = 32
# How per_channel quantizes each linear layer's input at run time (`--int8_activations`). per_token: a scale per token
# (int8_per_token.py), so that one outlier no longer coarsens the other tokens and an utterance's result does not
# depend on its batch. per_batch: quantize_dynamic's one scale for the whole batch (standard ONNX operators only).
INT8_ACTIVATIONS = ("per_token", "per_batch")
# Utterances in several scripts the exported graph is compared with PyTorch on (one padded batch).
CHECK_TEXTS = (
    "wake me up at seven am tomorrow",
    "¿qué tiempo hará mañana en Madrid?",
    "weck mich morgen um sieben Uhr",
    "réveille-moi à sept heures demain",
    "ตั้งนาฬิกาปลุกพรุ่งนี้เจ็ดโมงเช้า",
    "明天北京天气怎么样",
    "कल सुबह सात बजे का अलार्म लगाओ",
    "напомни мне позвонить маме",
)


class OnnxMismatchError(RuntimeError):
    """The exported fp32 graph does not reproduce PyTorch's logits."""


@dataclass
class OnnxCheck:
    """How one exported graph reproduces PyTorch on `CHECK_TEXTS`: the largest absolute logit differences and the
    share of utterances (intents) and tokens (slot labels) with the same argmax."""

    max_intent_logit_difference: float
    max_slot_logit_difference: float
    same_intents: float
    same_slot_labels: float

    def describe(self) -> str:
        return (
            f"max |logit difference| from PyTorch: intents {self.max_intent_logit_difference:.2e}, slots "
            f"{self.max_slot_logit_difference:.2e}; same argmax: {self.same_intents:.0%} of the intents, "
            f"{self.same_slot_labels:.0%} of the slot labels ({len(CHECK_TEXTS)} utterances)"
        )


@dataclass
class OnnxExport:
    """What `export_onnx` wrote and how each graph compares with PyTorch."""

    model_path: Path
    check: OnnxCheck
    quantized_path: Path | None = None
    quantized_check: OnnxCheck | None = None
    # Operator counts of the quantized graph that carry int8 weights, e.g. {"MatMulInteger": 72, ...}.
    quantized_operators: dict[str, int] = field(default_factory=dict)
    kept_fp32: list[str] = field(default_factory=list)  # nodes left in fp32 (--keep_fp32)


class _InferenceOutputs(nn.Module):
    """The model's inference outputs as the graph's output tuple (`ONNX_OUTPUT_NAMES`); the training-only outputs
    (CrossAligner logits, pooled vector) are left out and pruned from the graph."""

    def __init__(self, model: XLMRobertaForJointXNLU):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = self.model(input_ids=input_ids, attention_mask=attention_mask)
        return outputs.intent_logits, outputs.slot_logits


def export_onnx(
    model_dir: str | Path,
    quantize: bool = False,
    keep_fp32: tuple[str, ...] = (),
    opset: int = DEFAULT_OPSET,
    int8_weights: str = "per_channel",
    int8_activations: str | None = None,
) -> OnnxExport:
    """Export the trained model in `model_dir` to `model_dir/onnx/model.onnx`, check it, compare it with PyTorch;
    with `quantize`, also `onnx/model_quantized.onnx`, with the modules named in `keep_fp32` (e.g.
    `roberta.embeddings`, `intent_classifier`) left in fp32, the weights laid out as `int8_weights` says
    (`INT8_WEIGHTS`) and, with per_channel weights, the activations quantized as `int8_activations` says
    (`INT8_ACTIVATIONS`, default per_token). Existing ONNX files are replaced; the PyTorch files are only read."""
    try:
        import onnx
        import onnxscript  # noqa: F401  (torch's exporter translates with it)
    except ImportError:
        raise ImportError('export_onnx needs onnx, onnxscript and onnxruntime: pip install -e ".[onnx]"') from None
    check_int8_layout(int8_weights, int8_activations)
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir} has no config.json: expected a trained model folder (run_xnlu.py output)")
    code = model_dir / "modeling_crossaligner.py"
    if code.is_file() and "class OnnxRuntimeJointXNLU" not in code.read_text(encoding="utf-8"):
        # The folder's copy of the model code is what `trust_remote_code=True` runs.
        logger.warning(
            "%s predates ONNX Runtime support: pipeline(..., trust_remote_code=True, runtime='onnx') needs the "
            "project's current modeling_crossaligner.py in the folder",
            code,
        )
    model = XLMRobertaForJointXNLU.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model_path = model_dir / ONNX_FILES["onnx"]
    model_path.parent.mkdir(exist_ok=True)

    # The example is a padded batch of 2, so that neither axis can be specialised to 1.
    example = tokenizer(list(CHECK_TEXTS[:2]), padding=True, return_tensors="pt")
    batch, sequence = Dim("batch"), Dim("sequence", max=model.config.max_position_embeddings - 2)
    with _replaced_atomically(model_path) as temporary, torch.no_grad():
        # torch.export's exporter (the default, dynamo=True). The TorchScript one (dynamo=False) traces a graph that
        # is wrong for other sequence lengths than the example's, its dynamic_axes notwithstanding.
        torch.onnx.export(
            _InferenceOutputs(model).eval(),
            (example["input_ids"], example["attention_mask"]),
            temporary,
            input_names=list(ONNX_INPUT_NAMES),
            output_names=list(ONNX_OUTPUT_NAMES),
            dynamic_shapes={name: {0: batch, 1: sequence} for name in ONNX_INPUT_NAMES},
            opset_version=opset,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
        onnx.checker.check_model(str(temporary), full_check=True)
    export = OnnxExport(model_path=model_path, check=compare_with_pytorch(model, tokenizer, model_dir, "onnx"))
    worst = max(export.check.max_intent_logit_difference, export.check.max_slot_logit_difference)
    if worst > FP32_TOLERANCE:
        model_path.unlink()
        raise OnnxMismatchError(
            f"{model_path}: ONNX Runtime's logits differ from PyTorch's by up to {worst:.2e} (tolerance "
            f"{FP32_TOLERANCE:g}); the export was removed"
        )
    if quantize:
        export.quantized_path = model_dir / ONNX_FILES["onnx-int8"]
        export.kept_fp32 = quantize_int8(model_path, export.quantized_path, keep_fp32, int8_weights, int8_activations)
        export.quantized_operators = quantized_operator_counts(export.quantized_path)
        export.quantized_check = compare_with_pytorch(model, tokenizer, model_dir, "onnx-int8")
    return export


def check_int8_layout(int8_weights: str, int8_activations: str | None) -> None:
    """Refuse an int8 layout `quantize_int8` does not write, before anything is read or written."""
    if int8_weights not in INT8_WEIGHTS:
        raise ValueError(f"int8_weights: {int8_weights!r} is not one of {', '.join(INT8_WEIGHTS)}")
    if int8_activations is not None and int8_activations not in INT8_ACTIVATIONS:
        raise ValueError(f"int8_activations: {int8_activations!r} is not one of {', '.join(INT8_ACTIVATIONS)}")
    if int8_activations is not None and int8_weights == "blockwise":
        raise ValueError(
            "int8_activations applies to per_channel weights: blockwise quantizes activations per block of "
            f"{BLOCK_SIZE}"
        )


def quantize_int8(
    model_path: Path,
    quantized_path: Path,
    keep_fp32: tuple[str, ...] = (),
    int8_weights: str = "per_channel",
    int8_activations: str | None = None,
) -> list[str]:
    """ONNX Runtime's dynamic int8 quantization of `model_path` (int8 weights with a scale per output channel,
    activations quantized at run time with a scale per token, or per batch with `int8_activations="per_batch"`) into
    `quantized_path`, leaving the nodes of the modules in `keep_fp32` in fp32. Returns those nodes. On MTOD (es, th;
    BENCHMARKS.md section 5) per-token activations stay within 0.5 points of fp32's intent accuracy and slot F1, at
    0.78-0.92x the per-batch throughput; per batch loses up to 1.7 points; `int8_weights="blockwise"` is as close as
    per token, at about half of per-batch's batch-32 throughput."""
    check_int8_layout(int8_weights, int8_activations)
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    nodes = onnx.load(str(model_path), load_external_data=False).graph.node
    # torch's exporter records the modules each node was made in (`model.` is `_InferenceOutputs`' attribute); nodes
    # its optimiser rewrote (Gemm) lose that record but still read their module's weights by name.
    scopes = {module: f"model.{module}" for module in keep_fp32}
    in_module = {
        module: [n.name for n in nodes if scope in _name_scopes(n) or any(i.startswith(f"{scope}.") for i in n.input)]
        for module, scope in scopes.items()
    }
    unknown = [module for module, names in in_module.items() if not names]
    if unknown:
        raise ValueError(f"keep_fp32: no module {unknown} in the graph (expected e.g. roberta.embeddings)")
    excluded = sorted({name for names in in_module.values() for name in names})
    with _replaced_atomically(quantized_path) as temporary:
        if int8_weights == "blockwise":
            quantizer = MatMulNBitsQuantizer(
                onnx.load(str(model_path)),
                bits=8,
                block_size=BLOCK_SIZE,
                is_symmetric=True,
                accuracy_level=4,
                nodes_to_exclude=excluded,
            )
            quantizer.process()
            quantizer.model.save_model_to_file(str(temporary))
        else:
            quantize_dynamic(
                model_path,
                temporary,
                weight_type=QuantType.QInt8,
                op_types_to_quantize=list(QUANTIZED_OPERATORS),
                nodes_to_exclude=excluded,
                per_channel=True,
            )
            if int8_activations != "per_batch":
                quantized = onnx.load(str(temporary))
                per_token_activations(quantized)
                onnx.checker.check_model(quantized)
                onnx.save(quantized, str(temporary))
    return excluded


def _name_scopes(node) -> list[str]:
    for entry in node.metadata_props:
        if entry.key == "pkg.torch.onnx.name_scopes":
            return ast.literal_eval(entry.value)
    return []


def quantized_operator_counts(path: Path) -> dict[str, int]:
    """How many nodes of each integer operator the quantized graph has (MatMulInteger: a linear layer; a Gather of
    int8 rows followed by DequantizeLinear: an embedding table)."""
    import onnx

    counts = collections.Counter(node.op_type for node in onnx.load(str(path)).graph.node)
    return {
        name: count
        for name, count in sorted(counts.items())
        if "quantize" in name.lower() or "Integer" in name or "NBits" in name
    }


def compare_with_pytorch(model: XLMRobertaForJointXNLU, tokenizer, model_dir: Path, runtime: str) -> OnnxCheck:
    """Run `CHECK_TEXTS` as one padded batch through PyTorch and through the graph of `runtime` on ONNX Runtime."""
    inputs = tokenizer(
        list(CHECK_TEXTS), padding=True, truncation=True, max_length=model.config.max_seq_length, return_tensors="pt"
    )
    onnx_model = OnnxRuntimeJointXNLU.from_pretrained(str(model_dir), runtime, config=model.config)
    with torch.no_grad():
        expected = model(**inputs)
    actual = onnx_model(**inputs)
    real = inputs["attention_mask"].bool()  # padding rows carry no prediction
    return OnnxCheck(
        max_intent_logit_difference=float((expected.intent_logits - actual.intent_logits).abs().max()),
        max_slot_logit_difference=float((expected.slot_logits - actual.slot_logits)[real].abs().max()),
        same_intents=float((expected.intent_logits.argmax(-1) == actual.intent_logits.argmax(-1)).float().mean()),
        same_slot_labels=float((expected.slot_logits.argmax(-1) == actual.slot_logits.argmax(-1))[real].float().mean()),
    )


@contextlib.contextmanager
def _replaced_atomically(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` to write to; it replaces `path` only when the block succeeds, so that a failed
    export never leaves a half-written graph (nor removes the previous one)."""
    # Named, not mkstemp'd: the writer creates it with the usual permissions (mkstemp's are owner-only).
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", help="a trained model folder (a run_xnlu.py output directory)")
    parser.add_argument("--quantize", action="store_true", help="also write onnx/model_quantized.onnx (int8)")
    parser.add_argument(
        "--keep_fp32",
        nargs="+",
        default=[],
        metavar="MODULE",
        help="with --quantize: modules left in fp32, e.g. roberta.embeddings intent_classifier slot_classifier",
    )
    parser.add_argument(
        "--int8_weights",
        choices=INT8_WEIGHTS,
        default="per_channel",
        help="with --quantize: per_channel (default; fastest) or blockwise (8-bit MatMulNBits, blocks of "
        f"{BLOCK_SIZE}: nearly fp32's scores, slower at large batches)",
    )
    parser.add_argument(
        "--int8_activations",
        choices=INT8_ACTIVATIONS,
        help="with --quantize and per_channel weights: per_token (default; a scale per token, nearly fp32's scores) "
        "or per_batch (one scale per batch: faster, less exact, standard ONNX operators only)",
    )
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.INFO)
    if args.keep_fp32 and not args.quantize:
        parser.error("--keep_fp32 applies to --quantize")
    if args.int8_weights != "per_channel" and not args.quantize:
        parser.error("--int8_weights applies to --quantize")
    if args.int8_activations and not args.quantize:
        parser.error("--int8_activations applies to --quantize")
    try:
        export = export_onnx(
            args.model_dir,
            quantize=args.quantize,
            keep_fp32=tuple(args.keep_fp32),
            opset=args.opset,
            int8_weights=args.int8_weights,
            int8_activations=args.int8_activations,
        )
    except (FileNotFoundError, ValueError, ImportError, OnnxMismatchError) as error:
        print(f"export_onnx.py: error: {error}", file=sys.stderr)
        return 1
    print(f"{export.model_path}: {export.check.describe()}")
    if export.quantized_path is not None:
        operators = ", ".join(f"{count} {name}" for name, count in export.quantized_operators.items())
        kept = f"; {len(export.kept_fp32)} nodes kept in fp32" if export.kept_fp32 else ""
        print(f"{export.quantized_path}: int8 operators {operators}{kept}; {export.quantized_check.describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
