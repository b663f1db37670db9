"""PairingWatch and miss_reason: images that never find depth or camera_info are reported (no ROS)."""
from __future__ import annotations

from vos_ros.nodes.depth_pairing import PairingWatch, miss_reason


def test_warns_only_after_images_went_unpaired_for_a_while_and_counts_both() -> None:
    watch = PairingWatch(warn_after=5.0)
    assert watch.values()["depth_status"] == "no image yet"
    assert watch.frame("no depth received on /depth", 100.0) is None
    assert watch.frame("no depth received on /depth", 104.9) is None
    warning = watch.frame("no depth received on /depth", 105.0)
    assert warning is not None and "5 s" in warning and "no depth received on /depth" in warning
    assert watch.values() == {"depth_paired_frames": 0, "depth_unpaired_frames": 3,
                              "depth_status": "no depth received on /depth"}
    assert watch.frame("", 106.0) is None  # a paired image ends the run
    assert watch.values()["depth_status"] == "paired" and watch.values()["depth_paired_frames"] == 1
    assert watch.frame("no camera_info received on /camera_info", 107.0) is None  # a new run starts
    assert watch.frame("no camera_info received on /camera_info", 111.0) is None
    assert "camera_info" in watch.frame("no camera_info received on /camera_info", 112.5)


def test_miss_reason_names_what_is_missing_or_how_far_the_stamps_are() -> None:
    args = dict(tolerance_s=0.05, depth_topic="/cam/depth", info_topic="/cam/info")
    assert miss_reason(10**9, True, True, 10**9, **args) == ""
    assert miss_reason(10**9, True, False, None, **args) == "no depth received on /cam/depth"
    both = miss_reason(10**9, False, False, None, **args)
    assert both == "no camera_info received on /cam/info; no depth received on /cam/depth"
    far = miss_reason(10**9, True, False, 10**9 - 300_000_000, **args)
    assert "within node.depth_tolerance (0.05 s)" in far and "-0.300 s" in far
