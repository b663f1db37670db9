"""Trained weights: load a checkpoint, and keep one model per (checkpoint, device) per process.

Loading has no side effects on torch's global state: the entry points (node, CLI tools) set the
thread count with ``set_threads``.
"""
from __future__ import annotations

import threading
from pathlib import Path

import torch

from vos_ros.core.config import MODELS_DIR, ModelRuntimeConfig
from vos_ros.core.model import ModelConfig, VOSModel

DEFAULT_CHECKPOINT = MODELS_DIR / "vos_lite0.pt"

_models: dict[tuple[str, str], VOSModel] = {}
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


def load_model(cfg: ModelRuntimeConfig) -> VOSModel:
    """The model named by the configuration (shipped weights by default), loaded once per process."""
    path = str(Path(cfg.checkpoint) if cfg.checkpoint else DEFAULT_CHECKPOINT)
    device = resolve_device(cfg.device)
    with _models_lock:
        key = (path, device)
        if key not in _models:
            _models[key] = load_checkpoint(path, device)
        return _models[key]


def set_threads(cfg: ModelRuntimeConfig) -> None:
    """torch's CPU thread count from ``model.threads`` (0 leaves torch's default)."""
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
