"""Frames in and out of files: videos (PyAV), rosbag2 image topics (rosbags: mcap and sqlite3), mp4 out.

Used by ``vos-ros track`` and the demo. Bag images are decoded with the node's converter, which
works on rosbags messages too (same field names).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")


def scale_to_short_side(frame: np.ndarray, short_side: int) -> np.ndarray:
    """Downscale so the short side is at most ``short_side`` (0 = unchanged); never upscales."""
    h, w = frame.shape[:2]
    s = short_side / min(h, w) if short_side > 0 else 1.0
    if s >= 1.0:
        return frame
    return cv2.resize(frame, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


@dataclass
class FrameSource:
    """Frames of a video file or a bag topic: ``len`` (when known) and iteration of RGB uint8 arrays."""

    path: Path
    topic: str | None = None
    max_frames: int | None = None
    short_side: int = 0

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path} does not exist")
        self.is_bag = self.path.is_dir() or self.path.suffix in (".mcap", ".db3")
        self.source_size: tuple[int, int] | None = None  # w, h of a video's frames before scaling
        if self.is_bag:
            self.topic, self._count = self._bag_topic()
        else:
            if self.topic is not None:
                raise ValueError("--topic applies to bags only")
            with av.open(str(self.path)) as c:
                if not c.streams.video:
                    raise ValueError(f"{self.path} has no video stream")
                stream = c.streams.video[0]
                self._count = stream.frames or None
                self.source_size = (stream.width, stream.height)

    def __len__(self) -> int:
        n = self._count or 0
        return min(n, self.max_frames) if self.max_frames else n

    def _bag_dir(self) -> Path:
        # rosbags opens a bag by its folder (with metadata.yaml)
        return self.path if self.path.is_dir() else self.path.parent

    def _bag_topic(self) -> tuple[str, int]:
        from rosbags.rosbag2 import Reader

        with Reader(self._bag_dir()) as reader:
            images = {c.topic: c for c in reader.connections if c.msgtype in IMAGE_TYPES}
        if not images:
            raise ValueError(f"{self.path}: no sensor_msgs Image or CompressedImage topic")
        if self.topic is None:
            if len(images) > 1:
                raise ValueError(f"{self.path}: several image topics {sorted(images)}; choose one with --topic")
            return next(iter(images)), next(iter(images.values())).msgcount
        if self.topic not in images:
            raise ValueError(f"{self.path}: no image topic '{self.topic}' (image topics: {sorted(images)})")
        return self.topic, images[self.topic].msgcount

    def __iter__(self) -> Iterator[np.ndarray]:
        frames = self._bag_frames() if self.is_bag else self._video_frames()
        for k, frame in enumerate(frames):
            if self.max_frames is not None and k >= self.max_frames:
                return
            yield scale_to_short_side(frame, self.short_side)

    def _video_frames(self) -> Iterator[np.ndarray]:
        with av.open(str(self.path)) as c:
            for frame in c.decode(video=0):
                yield frame.to_ndarray(format="rgb24")

    def _bag_frames(self) -> Iterator[np.ndarray]:
        from rosbags.rosbag2 import Reader
        from rosbags.typesys import Stores, get_typestore

        from vos_ros.nodes import convert

        typestore = get_typestore(Stores.ROS2_HUMBLE)
        with Reader(self._bag_dir()) as reader:
            conns = [c for c in reader.connections if c.topic == self.topic]
            for conn, _, raw in reader.messages(connections=conns):
                msg = typestore.deserialize_cdr(raw, conn.msgtype)
                if conn.msgtype.endswith("CompressedImage"):
                    yield convert.compressed_to_rgb(msg)
                else:
                    yield convert.image_to_rgb(msg)


class VideoWriter:
    """H.264 mp4 writer for RGB frames (odd sizes are cropped to even, as yuv420p needs)."""

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self.path), "w")
        self._stream = self._container.add_stream("libx264", rate=round(fps))
        self._stream.pix_fmt = "yuv420p"
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
        if self._size is None:
            self._size = (h, w)
            self._stream.height, self._stream.width = h, w
        elif (h, w) != self._size:
            raise ValueError(f"frame {w}x{h} differs from the video's {self._size[1]}x{self._size[0]}")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:h, :w]), format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_label_png(path: Path, label_image: np.ndarray) -> None:
    """16-bit PNG, pixel = track id (0 = background)."""
    if not cv2.imwrite(str(path), label_image.astype(np.uint16)):
        raise OSError(f"could not write {path}")
