"""Run-time configuration: typed views of the parameters in config/*.yaml.

The YAML files are the one source of defaults. They use the ROS 2 parameter file layout
(``<node>: ros__parameters: {group.name: value}``) so the node loads them unchanged; the
core and the CLI read the same file through :func:`load_params`. Field metadata holds
each parameter's description, which the node uses when it declares the parameter.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
# A wheel (`pip install .`, pyproject.toml) carries config/ and models/ inside the package, here.
WHEEL_SHARE_DIR = Path(__file__).resolve().parents[1] / "_share"


def _share_dir() -> Path:
    """config/ and models/ live in the wheel's vos_ros/_share, at the repo root, or in share/vos_ros after
    an ament install (in that order: the wheel's folder exists only in a wheel)."""
    if (WHEEL_SHARE_DIR / "config").is_dir():
        return WHEEL_SHARE_DIR
    if (PACKAGE_ROOT / "config").is_dir():
        return PACKAGE_ROOT
    try:  # colcon / cmake install: <prefix>/share/vos_ros
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory("vos_ros"))
    except Exception:  # noqa: BLE001 - ament index absent: fall back to the source tree
        return PACKAGE_ROOT


SHARE_DIR = _share_dir()
CONFIG_DIR = SHARE_DIR / "config"
MODELS_DIR = SHARE_DIR / "models"
TRACKER_CONFIG = CONFIG_DIR / "vos_tracker.yaml"
PROFILES_DIR = CONFIG_DIR / "profiles"   # partial tracker parameter files for a kind of machine


def profile_names() -> list[str]:
    """Names of the profiles in config/profiles (file names without .yaml)."""
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def profile_path(name: str) -> Path:
    """The parameter file of profile ``name`` (e.g. "jetson_orin"); ValueError naming the known ones."""
    names = profile_names()
    if name not in names:
        raise ValueError(f"unknown profile '{name}'; known: {', '.join(names)} (files in {PROFILES_DIR})")
    return PROFILES_DIR / f"{name}.yaml"


def load_params(path: str | Path = TRACKER_CONFIG) -> dict[str, Any]:
    """Flat ``{"group.name": value}`` dict from a ROS 2 parameter YAML file (first node entry)."""
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f) or {}
    for entry in doc.values():
        if isinstance(entry, dict) and "ros__parameters" in entry:
            return dict(entry["ros__parameters"])
    raise ValueError(f"{path}: no '<node>: ros__parameters:' section")


def describe(text: str) -> dict[str, str]:
    """Field metadata holding a parameter's description."""
    return {"description": text}


# Parameters an earlier version named differently: old prefix -> new prefix. A parameter file, override
# or node parameter still using an old name is refused with the new name rather than ignored.
RENAMED_PREFIXES = {"lifecycle.": "track."}


def renamed_parameters(names: Any) -> list[str]:
    """One message per name in ``names`` that was renamed, e.g. "parameter 'lifecycle.lost_after' was
    renamed to 'track.lost_after'"; empty when none was."""
    return [f"parameter '{name}' was renamed to '{new + name[len(old):]}'"
            for name in sorted(names) for old, new in RENAMED_PREFIXES.items() if name.startswith(old)]


T = TypeVar("T")


def from_params(cls: type[T], params: dict[str, Any], group: str) -> T:
    """Build dataclass ``cls`` from the ``group.*`` entries of ``params`` (all must be present)."""
    values = {}
    for f in dataclasses.fields(cls):
        key = f"{group}.{f.name}"
        if key not in params:
            raise KeyError(f"parameter '{key}' missing from the configuration")
        values[f.name] = params[key]
    obj = cls(**values)
    validate = getattr(obj, "validate", None)
    if validate is not None:
        validate()
    return obj


PRECISIONS = ("fp32", "bf16")                 # network arithmetic
PRECISION_CHOICES = ("auto", *PRECISIONS)     # what model.precision takes (auto: see core.model)
RUNTIMES = ("torch", "onnxruntime")           # what runs the network (model.runtime)

@dataclass
class ModelRuntimeConfig:
    checkpoint: str = field(metadata=describe("checkpoint path; empty = the shipped weights in models/"))
    device: str = field(metadata=describe(
        "torch device: auto (CUDA where torch sees a GPU, else CPU), cpu, cuda or cuda:N"))
    precision: str = field(metadata=describe(
        "network arithmetic: fp32, bf16, or auto (bf16 on GPUs and AMX CPUs, where it is faster)"))
    input_short_side: int = field(metadata=describe(
        "scale frames so the short side is at most this (0 = as is); smaller frames are scaled up to it "
        "with model.upscale"))
    upscale: bool = field(metadata=describe(
        "scale frames with a smaller short side up to model.input_short_side (more accurate, slower)"))
    threads: int = field(metadata=describe("torch CPU threads (0 = torch default)"))
    runtime: str = field(metadata=describe(
        "what runs the network: torch, or onnxruntime (its ONNX graphs, vos_ros/core/onnx_runtime.py; CPU "
        "provider, CUDA / TensorRT providers where installed and model.device is CUDA)"))
    onnx_dir: str = field(metadata=describe(
        "model.runtime onnxruntime: folder of `vos-ros export onnx` graphs; empty = exported to .cache/onnx "
        "on first use"))
    box_crop_side: int = field(metadata=describe(
        "box prompts are segmented in a crop around the box scaled to this short side (the training scale)"))
    box_threshold: float = field(metadata=describe("box-path probability above which a pixel is the object"))
    mirror_view: bool = field(metadata=describe(
        "also track the mirrored frame and follow the mean of both views (more accurate, twice the time)"))
    extra_short_side: int = field(metadata=describe(
        "also track at this network input short side and follow the mean of all views (0 = off)"))

    def validate(self) -> None:
        if self.input_short_side != 0 and self.input_short_side < 16:
            raise ValueError(f"model.input_short_side must be 0 or >= 16, got {self.input_short_side}")
        if self.extra_short_side != 0 and self.extra_short_side < 16:
            raise ValueError(f"model.extra_short_side must be 0 or >= 16, got {self.extra_short_side}")
        if self.threads < 0:
            raise ValueError("model.threads must be >= 0")
        if self.box_crop_side < 32:
            raise ValueError(f"model.box_crop_side must be >= 32, got {self.box_crop_side}")
        if not 0.0 < self.box_threshold < 1.0:
            raise ValueError(f"model.box_threshold must be in (0, 1), got {self.box_threshold}")
        if self.precision not in PRECISION_CHOICES:
            raise ValueError(f"model.precision must be one of {PRECISION_CHOICES}, got '{self.precision}'")
        if self.runtime not in RUNTIMES:
            raise ValueError(f"model.runtime must be one of {RUNTIMES}, got '{self.runtime}'")
        if not (self.device in ("auto", "cpu") or self.device.startswith("cuda")):
            raise ValueError(f"model.device must be auto, cpu or cuda[:N], got '{self.device}'")


@dataclass
class MemoryConfig:
    working_frames: int = field(metadata=describe("newest memory frames kept in full (FIFO)"))
    write_every: int = field(metadata=describe("write a memory frame every N frames (prompt frames always)"))
    max_prompt_frames: int = field(metadata=describe("prompt frames kept forever; older ones are consolidated"))
    long_term_tokens: int = field(metadata=describe("consolidated long-term prototype tokens kept at most"))
    prototypes_per_frame: int = field(metadata=describe("tokens a frame leaving the FIFO gives to long-term memory"))
    top_k: int = field(metadata=describe("memory tokens each query pixel reads from"))

    def validate(self) -> None:
        for f in dataclasses.fields(self):
            if getattr(self, f.name) < (0 if f.name in ("long_term_tokens", "prototypes_per_frame") else 1):
                raise ValueError(f"memory.{f.name} must be positive, got {getattr(self, f.name)}")


@dataclass
class TrackConfig:
    confirm_frames: int = field(metadata=describe("a NEW track becomes TRACKED after this many present frames"))
    presence_threshold: float = field(metadata=describe("presence score above which an object counts as visible"))
    min_area: int = field(metadata=describe("masks smaller than this many input pixels count as absent"))
    lost_after: int = field(metadata=describe("frames OCCLUDED before a track becomes LOST"))
    gate_margin: float = field(metadata=describe(
        "a look-alike's mask is kept inside its predicted box grown by this fraction of its size per side, per "
        "frame since it was last seen reliably (0 = no motion gate)"))
    max_growth: float = field(metadata=describe(
        "a look-alike's mask larger than this many times its reference area has spread onto something else: "
        "it is cut to the predicted box and not remembered as seen"))
    rotate_after: int = field(metadata=describe(
        "a track absent for more than this many frames is tracked in turn with the others absent as long, one "
        "per frame, so step time does not grow with objects that left"))
    forget_after: int = field(metadata=describe(
        "a track LOST for this many more frames is forgotten: removed with its memory, its id never reused, so "
        "memory stays flat on an endless stream where objects leave for good (0 = never)"))
    max_objects: int = field(metadata=describe(
        "most objects tracked at once (LOST ones included); prompts beyond it are refused"))
    lookalike_similarity: float = field(metadata=describe(
        "objects whose prompt-time appearance is at least this similar (cosine of features) are look-alikes: "
        "only they are motion-gated; a mask found again for an absent object must be this similar to it"))
    redetect_every: int = field(metadata=describe(
        "an absent object is looked for with the box path every this many frames, at its predicted box, "
        "where it was last seen and, for a look-alike (LOST ones too), the free region most like it, by turns "
        "(one object per frame; 0 = never)"))

    def validate(self) -> None:
        if not 0.0 < self.presence_threshold < 1.0:
            raise ValueError("track.presence_threshold must be in (0, 1)")
        if self.rotate_after < 0 or self.forget_after < 0:
            raise ValueError(f"track.rotate_after and forget_after must be >= 0, got {self.rotate_after}, "
                             f"{self.forget_after}")
        if self.max_objects < 1:
            raise ValueError(f"track.max_objects must be >= 1, got {self.max_objects}")
        if not 0.0 < self.lookalike_similarity <= 1.0 or self.redetect_every < 0:
            raise ValueError(f"track.lookalike_similarity must be in (0, 1] and redetect_every >= 0, got "
                             f"{self.lookalike_similarity}, {self.redetect_every}")
        if self.gate_margin < 0 or self.max_growth <= 1.0:
            raise ValueError(f"track.gate_margin must be >= 0 and max_growth > 1, got {self.gate_margin}, "
                             f"{self.max_growth}")
        if self.confirm_frames < 1 or self.lost_after < 1 or self.min_area < 0:
            raise ValueError("track.confirm_frames and lost_after must be >= 1, min_area >= 0")


@dataclass
class TrackerConfig:
    """Everything a Session needs, read from one parameter file."""

    model: ModelRuntimeConfig
    memory: MemoryConfig
    track: TrackConfig

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TrackerConfig:
        return cls(
            model=from_params(ModelRuntimeConfig, params, "model"),
            memory=from_params(MemoryConfig, params, "memory"),
            track=from_params(TrackConfig, params, "track"),
        )

    @classmethod
    def load(cls, path: str | Path = TRACKER_CONFIG, profile: str | None = None, **overrides: Any) -> TrackerConfig:
        """The defaults of config/vos_tracker.yaml, then the parameters of ``profile`` (config/profiles), then
        those ``path`` sets (a ROS params file may set just some); ``overrides`` last, with dotted names
        with '__' for '.' (memory__top_k=10)."""
        params = load_params(TRACKER_CONFIG)
        given = load_params(profile_path(profile)) if profile else {}
        given.update(load_params(path) if Path(path) != TRACKER_CONFIG else {})
        given.update({key.replace("__", "."): value for key, value in overrides.items()})
        renamed = renamed_parameters(given)
        if renamed:
            raise KeyError("; ".join(renamed))
        unknown = sorted(set(given) - set(params))
        if unknown:
            raise KeyError(f"unknown parameter(s) {unknown}; known: {sorted(params)}")
        return cls.from_params({**params, **given})
