# Copyright 2026 The CrossAligner XNLU authors. Apache-2.0.
"""Per-token activation scales for the int8 graph that ONNX Runtime's `quantize_dynamic` writes.

`quantize_dynamic` quantizes the input of every linear layer with ONE scale for the whole batch
(`DynamicQuantizeLinear`), so that the largest activation of any token of any utterance in the batch sets the step
for all of them, and an utterance's result depends on the batch it is in. `per_token_activations` rewrites each of
those quantizations into one scale per token (per row of the layer's input), as ZeroQuant and LLM.int8() quantize
activations:

    r   = Max(ReduceMax(Abs(x), axis=-1), 1e-10)            the range of each token, kept as a size-1 axis
    x8  = QuantizeLinear(x / r, 1 / 127, 128)                uint8, zero point 128 (symmetric range)
    y   = MatMulIntegerToFloat(x8, W8, 1, w_scale / 127, 128, w_zero_point) * r

Every quantized input costs five nodes and every linear layer two, with no reshapes, so that one utterance at a time
is not slowed by node overhead.

The weights stay as `quantize_dynamic` made them (int8, a scale per output channel, which the rewrite divides by
127). The zero point is the constant 128 rather than one per row because ONNX Runtime's integer matrix product takes
a single zero point for its first input (and its int8 x int8 kernel is many times slower than uint8 x int8).
`MatMulIntegerToFloat` is an ONNX Runtime operator (domain `com.microsoft`): the rewritten file runs on ONNX Runtime.
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
_STEP = ("per_token/step", 1 / 127, np.float32)  # of x / range, whose values lie in [-1, 1]
_SMALLEST_RANGE = ("per_token/smallest_range", 1e-10, np.float32)
_LAST_AXIS = ("per_token/last_axis", [-1], np.int64)
_SHARED = (_ONE, _ZERO_POINT, _STEP, _SMALLEST_RANGE, _LAST_AXIS)


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
    replaced_scales: set[str] = set()  # weight scales whose value / 127 the rewritten layers read instead
    # Added to the graph only once every quantization is rewritten: a graph refused midway is left as it was.
    constants = [numpy_helper.from_array(np.asarray(value, dtype=dtype), name) for name, value, dtype in _SHARED]

    quantized_inputs = 0
    for quantize in [node for node in graph.node if node.op_type == "DynamicQuantizeLinear"]:
        x, (x_quantized, x_scale, _) = quantize.input[0], quantize.output
        products = consumers.get(x_quantized, [])
        if not products or any(node.op_type != "MatMulInteger" or node.input[1] not in weights for node in products):
            raise UnexpectedQuantizedGraph(
                f"{x_quantized}: expected to be read by MatMulInteger nodes with int8 weights"
            )
        prefix = f"{quantize.name}/per_token"
        new = [
            helper.make_node("Abs", [x], [f"{prefix}/magnitude"]),
            *_reduce("ReduceMax", f"{prefix}/magnitude", f"{prefix}/raw_range", opset),
            # An all-zero row would have range 0; any positive range quantizes it to the zero point exactly.
            helper.make_node("Max", [f"{prefix}/raw_range", _SMALLEST_RANGE[0]], [f"{prefix}/range"]),
            helper.make_node("Div", [x, f"{prefix}/range"], [f"{prefix}/x_unit"]),
            helper.make_node("QuantizeLinear", [f"{prefix}/x_unit", _STEP[0], _ZERO_POINT[0]], [f"{prefix}/x8"]),
        ]
        for product in products:
            cast = only_consumer(product.output[0], "Cast")
            rescale = only_consumer(cast.output[0], "Mul")
            scales = producer.get(next(name for name in rescale.input if name != cast.output[0]))
            if scales is None or scales.op_type != "Mul" or x_scale not in scales.input:
                raise UnexpectedQuantizedGraph(f"{rescale.name}: expected to multiply by {x_scale} x the weight scale")
            weight_scale = weights.get(next(name for name in scales.input if name != x_scale))
            if weight_scale is None:
                raise UnexpectedQuantizedGraph(f"{scales.name}: expected a constant weight scale")
            # The activation step is range / 127: its 1 / 127 goes into the weight scale, the range is multiplied after.
            step_scale = numpy_helper.from_array(
                (numpy_helper.to_array(weight_scale) * np.float32(1 / 127)).astype(np.float32),
                f"{product.name}/per_token/weight_scale_per_step",
            )
            constants.append(step_scale)
            replaced_scales.add(weight_scale.name)
            new += [
                helper.make_node(
                    "MatMulIntegerToFloat",
                    [f"{prefix}/x8", product.input[1], _ONE[0], step_scale.name, _ZERO_POINT[0], product.input[3]],
                    [f"{product.name}/per_token/y_unscaled"],
                    domain=CONTRIB_DOMAIN,
                ),
                helper.make_node(
                    "Mul", [f"{product.name}/per_token/y_unscaled", f"{prefix}/range"], [rescale.output[0]]
                ),
            ]
            removed.update({id(product), id(cast), id(rescale), id(scales)})
        replacements[id(quantize)] = new
        quantized_inputs += 1
    if not quantized_inputs:
        return 0
    nodes = [new for node in graph.node if id(node) not in removed for new in replacements.get(id(node), [node])]
    del graph.node[:]
    graph.node.extend(nodes)
    read = {name for node in graph.node for name in node.input} | {output.name for output in graph.output}
    unread = replaced_scales - read
    kept = [tensor for tensor in graph.initializer if tensor.name not in unread]
    del graph.initializer[:]
    graph.initializer.extend(kept + constants)
    if not any(entry.domain == CONTRIB_DOMAIN for entry in model.opset_import):
        model.opset_import.append(helper.make_opsetid(CONTRIB_DOMAIN, 1))
    return quantized_inputs


def _reduce(op_type: str, x: str, output: str, opset: int) -> list[onnx.NodeProto]:
    """`op_type` over the last axis of `x`, kept as a size-1 axis; the axes are an input from opset 18, an attribute
    before."""
    if opset >= 18:
        return [helper.make_node(op_type, [x, _LAST_AXIS[0]], [output], keepdims=1)]
    return [helper.make_node(op_type, [x], [output], axes=[-1], keepdims=1)]
