"""`make demo`: play a real clip through the real vos_tracker node over DDS and record what it publishes.

    python -m vos_ros.tools.demo [--config config/demo.yaml] [--frames 90] [--rate 3] [--synthetic]

A player publishes sensor_msgs/Image frames at a fixed rate, the tracker node (its own process,
started as launch/vos.launch.py describes it) segments them, and a recorder subscribes to `tracks`
and `overlay`. Objects are prompted with boxes from the config through `add_objects`. Writes
out/demo/overlay.mp4 (dropped frames hold the previous overlay) and out/demo/contact_sheet.png,
and prints the processed frame rate, drops and latency (publish -> tracks received).
The clip is ../shared/data/demo_videos/02_cups.mp4; without it, a scene built at run time from
scikit-image photographs (objects moving, leaving, entering).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import Image, RegionOfInterest
from std_msgs.msg import Header
from tqdm import tqdm

from vos_ros.core.config import CONFIG_DIR, PACKAGE_ROOT
from vos_ros.core.types import Box
from vos_ros.core.visualize import contact_sheet, pick_evenly
from vos_ros.msg import TrackArray
from vos_ros.nodes import convert
from vos_ros.nodes.launch_description import describe
from vos_ros.nodes.peer import NodeProcess, RosPeer, claim_domain, confine_to_localhost
from vos_ros.srv import AddObjects
from vos_ros.tools.davis_io import data_root
from vos_ros.tools.media import FrameSource, VideoWriter
from vos_ros.tools.synthetic_scene import Scene, Sprite

DEMO_CONFIG = CONFIG_DIR / "demo.yaml"


@dataclass
class PromptSpec:
    frame: int
    label: str
    box: Box


@dataclass
class Clip:
    name: str
    frames: list[np.ndarray]
    prompts: list[PromptSpec]


def load_clip(cfg: dict, frames: int, synthetic: bool) -> Clip:
    """The configured video (boxes scaled with the frames), or the synthetic scene."""
    video = data_root() / cfg["video"]
    if not synthetic and video.is_file():
        stride = int(cfg.get("stride", 1))
        source = FrameSource(video, max_frames=frames * stride, short_side=int(cfg["short_side"]))
        clip = list(tqdm(source, total=frames * stride, desc=f"decode {video.name}", unit="frame"))[::stride]
        s = clip[0].shape[0] / source.source_size[1]
        prompts = [PromptSpec(int(o.get("frame", 0)) // stride, o["label"], tuple(v * s for v in o["box"]))
                   for o in cfg["objects"]]
        return Clip(str(video), clip, prompts)
    if not synthetic:
        print(f"{video} not found: using the synthetic scene from scikit-image photos")
    syn = cfg["synthetic"]
    scene = Scene(syn["background"], tuple(syn["size"]), [Sprite.from_dict(o) for o in syn["objects"]])
    clip = [scene.render(k)[0] for k in tqdm(range(frames), desc="render scene", unit="frame")]
    prompts = []
    for i, o in enumerate(syn["objects"]):
        k = int(o.get("prompt_frame", o.get("first_frame", 0)))
        box = scene.box(i, k)
        if k < frames and box is not None:
            prompts.append(PromptSpec(k, o["label"], box))
    return Clip("synthetic scene (scikit-image photos)", clip, prompts)


def _header(k: int, frame_id: str) -> Header:
    h = Header(frame_id=frame_id)
    h.stamp.sec, h.stamp.nanosec = divmod(k * 33_333_333, 1_000_000_000)
    return h


def _add_request(prompts: list[PromptSpec], image: np.ndarray | None) -> AddObjects.Request:
    req = AddObjects.Request(labels=[p.label for p in prompts])
    req.boxes = [RegionOfInterest(x_offset=round(p.box[0]), y_offset=round(p.box[1]), width=round(p.box[2]),
                                  height=round(p.box[3])) for p in prompts]
    if image is not None:
        req.image = convert.array_to_image(image, "rgb8")
    return req


def _stamp(msg: object) -> tuple[int, int]:
    return msg.header.stamp.sec, msg.header.stamp.nanosec


def play(clip: Clip, rate: float, peer: RosPeer, frame_id: str) -> dict:
    """Publish the clip at ``rate`` Hz, prompting on the way; -> what came back, keyed by frame index."""
    node = peer.node
    image_pub = node.create_publisher(Image, "image", 10)
    tracks = peer.collect(TrackArray, "tracks")
    overlays = peer.collect(Image, "overlay")
    diagnostics = peer.collect(DiagnosticArray, "/diagnostics")
    deadline = time.monotonic() + 120
    while image_pub.get_subscription_count() == 0 or overlays.subscription.get_publisher_count() == 0:
        if time.monotonic() > deadline:
            raise TimeoutError("the tracker node did not come up within 120 s (see its log)")
        time.sleep(0.1)

    def frame_msg(k: int) -> Image:
        return convert.array_to_image(clip.frames[k], "rgb8", _header(k, frame_id))

    def is_frame(k: int):
        return lambda m: _stamp(m) == _stamp(frame_msg(k))

    published: dict[int, float] = {}

    # Prompts travel with the image they refer to, just before it is published. Frame 0 is
    # repeated until the node answers (it may not have matched our publisher yet).
    by_frame = {k: [p for p in clip.prompts if p.frame == k] for k in range(len(clip.frames))}
    start = time.monotonic()
    for k in tqdm(range(len(clip.frames)), desc=f"play at {rate:g} Hz", unit="frame"):
        if by_frame[k]:
            resp = peer.call(AddObjects, "add_objects", _add_request(by_frame[k], clip.frames[k]), timeout=300)
            tqdm.write(f"frame {k}: {resp.message}")
        if k == 0:
            published[0] = time.monotonic()
            peer.publish_until(image_pub, frame_msg(0), tracks, is_frame(0), timeout=300, every=30.0)
            start = time.monotonic()
            continue
        time.sleep(max(0.0, start + k / rate - time.monotonic()))
        image_pub.publish(frame_msg(k))
        published[k] = time.monotonic()
    last = len(clip.frames) - 1
    tracks.wait_for(is_frame(last), 120)
    overlays.wait_for(is_frame(last), 30)

    index = {_stamp(frame_msg(k)): k for k in published}
    key = lambda m: index[_stamp(m)]  # noqa: E731
    return {
        "published": published,
        "tracks": {key(m): (m, t) for m, t in zip(tracks.messages, tracks.received, strict=True)},
        "overlays": {key(m): convert.image_to_array(m) for m in overlays.messages},
        "diagnostics": diagnostics.messages,
    }


def mean_step_ms(windows: list[dict[str, str]]) -> float:
    """The tracker's mean step over a run from its /diagnostics values, oldest first: each window's
    step_ms is a mean over that window, so it weighs by the frames processed in it (NaN for none)."""
    total, frames, seen = 0.0, 0, 0
    for values in windows:
        count = int(float(values.get("frames_processed", 0)))
        total += (count - seen) * float(values.get("step_ms", 0.0))
        frames, seen = frames + count - seen, count
    return total / frames if frames else float("nan")


def write_outputs(clip: Clip, got: dict, rate: float, out_dir: Path) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    overlays = got["overlays"]
    video_path, sheet_path = out_dir / "overlay.mp4", out_dir / "contact_sheet.png"
    held = clip.frames[0]
    with VideoWriter(video_path, rate) as video:
        for k in range(len(clip.frames)):
            held = overlays.get(k, held)
            video.write(held)
    shown = sorted(overlays)
    picks = [shown[i] for i in pick_evenly(len(shown), 8)]
    captions = [f"frame {k}: ids {sorted(t.id for t in got['tracks'][k][0].tracks if t.bbox.width)}"
                for k in picks]
    sheet = contact_sheet([overlays[k] for k in picks], columns=4, tile_width=400, captions=captions)
    cv2.imwrite(str(sheet_path), sheet[..., ::-1])

    # frame 0 is the start-up handshake (republished until the node answers): not in the rates
    processed = sorted(k for k in got["tracks"] if k > 0)
    latency = [1e3 * (got["tracks"][k][1] - got["published"][k]) for k in processed]
    span = got["tracks"][processed[-1]][1] - got["published"][1]
    windows = [{kv.key: kv.value for kv in status.values} for msg in got["diagnostics"] for status in msg.status
               if status.name.endswith("vos_tracker: tracker")]
    node_stats = windows[-1] if windows else {}
    stats = {
        "clip": clip.name,
        "frames_published": len(got["published"]),
        "frames_processed": len(processed) + 1,
        "frames_dropped": len(got["published"]) - len(processed) - 1,
        "publish_rate_hz": rate,
        "processed_fps": len(processed) / span if span > 0 else 0.0,
        "latency_ms_mean": float(np.mean(latency)),
        "latency_ms_p95": float(np.percentile(latency, 95)),
        "node_step_ms": mean_step_ms(windows),
        "memory_tokens": int(node_stats.get("memory_tokens", 0)),
        "memory_bytes": int(node_stats.get("memory_bytes", 0)),
        "overlay_video": str(video_path),
        "contact_sheet": str(sheet_path),
    }
    (out_dir / "stats.json").write_text(json.dumps(stats, indent=2))
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEMO_CONFIG)
    parser.add_argument("--frames", type=int, help="frames to play (default: the config's)")
    parser.add_argument("--rate", type=float, help="publish rate in Hz (default: the config's)")
    parser.add_argument("--synthetic", action="store_true", help="use the synthetic scene even if the video exists")
    parser.add_argument("--params", action="append", default=[],
                        help="extra tracker override KEY=VALUE (YAML value), e.g. model.checkpoint=path.pt")
    parser.add_argument("--out", type=Path, default=PACKAGE_ROOT / "out" / "demo")
    args = parser.parse_args(argv)
    cfg = yaml.safe_load(args.config.read_text())
    frames, rate = args.frames or int(cfg["frames"]), args.rate or float(cfg["rate"])
    if frames < 2 or rate <= 0:
        parser.error(f"need at least 2 frames and a positive rate, got {frames} frames at {rate} Hz")
    overrides = dict(cfg.get("tracker", {}))
    for item in args.params:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--params '{item}' must be KEY=VALUE")
        overrides[key] = yaml.safe_load(value) if value else ""  # KEY= means the empty string

    clip = load_clip(cfg, frames, args.synthetic)
    # DDS stays on this machine unless the caller chose otherwise
    confine_to_localhost()
    if "ROS_DOMAIN_ID" not in os.environ:  # a domain no other demo or test run on this machine uses
        os.environ["ROS_DOMAIN_ID"] = str(claim_domain())
    domain = int(os.environ["ROS_DOMAIN_ID"])
    work = Path(tempfile.mkdtemp(prefix="vos_demo_"))
    params = work / "demo_tracker.yaml"
    params.write_text(yaml.safe_dump({"/**/vos_tracker": {"ros__parameters": overrides}}))
    (spec,) = describe(params_file=params)
    print(f"clip: {clip.name}, {len(clip.frames)} frames of {clip.frames[0].shape[1]}x{clip.frames[0].shape[0]}; "
          f"ROS_DOMAIN_ID={domain}; tracker log: {work / 'tracker.log'}")
    tracker = NodeProcess(spec.command(), work / "tracker.log", cwd=PACKAGE_ROOT)
    peer = RosPeer(domain, "vos_demo")
    try:
        tracker.wait_for_log("active: model loaded", 300, fail_on="cannot activate")
        got = play(clip, rate, peer, cfg.get("frame_id", "camera"))
    except (TimeoutError, RuntimeError, KeyError) as exc:
        log = "" if tracker.log() in str(exc) else f"\n--- tracker log ---\n{tracker.log()}"
        print(f"demo failed: {exc}{log}", file=sys.stderr)
        return 1
    finally:
        peer.close()
        tracker.stop()
    stats = write_outputs(clip, got, rate, args.out)
    print(f"played {stats['frames_published']} frames at {rate:g} Hz: tracker processed {stats['frames_processed']}"
          f" ({stats['frames_dropped']} dropped) at {stats['processed_fps']:.2f} fps; latency publish->tracks "
          f"mean {stats['latency_ms_mean']:.0f} ms, p95 {stats['latency_ms_p95']:.0f} ms; "
          f"node step {stats['node_step_ms']:.0f} ms (mean); memory {stats['memory_tokens']} tokens "
          f"({stats['memory_bytes'] / 1e6:.1f} MB)")
    if stats["frames_dropped"]:
        print("frames are dropped (and counted) when the tracker cannot keep up with the publish rate, "
              "e.g. while other work shares the CPU; the newest frame is always the one tracked")
    print(f"wrote {stats['overlay_video']}, {stats['contact_sheet']} and {args.out / 'stats.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
