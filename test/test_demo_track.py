"""`vos-ros track` on a short video and on tiny rosbag2 bags (mcap, sqlite3), and the demo end to end."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from conftest import REPO_ROOT

from vos_ros.core.config import load_params
from vos_ros.tools import cli, demo
from vos_ros.tools.media import FrameSource, VideoWriter
from vos_ros.tools.synthetic_scene import Scene, Sprite

BOXES = ["20,30,60,60", "150,60,50,50"]


@pytest.fixture(scope="module")
def scene() -> Scene:
    sprites = [Sprite("face", "astronaut", (150, 20, 170, 190), (60, 60), (20, 30), (3, 1)),
               Sprite("coins", "coins", (0, 0, 160, 160), (50, 50), (150, 60), (-2, 1))]
    return Scene("coffee", (240, 160), sprites)


@pytest.fixture(scope="module")
def scene_frames(scene: Scene) -> list[np.ndarray]:
    return [scene.render(k)[0] for k in range(6)]


@pytest.fixture(scope="module")
def tracker_config(tmp_path_factory, checkpoint: str) -> Path:
    # The frames' own size: at 96 px the shipped model loses the coins on frames 2-3 and both objects by
    # frame 5 (measured); at 160 px every frame's IoU is >= 0.85.
    params = {**load_params(), "model.checkpoint": checkpoint, "model.input_short_side": 160, "model.threads": 1}
    path = tmp_path_factory.mktemp("cfg") / "tracker.yaml"
    path.write_text(yaml.safe_dump({"/**/vos_tracker": {"ros__parameters": params}}))
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory, scene_frames) -> Path:
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    with VideoWriter(path, 10) as writer:
        for f in scene_frames:
            writer.write(f)
    return path


def write_bag(path: Path, topics: dict[str, list[np.ndarray]], storage: str, compressed: bool = False) -> Path:
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_HUMBLE)
    msg_type = "sensor_msgs/msg/CompressedImage" if compressed else "sensor_msgs/msg/Image"
    Msg, Header, Time = (ts.types[t] for t in (msg_type, "std_msgs/msg/Header", "builtin_interfaces/msg/Time"))
    plugin = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}[storage]
    with Writer(path, version=8, storage_plugin=plugin) as writer:
        for topic, frames in topics.items():
            conn = writer.add_connection(topic, msg_type, typestore=ts)
            for k, f in enumerate(frames):
                header = Header(stamp=Time(sec=k, nanosec=0), frame_id="cam")
                if compressed:
                    ok, png = cv2.imencode(".png", f[..., ::-1])
                    msg = Msg(header=header, format="png", data=png.reshape(-1))
                else:
                    msg = Msg(header=header, height=f.shape[0], width=f.shape[1], encoding="rgb8", is_bigendian=0,
                              step=f.shape[1] * 3, data=np.ascontiguousarray(f).reshape(-1))
                writer.write(conn, k * 100_000_000, ts.serialize_cdr(msg, msg_type))
    return path


def run_track(input_path: Path, out_dir: Path, config: Path, *extra: str) -> int:
    argv = ["track", str(input_path), "--out", str(out_dir / "overlay.mp4"), "--masks", str(out_dir / "masks"),
            "--config", str(config)]
    for b in BOXES:
        argv += ["--box", b]
    return cli.main(argv + ["--label", "face", *extra])


def read_masks(folder: Path) -> list[np.ndarray]:
    return [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted(folder.glob("*.png"))]


@pytest.fixture(scope="module")
def video_run(video: Path, tracker_config: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("video_run")
    assert run_track(video, out, tracker_config) == 0
    return out


def check_track_outputs(run: Path, scene: Scene) -> None:
    masks = read_masks(run / "masks")
    assert len(masks) == 6 and all(m.dtype == np.uint16 and m.shape == (160, 240) for m in masks)
    assert set(np.unique(np.stack(masks))) <= {0, 1, 2}
    # first frame: box prompts give masks inside their boxes
    first = masks[0]
    for i, (x, y, w, h) in enumerate(tuple(int(v) for v in b.split(",")) for b in BOXES):
        outside = (first == i + 1).copy()
        outside[max(0, y - 4):y + h + 4, max(0, x - 4):x + w + 4] = False
        assert (first == i + 1).any() and not outside.any()
    # later frames: each object is still tracked, on its moving sprite (IoU measured >= 0.85 with
    # models/vos_lite0.pt at 160 px, >= 0.82 with --adapt-steps 2)
    for k, labels in enumerate(masks[1:], start=1):
        for i, truth in enumerate(scene.render(k)[1]):
            mask = labels == i + 1
            iou = (mask & truth).sum() / (mask | truth).sum()
            assert mask.any() and iou >= 0.7, f"frame {k} object {i + 1}: IoU {iou:.2f} with its sprite"
    frames = list(FrameSource(run / "overlay.mp4"))
    assert len(frames) == 6 and frames[0].shape == (160, 240, 3)


def test_track_video_writes_overlay_and_masks(video_run: Path, scene: Scene) -> None:
    check_track_outputs(video_run, scene)


def test_track_adapts_to_the_first_frame_when_asked(video: Path, tracker_config: Path, tmp_path: Path,
                                                    capsys, scene: Scene) -> None:
    assert run_track(video, tmp_path, tracker_config, "--adapt-steps", "2") == 0
    assert "s of adaptation" in capsys.readouterr().out
    check_track_outputs(tmp_path, scene)


@pytest.mark.parametrize(("storage", "compressed"), [("mcap", False), ("sqlite3", True)])
def test_bag_gives_the_same_masks_as_the_same_frames_in_a_video(video: Path, video_run: Path, tracker_config: Path,
                                                                tmp_path: Path, storage: str, compressed: bool) -> None:
    decoded = list(FrameSource(video))  # the exact frames the video run saw
    bag = write_bag(tmp_path / "bag", {"/cam/image_raw": decoded}, storage, compressed)
    assert run_track(bag, tmp_path / "from_bag", tracker_config) == 0
    for a, b in zip(read_masks(video_run / "masks"), read_masks(tmp_path / "from_bag" / "masks"), strict=True):
        np.testing.assert_array_equal(a, b)


def test_track_rejects_bad_inputs_clearly(tmp_path: Path, scene_frames, tracker_config: Path, capsys) -> None:
    bag = write_bag(tmp_path / "two", {"/a/image": scene_frames[:2], "/b/image": scene_frames[:2]}, "mcap")
    assert run_track(bag, tmp_path / "o1", tracker_config) == 2
    assert "several image topics ['/a/image', '/b/image']; choose one with --topic" in capsys.readouterr().err
    assert run_track(bag, tmp_path / "o2", tracker_config, "--topic", "/c/image") == 2
    assert "no image topic '/c/image'" in capsys.readouterr().err
    assert run_track(bag, tmp_path / "o3", tracker_config, "--topic", "/b/image") == 0
    assert len(read_masks(tmp_path / "o3" / "masks")) == 2
    assert run_track(tmp_path / "missing.mp4", tmp_path / "o4", tracker_config) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["track", str(bag), "--box", "1,2,3", "--out", str(tmp_path / "x.mp4")])
    assert "must be x,y,w,h" in capsys.readouterr().err


def test_the_demo_s_node_step_is_the_mean_over_the_run() -> None:
    windows = [{"frames_processed": "3", "step_ms": "100.00"}, {"frames_processed": "3", "step_ms": "0.00"},
               {"frames_processed": "5", "step_ms": "40.00"}]  # the middle window processed nothing
    assert demo.mean_step_ms(windows) == pytest.approx((3 * 100 + 2 * 40) / 5)
    assert np.isnan(demo.mean_step_ms([]))


def test_demo_runs_the_real_node_and_writes_video_sheet_and_stats(ros_domain: int, checkpoint: str,
                                                                  tmp_path: Path, capsys) -> None:
    cfg = yaml.safe_load((REPO_ROOT / "config" / "demo.yaml").read_text())
    cfg["synthetic"]["size"] = [320, 180]
    for o in cfg["synthetic"]["objects"]:  # same scene at half size
        o["size"] = [v // 2 for v in o["size"]]
        o["start"] = [v / 2 for v in o["start"]]
        o["velocity"] = [v / 2 for v in o["velocity"]]
        o["first_frame"], o["prompt_frame"] = min(o.get("first_frame", 0), 2), min(o["prompt_frame"], 4)
    config = tmp_path / "demo.yaml"
    config.write_text(yaml.safe_dump(cfg))
    argv = ["--config", str(config), "--synthetic", "--frames", "6", "--rate", "4", "--out", str(tmp_path / "out"),
            "--params", f"model.checkpoint={checkpoint}", "--params", "model.input_short_side=96"]
    assert demo.main(argv) == 0
    printed = capsys.readouterr().out
    assert "tracker processed" in printed and "latency publish->tracks" in printed
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["frames_published"] == 6 and 2 <= stats["frames_processed"] <= 6
    assert stats["frames_dropped"] == 6 - stats["frames_processed"]
    assert stats["processed_fps"] > 0 and stats["latency_ms_mean"] > 0 and stats["memory_tokens"] > 0
    assert stats["node_step_ms"] > 0
    assert len(list(FrameSource(tmp_path / "out" / "overlay.mp4"))) == 6
    sheet = cv2.imread(str(tmp_path / "out" / "contact_sheet.png"))
    assert sheet is not None and sheet.shape[1] == 4 * 400
