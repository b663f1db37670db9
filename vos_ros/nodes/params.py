"""Parameters of the vos_tracker node: the core groups (model, memory, track) plus ``node.*``.

Defaults come from config/vos_tracker.yaml only; descriptions from the dataclass field metadata.
ROS-free so the docs and tests can list and validate parameters without a running node.
"""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vos_ros.core.config import (
    TRACKER_CONFIG,
    MemoryConfig,
    ModelRuntimeConfig,
    TrackConfig,
    TrackerConfig,
    describe,
    from_params,
    load_params,
)


@dataclass
class NodeConfig:
    """How the node talks to ROS (topics, queueing, what it publishes)."""

    autostart: bool = field(metadata=describe(
        "configure and activate the lifecycle node at start-up (plain `ros2 run` just works)"))
    compressed_input: bool = field(metadata=describe(
        "subscribe `image` as sensor_msgs/CompressedImage (jpeg/png) instead of sensor_msgs/Image"))
    use_depth: bool = field(metadata=describe(
        "subscribe `depth` (16UC1 mm or 32FC1 m, registered to `image`) and `camera_info` for 3-D centroids"))
    input_reliability: str = field(metadata=describe(
        "reliability of the input subscriptions: auto (reliable while every publisher of the topic is"
        " reliable, else best effort; checked every second), reliable (lossless, matches reliable"
        " publishers only) or best_effort (matches every publisher; large frames may be lost)"))
    depth_tolerance: float = field(metadata=describe(
        "largest stamp difference in seconds between an image and the depth frame used with it"))
    publish_overlay: bool = field(metadata=describe(
        "publish `overlay` (rgb8; drawn only while someone subscribes)"))
    publish_markers: bool = field(metadata=describe(
        "publish `markers` (text per track, sphere at the 3-D centroid when known)"))
    queue_size: int = field(metadata=describe(
        "frames waiting for the worker; when full the oldest is dropped and counted (1 = newest only)"))
    diagnostics_period: float = field(metadata=describe("seconds between /diagnostics messages"))

    def validate(self) -> None:
        if self.input_reliability not in ("auto", "reliable", "best_effort"):
            raise ValueError("node.input_reliability must be auto, reliable or best_effort, "
                             f"got '{self.input_reliability}'")
        if self.queue_size < 1:
            raise ValueError(f"node.queue_size must be >= 1, got {self.queue_size}")
        if self.diagnostics_period <= 0:
            raise ValueError(f"node.diagnostics_period must be > 0, got {self.diagnostics_period}")
        if self.depth_tolerance < 0:
            raise ValueError(f"node.depth_tolerance must be >= 0, got {self.depth_tolerance}")


GROUPS: dict[str, type] = {
    "model": ModelRuntimeConfig,
    "memory": MemoryConfig,
    "track": TrackConfig,
    "node": NodeConfig,
}
# Parameters the node applies as soon as they are set; the others take effect at the next
# configure (topics, timers) or activate (model, session).
LIVE_PARAMETERS = ("node.publish_overlay", "node.publish_markers", "node.queue_size", "node.depth_tolerance")


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: Any
    description: str


def parameter_specs(path: str | Path = TRACKER_CONFIG, groups: dict[str, type] | None = None) -> list[ParamSpec]:
    """Every parameter of a node with its default (from ``path``) and description, in declaration
    order; ``groups`` (prefix -> config dataclass) defaults to the tracker's GROUPS."""
    defaults = load_params(path)
    specs = []
    for group, cls in (GROUPS if groups is None else groups).items():
        for f in dataclasses.fields(cls):
            name = f"{group}.{f.name}"
            if name not in defaults:
                raise KeyError(f"{path}: parameter '{name}' has no default")
            specs.append(ParamSpec(name, defaults[name], f.metadata["description"]))
    known = {s.name for s in specs}
    extra = sorted(set(defaults) - known)
    if extra:
        raise KeyError(f"{path}: unknown parameters {extra}")
    return specs


def coerce(name: str, value: Any, default: Any) -> Any:
    """``value`` converted to the type of ``default`` (ints are fine for floats), else ValueError."""
    kind = type(default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type(value) is not kind:
        raise ValueError(f"parameter '{name}' must be {kind.__name__}, got {type(value).__name__} {value!r}")
    return value


def build_configs(params: dict[str, Any]) -> tuple[TrackerConfig, NodeConfig]:
    """Typed, validated views of a flat parameter dict; ValueError/KeyError names the bad parameter."""
    return TrackerConfig.from_params(params), from_params(NodeConfig, params, "node")


def help_requested(args: list[str] | None = None) -> bool:
    """Whether the node's own arguments (before ``--ros-args``; ``sys.argv`` when None) ask for -h/--help."""
    argv = (sys.argv if args is None else args)[1:]
    own = argv[: argv.index("--ros-args")] if "--ros-args" in argv else argv
    return "-h" in own or "--help" in own


def help_text(doc: str, specs: list[ParamSpec], path: str | Path) -> str:
    """What a node prints for --help: its module docstring, then its parameters."""
    lines = [doc.strip(), "", f"Parameters (defaults from {path}; set with --ros-args -p NAME:=VALUE"
             " or --params-file FILE):"]
    for spec in specs:
        lines += [f"  {spec.name} = {spec.default!r}", f"      {spec.description}"]
    return "\n".join(lines)
