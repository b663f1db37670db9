"""The tracker network as ONNX graphs, and ``OnnxModel``: those graphs in onnxruntime, called by the
same ``Session`` (and box path) as ``VOSModel``.

Five graphs, one stream (B = 1), the memory as explicit inputs and outputs (the Session keeps it):

    frame_encoder   image -> f4, f8, f16, key16, key8                        (VOSModel.encode_frame)
    segment         features + memory keys / values / time buckets + previous frame's stride-8 key and
                    values + queries + valid + top_k -> logits, presence, top-k indices and weights
                                                                             (VOSModel.segment)
    memory_values   f8, f16, masks -> values16, values8                      (VOSModel.values)
    query_init      f4, f8, f16, masks -> queries                            (VOSModel.query_init)
    box_logits      f4, f8, f16, box masks, valid -> logits, presence        (VOSModel.box_logits)

Dynamic axes: the image height and width (multiples of 16), the object count K and the memory length N;
``top_k`` is an input, so one export serves every ``memory.top_k``. Graphs are exported in fp32 with
torch's dynamo exporter (the TorchScript exporter bakes the attention's sequence lengths in).
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from vos_ros.core.config import PACKAGE_ROOT
from vos_ros.core.model import FrameFeatures, ModelConfig, VOSModel, weights_per_object

OPSET = 18                         # written as ONNX IR version 10 (onnx 1.23), which onnxruntime 1.32 loads
CACHE_DIR = PACKAGE_ROOT / ".cache" / "onnx"
MANIFEST = "manifest.json"
FEATURES = ("f4", "f8", "f16", "key16", "key8")
# onnxruntime providers in order of preference; the ones this onnxruntime build has are used
PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
# the sources the graphs are made of: a change to any of them makes cached graphs stale
GRAPH_SOURCES = ("model.py", "backbone.py", "onnx_runtime.py")


class FrameEncoderGraph(nn.Module):
    """image 1 x 3 x H x W (RGB in [0, 255]) -> the FrameFeatures tensors."""

    inputs = ("image",)
    outputs = FEATURES

    def __init__(self, model: VOSModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        f = self.model.encode_frame(image)
        return f.f4, f.f8, f.f16, f.key16, f.key8


class SegmentGraph(nn.Module):
    """VOSModel.segment: stride-16 memory read-out, stride-8 matching and decoding of K objects."""

    inputs = (*FEATURES, "mem_keys", "mem_values", "buckets", "prev_key8", "prev_values8", "queries", "valid",
              "top_k", "mem_known")
    outputs = ("logits", "presence", "top_idx", "top_weights")

    def __init__(self, model: VOSModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, f4: torch.Tensor, f8: torch.Tensor, f16: torch.Tensor, key16: torch.Tensor,
                key8: torch.Tensor, mem_keys: torch.Tensor, mem_values: torch.Tensor, buckets: torch.Tensor,
                prev_key8: torch.Tensor, prev_values8: torch.Tensor, queries: torch.Tensor, valid: torch.Tensor,
                top_k: torch.Tensor, mem_known: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats = FrameFeatures(f4, f8, f16, key16, key8)
        readout16, top_idx, weights = self.read_memory(key16, mem_keys, mem_values, buckets, top_k, mem_known)
        readout8 = self.model.fine_readout(feats, prev_key8, prev_values8, mem_values.shape[1])
        logits, presence = self.model.decode(feats, readout16, readout8, queries, valid)
        return logits, presence, top_idx, weights

    def read_memory(self, key16: torch.Tensor, mem_keys: torch.Tensor, mem_values: torch.Tensor,
                    buckets: torch.Tensor, top_k: torch.Tensor, mem_known: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """MemoryReader.forward with the weighted sum of the top-k rows as one gather and one batched
        product: ONNX has no embedding bag, and the exporter's loop for it took 5 s a step (8 objects, 480p)."""
        _, K, N, Cv = mem_values.shape
        h, w = key16.shape[-2:]
        sim = self.model.reader.affinity(key16.flatten(2), mem_keys, buckets)      # 1 x P x N
        k = top_k.clamp(max=N).item()
        torch._check(k >= 1)
        torch._check(k <= N)
        top_val, top_idx = sim.topk(k, dim=-1)                                        # 1 x P x k
        weights = top_val.softmax(-1)
        object_weights = weights_per_object(weights, top_idx, mem_known, K)[0]      # K x P x k
        rows = mem_values[0][:, top_idx[0]]                                           # K x P x k x Cv
        readout = object_weights[:, :, None] @ rows                                   # K x P x 1 x Cv
        return readout.view(1, K, h * w, Cv).transpose(2, 3).reshape(1, K, Cv, h, w), top_idx, weights


class MemoryValuesGraph(nn.Module):
    """VOSModel.values of a tracked frame (not a box prompt): masks 1 x K x H/4 x W/4 -> values16, values8."""

    inputs = ("f8", "f16", "masks")
    outputs = ("values16", "values8")

    def __init__(self, model: VOSModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, f8: torch.Tensor, f16: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.values(FrameFeatures(None, f8, f16, None, None), masks)


class QueryInitGraph(nn.Module):
    """VOSModel.query_init: masks 1 x K x H/4 x W/4 -> object queries 1 x K x Q x D."""

    inputs = ("f4", "f8", "f16", "masks")
    outputs = ("queries",)

    def __init__(self, model: VOSModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, f4: torch.Tensor, f8: torch.Tensor, f16: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        return self.model.query_init(FrameFeatures(f4, f8, f16, None, None), masks)


class BoxLogitsGraph(nn.Module):
    """VOSModel.box_logits: box rectangles 1 x K x H/4 x W/4 -> mask logits, presence logits."""

    inputs = ("f4", "f8", "f16", "box_masks", "valid")
    outputs = ("logits", "presence")

    def __init__(self, model: VOSModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, f4: torch.Tensor, f8: torch.Tensor, f16: torch.Tensor, box_masks: torch.Tensor,
                valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.box_logits(FrameFeatures(f4, f8, f16, None, None), box_masks, valid)


GRAPHS: dict[str, type[nn.Module]] = {
    "frame_encoder": FrameEncoderGraph,
    "segment": SegmentGraph,
    "memory_values": MemoryValuesGraph,
    "query_init": QueryInitGraph,
    "box_logits": BoxLogitsGraph,
}


def dynamic_axes() -> dict[str, dict[int, torch.export.Dim]]:
    """Every graph input's dynamic axes: image sides (h, w = H/16, W/16), objects K, memory tokens N."""
    Dim = torch.export.Dim
    h, w = Dim("h16", min=1, max=256), Dim("w16", min=1, max=256)
    k, n = Dim("objects", min=1, max=1024), Dim("tokens", min=1)
    stride4, stride8, stride16 = {2: 4 * h, 3: 4 * w}, {2: 2 * h, 3: 2 * w}, {2: h, 3: w}
    per_object4 = {1: k, **stride4}
    return {"image": {2: 16 * h, 3: 16 * w}, "f4": stride4, "f8": stride8, "f16": stride16, "key16": stride16,
            "key8": stride8, "mem_keys": {1: n}, "mem_values": {1: k, 2: n}, "mem_known": {1: k, 2: n},
            "buckets": {1: n}, "prev_key8": stride8, "prev_values8": {1: k, 3: 2 * h, 4: 2 * w}, "queries": {1: k},
            "valid": {1: k}, "top_k": {}, "masks": per_object4, "box_masks": per_object4}


def example_inputs(cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """Inputs to trace the graphs with: 96 x 128 image, 3 objects, 2 frames of memory. No size is 1,
    since the exporter fixes axes of size 1."""
    H, W, K, N = 96, 128, 3, 2 * 6 * 8
    g = torch.Generator().manual_seed(0)
    rand = lambda *shape: torch.rand(*shape, generator=g)  # noqa: E731
    return {"image": 255 * rand(1, 3, H, W), "f4": rand(1, 24, H // 4, W // 4), "f8": rand(1, 40, H // 8, W // 8),
            "f16": rand(1, 112, H // 16, W // 16), "key16": rand(1, cfg.key_dim, H // 16, W // 16),
            "key8": rand(1, cfg.fine_key_dim, H // 8, W // 8), "mem_keys": rand(1, N, cfg.key_dim),
            "mem_values": rand(1, K, N, cfg.value_dim), "buckets": torch.arange(N)[None] % cfg.time_buckets,
            "prev_key8": rand(1, cfg.fine_key_dim, H // 8, W // 8),
            "prev_values8": rand(1, K, cfg.fine_value_dim, H // 8, W // 8),
            "queries": rand(1, K, cfg.queries_per_object, cfg.query_dim), "valid": torch.ones(1, K, dtype=torch.bool),
            "top_k": torch.tensor(30), "mem_known": torch.ones(1, K, N, dtype=torch.bool),
            "masks": rand(1, K, H // 4, W // 4), "box_masks": rand(1, K, H // 4, W // 4)}


def require(*packages: str) -> None:
    """ImportError naming the ``packages`` (PyPI names) that are not installed."""
    missing = [p for p in packages if importlib.util.find_spec(p) is None]
    if missing:
        raise ImportError(f"ONNX export and model.runtime onnxruntime need {missing}: pip install {' '.join(missing)}")


@contextlib.contextmanager
def quiet_exporter() -> Iterator[None]:
    """The exporter's warnings (one per skipped optimisation, per deprecated API and per torchvision op it
    cannot register) held back; its errors still show."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)


def export_graphs(model: VOSModel, out_dir: str | Path) -> Path:
    """Export the five graphs of ``model`` (fp32, on the CPU) to ``out_dir`` with a manifest holding the
    architecture (``ModelConfig``), opset and torch version. -> ``out_dir``."""
    require("onnx", "onnxscript")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(model).float().cpu().eval()  # the caller's model (maybe shared) stays as it is
    examples, axes = example_inputs(model.cfg), dynamic_axes()
    for name, graph_cls in GRAPHS.items():
        graph = graph_cls(model).eval()
        args = tuple(examples[i] for i in graph.inputs)
        with quiet_exporter(), torch.no_grad():
            torch.onnx.export(graph, args, out_dir / f"{name}.onnx", dynamo=True, opset_version=OPSET,
                              input_names=list(graph.inputs), output_names=list(graph.outputs),
                              dynamic_shapes={i: axes[i] for i in graph.inputs}, external_data=False,
                              verbose=False)
    manifest = {"model_config": model.cfg.to_dict(), "opset": OPSET, "torch": torch.__version__,
                "graphs": {name: {"inputs": list(g.inputs), "outputs": list(g.outputs)} for name, g in GRAPHS.items()}}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return out_dir


def graph_key(checkpoint: str | Path) -> str:
    """Cache key of a checkpoint's graphs: a hash of its bytes, the sources the graphs are made of and
    the torch version, so no stale graph is ever run."""
    digest = hashlib.sha256(Path(checkpoint).read_bytes())
    for name in GRAPH_SOURCES:
        digest.update((Path(__file__).parent / name).read_bytes())
    digest.update(torch.__version__.encode())
    return digest.hexdigest()[:16]


def cached_graphs(checkpoint: str | Path, cache_dir: str | Path = CACHE_DIR) -> Path:
    """The graph folder of ``checkpoint`` in ``cache_dir``, exported on first use (minutes). Exported into
    a temporary folder and renamed, so concurrent first uses never see half a folder."""
    from vos_ros.core.weights import load_checkpoint  # weights.py loads this module on demand

    require("onnxruntime")  # before minutes of export
    final = Path(cache_dir) / graph_key(checkpoint)
    if not (final / MANIFEST).is_file():
        final.parent.mkdir(parents=True, exist_ok=True)
        warnings.warn(f"exporting the ONNX graphs of {checkpoint} to {final} (first use; a few minutes; "
                      "`vos-ros export onnx` does it ahead of time)", stacklevel=2)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=".export-"))
        try:
            export_graphs(load_checkpoint(checkpoint), tmp)
            tmp.chmod(0o755)  # mkdtemp makes it private
            os.replace(tmp, final)
        except OSError:
            if not (final / MANIFEST).is_file():  # not a concurrent export that won the rename
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def providers(device: str) -> list[str]:
    """onnxruntime execution providers for ``model.device`` (resolved): the GPU ones where this
    onnxruntime has them and the device is CUDA, the CPU provider always last."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    wanted = PROVIDERS if device.startswith("cuda") else PROVIDERS[-1:]
    return [p for p in wanted if p in available]


class OnnxModel:
    """The graphs of ``export_graphs`` in onnxruntime, with the methods the Session and the box path call
    on ``VOSModel``. Inputs and outputs are float32 CPU tensors (the Session then works on the CPU)."""

    def __init__(self, graph_dir: str | Path, device: str = "cpu", threads: int = 0) -> None:
        require("onnxruntime")
        import onnxruntime as ort

        graph_dir = Path(graph_dir)
        missing = [f for f in (MANIFEST, *(f"{n}.onnx" for n in GRAPHS)) if not (graph_dir / f).is_file()]
        if missing:
            raise FileNotFoundError(f"ONNX graph folder {graph_dir} lacks {missing}: export it with "
                                    f"`vos-ros export onnx --out {graph_dir}`")
        manifest = json.loads((graph_dir / MANIFEST).read_text())
        self.cfg = ModelConfig.from_dict(manifest["model_config"])
        self.graph_dir = graph_dir
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        # The Session runs torch operations between graph calls: threads spinning for the next graph call
        # would take the cores from them (and from other processes on a shared machine).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.providers = providers(device)
        self.sessions = {name: ort.InferenceSession(str(graph_dir / f"{name}.onnx"), options, providers=self.providers)
                         for name in GRAPHS}
        self._device_anchor = torch.empty(0)

    def parameters(self) -> Iterator[torch.Tensor]:
        """The Session and the box path take their device from the model's first parameter: the CPU."""
        yield self._device_anchor

    def run(self, name: str, **inputs: torch.Tensor) -> list[torch.Tensor]:
        """Graph ``name`` on ``inputs`` (torch tensors) -> its outputs as torch tensors."""
        feed = {k: (v.float() if v.is_floating_point() else v).detach().cpu().contiguous().numpy()
                for k, v in inputs.items()}
        return [torch.from_numpy(o) for o in self.sessions[name].run(None, feed)]

    def encode_frame(self, image: torch.Tensor) -> FrameFeatures:
        return FrameFeatures(*self.run("frame_encoder", image=image))

    def segment(self, feats: FrameFeatures, mem_keys: torch.Tensor, mem_values: torch.Tensor, buckets: torch.Tensor,
                prev_key8: torch.Tensor | None, prev_values8: torch.Tensor | None, queries: torch.Tensor,
                valid: torch.Tensor, top_k: int, mem_known: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        if prev_key8 is None:  # no previous frame: zero values read out zeros, as VOSModel.fine_readout gives
            prev_key8 = feats.key8
            prev_values8 = feats.key8.new_zeros(1, mem_values.shape[1], self.cfg.fine_value_dim, *feats.key8.shape[-2:])
        logits, presence, top_idx, weights = self.run(
            "segment", f4=feats.f4, f8=feats.f8, f16=feats.f16, key16=feats.key16, key8=feats.key8,
            mem_keys=mem_keys, mem_values=mem_values, buckets=buckets, prev_key8=prev_key8,
            prev_values8=prev_values8, queries=queries, valid=valid, top_k=torch.tensor(top_k),
            mem_known=torch.ones(mem_values.shape[:3], dtype=torch.bool) if mem_known is None else mem_known)
        return logits, presence, top_idx, weights

    def values(self, feats: FrameFeatures, masks: torch.Tensor, coarse: bool = True
               ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """VOSModel.values of a tracked frame; the graph always computes both (coarse ones on every frame
        at the default ``memory.write_every: 1``)."""
        values16, values8 = self.run("memory_values", f8=feats.f8, f16=feats.f16, masks=masks)
        return (values16 if coarse else None), values8

    def query_init(self, feats: FrameFeatures, masks: torch.Tensor) -> torch.Tensor:
        return self.run("query_init", f4=feats.f4, f8=feats.f8, f16=feats.f16, masks=masks)[0]

    def box_logits(self, feats: FrameFeatures, box_masks: torch.Tensor, valid: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        logits, presence = self.run("box_logits", f4=feats.f4, f8=feats.f8, f16=feats.f16, box_masks=box_masks,
                                    valid=valid)
        return logits, presence
