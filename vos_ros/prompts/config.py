"""Parameters of the text-prompt node (config/vos_prompt.yaml), typed and validated (ROS-free)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vos_ros.core.config import CONFIG_DIR, describe, from_params, load_params
from vos_ros.prompts.box_masks import SEGMENTERS

PROMPT_CONFIG = CONFIG_DIR / "vos_prompt.yaml"
GROUP = "prompt"


@dataclass
class PromptConfig:
    min_score: float = field(metadata=describe(
        "candidates whose score (the calibrated probability of being what the phrase names) is below are "
        "not returned; a request's min_score 0 means this value"))
    max_instances: int = field(metadata=describe(
        "at most this many objects per phrase when the request's max_instances is 0 (0 = all)"))
    segmenter: str = field(metadata=describe(
        "box -> mask step: auto (the tracker's box path when its weights exist, else GrabCut), tracker, grabcut"))
    compressed_input: bool = field(metadata=describe(
        "subscribe `image` as sensor_msgs/CompressedImage (match the tracker's node.compressed_input)"))
    use_depth: bool = field(metadata=describe(
        "subscribe `depth` (16UC1 mm or 32FC1 m, registered to `image`) for tabletop object proposals"))
    depth_tolerance: float = field(metadata=describe(
        "largest stamp difference in seconds between the image and the depth frame used with it"))
    max_image_age: float = field(metadata=describe(
        "refuse to ground on an image received more than this many seconds ago (0 = any age)"))
    tracker_node: str = field(metadata=describe(
        "name of the tracker node (relative: in this node's namespace) whose model.* parameters the box "
        "path runs with: weights, device, precision, box crop and threshold"))
    tracker_timeout: float = field(metadata=describe(
        "seconds to wait for the tracker's add_objects / remove_objects services"))
    reground_period: float = field(metadata=describe(
        "seconds between groundings of the active phrases on the newest tracked frame, so that new "
        "instances become new tracks (0 = ground once per request)"))

    def validate(self) -> None:
        if not 0.0 < self.min_score <= 1.0:
            raise ValueError(f"prompt.min_score must be in (0, 1], got {self.min_score}")
        if self.max_instances < 0:
            raise ValueError(f"prompt.max_instances must be >= 0, got {self.max_instances}")
        if self.segmenter not in SEGMENTERS:
            raise ValueError(f"prompt.segmenter must be one of {SEGMENTERS}, got {self.segmenter!r}")
        for name in ("depth_tolerance", "max_image_age", "reground_period"):
            if getattr(self, name) < 0:
                raise ValueError(f"prompt.{name} must be >= 0, got {getattr(self, name)}")
        if not self.tracker_node.strip():
            raise ValueError("prompt.tracker_node must name the tracker node (e.g. vos_tracker)")
        if self.tracker_timeout <= 0:
            raise ValueError(f"prompt.tracker_timeout must be > 0, got {self.tracker_timeout}")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> PromptConfig:
        return from_params(cls, params, GROUP)

    @classmethod
    def load(cls, path: str | Path = PROMPT_CONFIG) -> PromptConfig:
        return cls.from_params(load_params(path))
