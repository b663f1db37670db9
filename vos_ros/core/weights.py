"""Trained weights: load a checkpoint, and keep one model per (checkpoint, device, runtime) per process.

Loading has no side effects on torch's global state: the entry points (node, CLI tools) set the
thread count with ``set_threads``.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from vos_ros.core.config import MODELS_DIR, RUNTIMES, ModelRuntimeConfig
from vos_ros.core.model import ModelConfig, VOSModel

if TYPE_CHECKING:
    from vos_ros.core.onnx_runtime import OnnxModel

DEFAULT_CHECKPOINT = MODELS_DIR / "vos_lite0.pt"

_models: dict[tuple[str, ...], VOSModel | OnnxModel] = {}
_models_lock = threading.Lock()


def load_checkpoint(path: str | Path, device: str = "cpu") -> VOSModel:
    """A VOSModel with the trainable weights of ``path`` (strict: every tensor must fit)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found (train one with `vos-ros train`)")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model = VOSModel(ModelConfig.from_dict(ckpt["model_config"]))
    model.load_trainable_state_dict(ckpt["state_dict"])
    return model.to_device(device).eval()


def resolve_device(device: str) -> str:
    """``model.device``: "auto" is CUDA where torch sees a GPU, else the CPU; other values as they are."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def load_model(cfg: ModelRuntimeConfig) -> VOSModel | OnnxModel:
    """The model named by the configuration (shipped weights by default), loaded once per process.

    ``model.runtime`` torch: a VOSModel on ``model.device``; onnxruntime: an OnnxModel (the same methods)
    on the graphs in ``model.onnx_dir``, or, when that is empty, on the checkpoint's graphs in the
    export cache (exported on first use).
    """
    path = str(Path(cfg.checkpoint) if cfg.checkpoint else DEFAULT_CHECKPOINT)
    device = resolve_device(cfg.device)
    if cfg.runtime not in RUNTIMES:
        raise ValueError(f"model.runtime must be one of {RUNTIMES}, got '{cfg.runtime}'")
    with _models_lock:
        key = (path, device, cfg.runtime, cfg.onnx_dir, str(cfg.threads))
        if key not in _models:
            _models[key] = load_checkpoint(path, device) if cfg.runtime == "torch" else _load_onnx(path, device, cfg)
        return _models[key]


def _load_onnx(path: str, device: str, cfg: ModelRuntimeConfig) -> OnnxModel:
    from vos_ros.core.onnx_runtime import OnnxModel, cached_graphs

    graph_dir = cfg.onnx_dir or cached_graphs(path)
    return OnnxModel(graph_dir, device, cfg.threads)


def set_threads(cfg: ModelRuntimeConfig) -> None:
    """torch's CPU thread count from ``model.threads`` (0 leaves torch's default)."""
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
