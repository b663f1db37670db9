"""Whether the tracker's images find a depth frame and camera_info (node.use_depth); ROS-free.

3-D centroids need both. Without this, a mis-wired depth topic, a missing camera_info or depth
stamps that never come within node.depth_tolerance of the image stamps look like tracks that
simply have no centroid; here each image's outcome is counted, and a run of unpaired images that
has lasted ``warn_after`` seconds gives a warning naming the reason.
"""
from __future__ import annotations

import threading

WARN_AFTER_S = 5.0


class PairingWatch:
    """Counts of paired and unpaired images, the last outcome, and when to warn (thread-safe: the
    worker records frames while the executor reads ``values()`` for /diagnostics)."""

    def __init__(self, warn_after: float = WARN_AFTER_S) -> None:
        self._warn_after = warn_after
        self._lock = threading.Lock()
        self._paired = 0
        self._unpaired = 0
        self._status = "no image yet"
        self._unpaired_since: float | None = None  # first image of the current unpaired run

    def frame(self, reason: str, now: float) -> str | None:
        """Record one image; ``reason`` says why it found no depth ('' = paired). Returns a warning
        once images have gone unpaired for ``warn_after`` seconds, else None."""
        with self._lock:
            if not reason:
                self._paired += 1
                self._status, self._unpaired_since = "paired", None
                return None
            self._unpaired += 1
            self._status = reason
            if self._unpaired_since is None:
                self._unpaired_since = now
            lasting = now - self._unpaired_since
        if lasting < self._warn_after:
            return None
        return f"no 3-D centroids: images have found no depth for {lasting:.0f} s ({reason})"

    def values(self) -> dict[str, object]:
        """Diagnostics: ``depth_paired_frames``, ``depth_unpaired_frames``, ``depth_status``."""
        with self._lock:
            return {"depth_paired_frames": self._paired, "depth_unpaired_frames": self._unpaired,
                    "depth_status": self._status}


def miss_reason(image_stamp_ns: int, has_camera_info: bool, depth_found: bool, newest_depth_ns: int | None,
                tolerance_s: float, depth_topic: str, info_topic: str) -> str:
    """Why an image found no depth ('' when it did): what is missing, or how far the stamps are apart."""
    reasons = []
    if not has_camera_info:
        reasons.append(f"no camera_info received on {info_topic}")
    if newest_depth_ns is None:
        reasons.append(f"no depth received on {depth_topic}")
    elif not depth_found:
        apart = (newest_depth_ns - image_stamp_ns) / 1e9
        reasons.append(f"no depth frame on {depth_topic} within node.depth_tolerance ({tolerance_s} s) of the "
                       f"image stamp; the newest depth stamp is {apart:+.3f} s from it")
    return "; ".join(reasons)
