# Copyright 2026 The CrossAligner XNLU authors. Apache-2.0.
"""Per-token activation scales for the int8 graph that ONNX Runtime's `quantize_dynamic` writes.

`quantize_dynamic` quantizes the input of every linear layer with ONE scale for the whole batch
(`DynamicQuantizeLinear`), so that the largest activation of any token of any utterance in the batch sets the step
for all of them, and an utterance's result depends on the batch it is in. `per_token_activations` rewrites each of
those quantizations into one scale per token (per row of the layer's input), as ZeroQuant and LLM.int8() quantize
activations:

    x2  = Reshape(x, [-1, K])                          one row per token
    s   = max(|ReduceMax(x2)|, |ReduceMin(x2)|) / 127  per row
    x8  = QuantizeLinear(x2, s, 128, axis=0)           uint8, zero point 128 (symmetric range)
    y2  = MatMulIntegerToFloat(x8, W8, 1, w_scale, 128, w_zero_point) * s[:, None]
    y   = Reshape(y2, [*x.shape[:-1], N])

The weights stay as `quantize_dynamic` made them (int8, a scale per output channel). The zero point is the constant
128 rather than one per row because ONNX Runtime's integer matrix product takes a single zero point for its first
input (and its int8 x int8 kernel is many times slower than uint8 x int8). `MatMulIntegerToFloat` is an ONNX Runtime
operator (domain `com.microsoft`): the rewritten file runs on ONNX Runtime.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

CONTRIB_DOMAIN = "com.microsoft"
ZERO_POINT = 128  # uint8 encoding of a symmetric int8 range: codes 1..255 stand for -127..127 steps
# The constants the rewritten nodes share: (name, value, dtype).
_ONE = ("per_token/one", 1.0, np.float32)
_ZERO_POINT = ("per_token/zero_point", ZERO_POINT, np.uint8)
_INVERSE_STEPS = ("per_token/inverse_steps", 1 / 127, np.float32)
_SMALLEST_SCALE = ("per_token/smallest_scale", 1e-12, np.float32)
_ROW_AXIS = ("per_token/row_axis", [1], np.int64)
_FIRST, _LAST = ("per_token/first", [0], np.int64), ("per_token/last", [-1], np.int64)
_SHARED = (_ONE, _ZERO_POINT, _INVERSE_STEPS, _SMALLEST_SCALE, _ROW_AXIS, _FIRST, _LAST)


class UnexpectedQuantizedGraph(ValueError):
    """The graph is not the pattern quantize_dynamic writes (DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul)."""


def per_token_activations(model: onnx.ModelProto) -> int:
    """Rewrite, in place, every `DynamicQuantizeLinear` of `model` (a `quantize_dynamic` output) and the linear layers
    it feeds so that activations are quantized with one scale per token. Returns the number of quantized inputs
    rewritten."""
    graph = model.graph
    opset = next(entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx"))
    weights = {tensor.name: tensor for tensor in graph.initializer}
    producer = {output: node for node in graph.node for output in node.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def only_consumer(name: str, op_type: str) -> onnx.NodeProto:
        readers = consumers.get(name, [])
        if len(readers) != 1 or readers[0].op_type != op_type:
            found = ", ".join(reader.op_type for reader in readers) or "nothing"
            raise UnexpectedQuantizedGraph(f"{name}: expected to be read by one {op_type}, found {found}")
        return readers[0]

    replacements: dict[int, list[onnx.NodeProto]] = {}  # id of an old node -> the nodes in its place
    removed: set[int] = set()
    # Added to the graph only once every quantization is rewritten: a graph refused midway is left as it was.
    constants = [numpy_helper.from_array(np.asarray(value, dtype=dtype), name) for name, value, dtype in _SHARED]

    def constant(name: str, values: list[int]) -> str:
        constants.append(numpy_helper.from_array(np.asarray(values, dtype=np.int64), name))
        return name

    quantized_inputs = 0
    for quantize in [node for node in graph.node if node.op_type == "DynamicQuantizeLinear"]:
        x, (x_quantized, x_scale, _) = quantize.input[0], quantize.output
        products = consumers.get(x_quantized, [])
        if not products or any(node.op_type != "MatMulInteger" or node.input[1] not in weights for node in products):
            raise UnexpectedQuantizedGraph(
                f"{x_quantized}: expected to be read by MatMulInteger nodes with int8 weights"
            )
        width = weights[products[0].input[1]].dims[0]
        prefix = f"{quantize.name}/per_token"
        new = [
            helper.make_node("Reshape", [x, constant(f"{prefix}/rows", [-1, width])], [f"{prefix}/x2"]),
            *_reduce("ReduceMax", f"{prefix}/x2", f"{prefix}/max", opset),
            *_reduce("ReduceMin", f"{prefix}/x2", f"{prefix}/min", opset),
            helper.make_node("Neg", [f"{prefix}/min"], [f"{prefix}/negated_min"]),
            helper.make_node("Max", [f"{prefix}/max", f"{prefix}/negated_min"], [f"{prefix}/absolute_max"]),
            helper.make_node("Mul", [f"{prefix}/absolute_max", _INVERSE_STEPS[0]], [f"{prefix}/raw_scale"]),
            # An all-zero row would have scale 0; any positive scale quantizes it to the zero point exactly.
            helper.make_node("Max", [f"{prefix}/raw_scale", _SMALLEST_SCALE[0]], [f"{prefix}/scale"]),
            helper.make_node("Shape", [f"{prefix}/scale"], [f"{prefix}/rows_count"]),
            helper.make_node("Expand", [_ZERO_POINT[0], f"{prefix}/rows_count"], [f"{prefix}/zero_points"]),
            helper.make_node(
                "QuantizeLinear",
                [f"{prefix}/x2", f"{prefix}/scale", f"{prefix}/zero_points"],
                [f"{prefix}/x8"],
                axis=0,
            ),
            helper.make_node("Unsqueeze", [f"{prefix}/scale", _ROW_AXIS[0]], [f"{prefix}/scale_column"]),
            helper.make_node("Shape", [x], [f"{prefix}/x_shape"]),
            helper.make_node("Slice", [f"{prefix}/x_shape", _FIRST[0], _LAST[0]], [f"{prefix}/lead"]),
        ]
        for product in products:
            cast = only_consumer(product.output[0], "Cast")
            rescale = only_consumer(cast.output[0], "Mul")
            scales = producer.get(next(name for name in rescale.input if name != cast.output[0]))
            if scales is None or scales.op_type != "Mul" or x_scale not in scales.input:
                raise UnexpectedQuantizedGraph(f"{rescale.name}: expected to multiply by {x_scale} x the weight scale")
            weight_scale = next(name for name in scales.input if name != x_scale)
            outputs = weights[product.input[1]].dims[1]
            product_prefix = f"{product.name}/per_token"
            new += [
                helper.make_node(
                    "MatMulIntegerToFloat",
                    [f"{prefix}/x8", product.input[1], _ONE[0], weight_scale, _ZERO_POINT[0], product.input[3]],
                    [f"{product_prefix}/y2_unscaled"],
                    domain=CONTRIB_DOMAIN,
                ),
                helper.make_node(
                    "Mul", [f"{product_prefix}/y2_unscaled", f"{prefix}/scale_column"], [f"{product_prefix}/y2"]
                ),
                helper.make_node(
                    "Concat",
                    [f"{prefix}/lead", constant(f"{product_prefix}/outputs", [outputs])],
                    [f"{product_prefix}/shape"],
                    axis=0,
                ),
                helper.make_node("Reshape", [f"{product_prefix}/y2", f"{product_prefix}/shape"], [rescale.output[0]]),
            ]
            removed.update({id(product), id(cast), id(rescale), id(scales)})
        replacements[id(quantize)] = new
        quantized_inputs += 1
    if not quantized_inputs:
        return 0
    nodes = [new for node in graph.node if id(node) not in removed for new in replacements.get(id(node), [node])]
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(constants)
    if not any(entry.domain == CONTRIB_DOMAIN for entry in model.opset_import):
        model.opset_import.append(helper.make_opsetid(CONTRIB_DOMAIN, 1))
    return quantized_inputs


def _reduce(op_type: str, rows: str, output: str, opset: int) -> list[onnx.NodeProto]:
    """`op_type` over each row (axis 1) of a 2-D tensor; the axes are an input from opset 18, an attribute before."""
    if opset >= 18:
        return [helper.make_node(op_type, [rows, _ROW_AXIS[0]], [output], keepdims=0)]
    return [helper.make_node(op_type, [rows], [output], axes=[1], keepdims=0)]
