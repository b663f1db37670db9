"""A small evaluator of TensorFlow.js graph models (model.json + weight shards) in PyTorch.

TFJS graph models are frozen TF graphs in NHWC layout. Only the ops the NanoDet-m graph and the
MobileNetV3-CenterNet graph (up to its heat map and box outputs) use are implemented; any other op
among the nodes the requested outputs depend on raises ``NotImplementedError`` naming it, so a
different graph fails loudly at load time instead of computing something wrong.
"""
from __future__ import annotations

import base64
import json
import operator
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

Value = Any  # torch.Tensor for activations, np.ndarray for (shape) constants, or a list of them


def _attr_ints(attr: dict, key: str) -> list[int]:
    return [int(v) for v in attr[key]["list"].get("i", [])]


def _attr_str(attr: dict, key: str) -> str:
    return base64.b64decode(attr[key]["s"]).decode()


def _ints(value: Value) -> list[int]:
    return [int(v) for v in np.asarray(value).reshape(-1)]


def _tensor(value: Value) -> torch.Tensor:
    if torch.is_tensor(value):
        return value
    return torch.from_numpy(np.ascontiguousarray(value))


def _to_nchw(x: Value) -> torch.Tensor:
    return _tensor(x).permute(0, 3, 1, 2)


def _to_nhwc(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 3, 1)


def _check_layout(attr: dict, op: str) -> None:
    if "data_format" in attr and _attr_str(attr, "data_format") != "NHWC":
        raise NotImplementedError(f"{op} with data_format {_attr_str(attr, 'data_format')}")
    if "dilations" in attr and any(d != 1 for d in _attr_ints(attr, "dilations")):
        raise NotImplementedError(f"{op} with dilations")


def _same_padding(x: torch.Tensor, kernel: Sequence[int], stride: Sequence[int], attr: dict,
                  fill: float = 0.0) -> torch.Tensor:
    """Pads an NCHW tensor as TF does for padding SAME (the odd pixel goes to the bottom / right)."""
    padding = _attr_str(attr, "padding")
    if padding == "VALID":
        return x
    if padding != "SAME":
        raise NotImplementedError(f"padding {padding}")
    pads = []
    for size, k, s in zip(x.shape[2:], kernel, stride, strict=True):
        total = max((-(-size // s) - 1) * s + k - size, 0)
        pads.append((total // 2, total - total // 2))
    (top, bottom), (left, right) = pads
    return F.pad(x, (left, right, top, bottom), value=fill)


ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "Relu": F.relu,
    "Relu6": lambda t: t.clamp(0.0, 6.0),
}


def _conv(x: list, attr: dict, depthwise: bool, fused: bool) -> torch.Tensor:
    """Conv2D / DepthwiseConv2dNative and their fused forms (+ bias, + activation)."""
    _check_layout(attr, "convolution")
    inp = _to_nchw(x[0])
    kernel = _tensor(x[1])  # H x W x I x O, or H x W x C x multiplier for depthwise
    if depthwise:
        kh, kw, channels, mult = kernel.shape
        weight, groups = kernel.permute(2, 3, 0, 1).reshape(channels * mult, 1, kh, kw), channels
    else:
        weight = kernel.permute(3, 2, 0, 1)
        groups = inp.shape[1] // weight.shape[1]
    stride = _attr_ints(attr, "strides")[1:3]
    out = F.conv2d(_same_padding(inp, weight.shape[2:], stride, attr), weight, stride=stride, groups=groups)
    if fused:
        ops = [base64.b64decode(v).decode() for v in attr["fused_ops"]["list"]["s"]]
        if not ops or ops[0] != "BiasAdd" or len(ops) > 2 or (len(ops) == 2 and ops[1] not in ACTIVATIONS):
            raise NotImplementedError(f"fused ops {ops}")
        out = out + _tensor(x[2]).reshape(1, -1, 1, 1)
        if len(ops) == 2:
            out = ACTIVATIONS[ops[1]](out)
    return _to_nhwc(out)


def _max_pool(x: list, attr: dict) -> torch.Tensor:
    _check_layout(attr, "MaxPool")
    kernel, stride = _attr_ints(attr, "ksize")[1:3], _attr_ints(attr, "strides")[1:3]
    inp = _same_padding(_to_nchw(x[0]), kernel, stride, attr, fill=float("-inf"))
    return _to_nhwc(F.max_pool2d(inp, kernel, stride))


def _pad(x: list, attr: dict) -> torch.Tensor:
    pairs = np.asarray(x[1]).reshape(-1, 2)
    # F.pad wants (last_lo, last_hi, second_last_lo, ...): reverse the dimension order.
    pads = [int(v) for pair in pairs[::-1] for v in pair]
    fill = float(np.asarray(x[2]).reshape(-1)[0]) if len(x) > 2 else 0.0
    return F.pad(_tensor(x[0]), pads, value=fill)


def _resize_bilinear(x: list, attr: dict) -> torch.Tensor:
    align = bool(attr.get("align_corners", {}).get("b", False))
    half_pixel = bool(attr.get("half_pixel_centers", {}).get("b", False))
    if align or half_pixel:
        out = F.interpolate(_to_nchw(x[0]), size=_ints(x[1]), mode="bilinear", align_corners=align)
        return _to_nhwc(out)
    # TF's legacy coordinates (source = destination x in / out), which torch does not offer
    out = _tensor(x[0])
    for dim, size in ((1, _ints(x[1])[0]), (2, _ints(x[1])[1])):
        src = torch.arange(size, dtype=torch.float32) * (out.shape[dim] / size)
        lo = src.floor().long().clamp(max=out.shape[dim] - 1)
        hi = (lo + 1).clamp(max=out.shape[dim] - 1)
        frac = (src - lo).reshape([-1 if d == dim else 1 for d in range(4)])
        out = out.index_select(dim, lo) * (1 - frac) + out.index_select(dim, hi) * frac
    return out


def _binary(op: Callable[[Any, Any], Any]) -> Callable[[list, dict], Value]:
    def apply(x: list, attr: dict) -> Value:
        if any(torch.is_tensor(v) for v in x):
            return op(_tensor(x[0]), _tensor(x[1]))
        return op(np.asarray(x[0]), np.asarray(x[1]))  # shape arithmetic stays in numpy

    return apply


def _mean(x: list, attr: dict) -> torch.Tensor:
    keep = bool(attr.get("keep_dims", {}).get("b", False))
    return _tensor(x[0]).mean(dim=_ints(x[1]), keepdim=keep)


def _sparse_to_dense(x: list, attr: dict) -> np.ndarray:
    indices, shape, values, default = (np.asarray(v) for v in x)
    out = np.full(_ints(shape), default, dtype=values.dtype)
    if indices.size:
        out[tuple(np.atleast_2d(indices.T))] = values
    return out


def _split_v(x: list, attr: dict) -> list[torch.Tensor]:
    return list(torch.split(_tensor(x[0]), _ints(x[1]), dim=_ints(x[2])[0]))


OPS: dict[str, Callable[[list, dict], Value]] = {
    "Identity": lambda x, a: x[0],
    "Add": _binary(operator.add),
    "AddV2": _binary(operator.add),
    "Mul": _binary(operator.mul),
    "Pad": _pad,
    "PadV2": _pad,
    "Transpose": lambda x, a: _tensor(x[0]).permute(*_ints(x[1])),
    "Conv2D": lambda x, a: _conv(x, a, depthwise=False, fused=False),
    "_FusedConv2D": lambda x, a: _conv(x, a, depthwise=False, fused=True),
    "DepthwiseConv2dNative": lambda x, a: _conv(x, a, depthwise=True, fused=False),
    "FusedDepthwiseConv2dNative": lambda x, a: _conv(x, a, depthwise=True, fused=True),
    "Relu": lambda x, a: ACTIVATIONS["Relu"](_tensor(x[0])),
    "Relu6": lambda x, a: ACTIVATIONS["Relu6"](_tensor(x[0])),
    "Mean": _mean,
    "LeakyRelu": lambda x, a: F.leaky_relu(_tensor(x[0]), float(a["alpha"]["f"])),
    "MaxPool": _max_pool,
    "ConcatV2": lambda x, a: torch.cat([_tensor(v) for v in x[:-1]], dim=_ints(x[-1])[0]),
    "ResizeBilinear": _resize_bilinear,
    "SplitV": _split_v,
    "Sigmoid": lambda x, a: torch.sigmoid(_tensor(x[0])),
    "Reshape": lambda x, a: _tensor(x[0]).reshape(_ints(x[1])),
    "SparseToDense": _sparse_to_dense,
}


def load_weights(model_json: Path, manifest: list[dict]) -> dict[str, np.ndarray]:
    """Decode the weight shards: plain dtypes, float16 storage and affine uint8/uint16 quantisation."""
    weights: dict[str, np.ndarray] = {}
    for group in manifest:
        buffer = b"".join((model_json.parent / p).read_bytes() for p in group["paths"])
        offset = 0
        for entry in group["weights"]:
            quant = entry.get("quantization")
            stored = np.dtype(quant["dtype"] if quant else entry["dtype"])
            count = int(np.prod(entry["shape"])) if entry["shape"] else 1
            raw = np.frombuffer(buffer, stored, count, offset).reshape(entry["shape"])
            offset += count * stored.itemsize
            if quant and quant["dtype"] in ("uint8", "uint16"):
                raw = raw * np.float32(quant["scale"]) + np.float32(quant["min"])
            weights[entry["name"]] = raw.astype(np.dtype(entry["dtype"]))
        if offset != len(buffer):
            raise ValueError(f"{model_json}: weight shards hold {len(buffer)} bytes, manifest {offset}")
    return weights


class TfjsGraph:
    """Evaluates a TFJS graph model: ``graph({"input_1": x}, ["Identity", ...]) -> [values]``.

    ``outputs`` limits the op check to the nodes those outputs depend on (a graph's built-in
    post-processing can then be left to the caller); None checks every node.
    """

    def __init__(self, model_json: str | Path, outputs: Sequence[str] | None = None) -> None:
        path = Path(model_json)
        doc = json.loads(path.read_text())
        if doc.get("format") != "graph-model":
            raise ValueError(f"{path}: not a TFJS graph model (format={doc.get('format')!r})")
        self.nodes = {n["name"]: n for n in doc["modelTopology"]["node"]}
        self._orders: dict[tuple[str, ...], list[str]] = {}
        used = self._order(outputs) if outputs is not None else list(self.nodes)
        unknown = {self.nodes[n]["op"] for n in used} - set(OPS) - {"Const", "Placeholder"}
        if unknown:
            raise NotImplementedError(f"{path}: unsupported TFJS ops {sorted(unknown)}")
        self.weights = load_weights(path, doc["weightsManifest"])
        self.inputs = [n for n, node in self.nodes.items() if node["op"] == "Placeholder"]

    def _order(self, outputs: Sequence[str]) -> list[str]:
        """Nodes the outputs depend on, inputs before users (iterative DFS: graphs are deep)."""
        key = tuple(outputs)
        if key not in self._orders:
            order, done, stack = [], set(), [(name, False) for name in outputs]
            while stack:
                name, expanded = stack.pop()
                if name in done:
                    continue
                if expanded:
                    done.add(name)
                    order.append(name)
                    continue
                stack.append((name, True))
                for ref in self.nodes[name].get("input", []):
                    if not ref.startswith("^"):
                        stack.append((ref.partition(":")[0], False))
            self._orders[key] = order
        return self._orders[key]

    @torch.no_grad()
    def __call__(self, feeds: dict[str, torch.Tensor], outputs: Sequence[str]) -> list[Value]:
        missing = set(self.inputs) - set(feeds)
        if missing:
            raise ValueError(f"missing graph inputs {sorted(missing)}")
        values: dict[str, Value] = {}

        def read(ref: str) -> Value:
            name, _, index = ref.partition(":")
            value = values[name]
            return value[int(index or 0)] if isinstance(value, list) else value

        for name in self._order(outputs):
            node = self.nodes[name]
            if node["op"] == "Placeholder":
                values[name] = feeds[name]
            elif node["op"] == "Const":
                values[name] = self.weights[name]
            else:
                args = [read(r) for r in node.get("input", []) if not r.startswith("^")]
                values[name] = OPS[node["op"]](args, node.get("attr", {}))
        return [read(o) for o in outputs]
