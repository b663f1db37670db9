"""Issue check: mask prompts on the first frame of a real tabletop scene (YCB-Video) while the camera
pans and zooms (about 120 px over 20 frames); the node's label images over the next 19 frames reach
mean IoU >= 0.85 per object, far above copying the first mask. Runs through the real node over DDS,
with the real depth and intrinsics, so 3-D centroids are checked against the dataset's poses too.

Needs ../shared/data/ycb_video and the shipped (trained) checkpoint; skipped otherwise.
"""
from __future__ import annotations

import json
import time

import cv2
import numpy as np
import pytest
from conftest import python_node, write_params
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from vos_ros.msg import TrackArray
from vos_ros.srv import AddObjects

from vos_ros.nodes import convert
from vos_ros.tools.davis_io import data_root

SEQ = data_root() / "ycb_video" / "0000"
OUT_W, OUT_H = 448, 336
FRAMES = 20
CLASSES = (8, 14, 21)  # gelatin box, mug, foam brick


def window(k: int) -> tuple[float, float, float]:
    """Camera crop at frame k: x0, y0, scale (pan 120 px right while zooming in 1.23x)."""
    t = k / (FRAMES - 1)
    w = 540 - 100 * t
    cx, cy = 280 + 120 * t, 240
    return cx - w / 2, cy - 0.375 * w, OUT_W / w


def view(img: np.ndarray, k: int, interpolation: int) -> np.ndarray:
    x0, y0, s = window(k)
    m = np.array([[s, 0, -x0 * s], [0, s, -y0 * s]], np.float64)
    return cv2.warpAffine(img, m, (OUT_W, OUT_H), flags=interpolation)


def load_frame(k: int) -> dict:
    """Frame k of the moving-camera clip (source frames 1..10, each seen twice) with its ground truth."""
    n = k // 2 + 1
    rgb = cv2.imread(str(SEQ / f"{n:06d}-color.png"))[..., ::-1]
    label = cv2.imread(str(SEQ / f"{n:06d}-label.png"), cv2.IMREAD_UNCHANGED)
    depth = cv2.imread(str(SEQ / f"{n:06d}-depth.png"), cv2.IMREAD_UNCHANGED).astype(np.float32)
    meta = json.loads((SEQ / f"{n:06d}-meta.json").read_text())
    depth_m = depth / float(meta["factor_depth"][0][0])
    x0, y0, s = window(k)
    k_src = np.array(meta["intrinsic_matrix"], np.float64)
    k_view = [k_src[0, 0] * s, 0.0, (k_src[0, 2] - x0) * s, 0.0, k_src[1, 1] * s, (k_src[1, 2] - y0) * s,
              0.0, 0.0, 1.0]
    poses = np.array(meta["poses"])  # 3 x 4 x N, object to camera
    centres = {int(c[0]): poses[:, 3, i] for i, c in enumerate(meta["cls_indexes"])}
    return {
        "rgb": np.ascontiguousarray(view(rgb, k, cv2.INTER_LINEAR)),
        "gt": view(label, k, cv2.INTER_NEAREST),
        "depth": view(depth_m, k, cv2.INTER_NEAREST),
        "K": k_view,
        "centres": centres,
    }


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


@pytest.fixture(scope="module")
def clip() -> list[dict]:
    if not SEQ.is_dir():
        pytest.skip(f"{SEQ} not found")
    return [load_frame(k) for k in range(FRAMES)]


def test_moving_camera_label_images_reach_the_iou_bar(clip, checkpoint, start_node, ros_peer, tmp_path) -> None:
    if checkpoint:
        pytest.skip("no shipped (trained) checkpoint in models/: accuracy cannot be checked")
    params = write_params(tmp_path / "ycb.yaml", {"node.use_depth": True, "node.input_reliability": "reliable",
                                                  "node.depth_tolerance": 0.001})
    node = start_node(python_node("vos_ros.nodes.tracker", "--params-file", str(params), "-r", "__ns:=/ycb"))
    node.wait_for_log("active: model loaded", 120)
    peer = ros_peer.node
    image_pub = peer.create_publisher(Image, "/ycb/image", 10)
    depth_pub = peer.create_publisher(Image, "/ycb/depth", 10)
    info_pub = peer.create_publisher(CameraInfo, "/ycb/camera_info", 10)
    tracks = ros_peer.collect(TrackArray, "/ycb/tracks")
    labels = ros_peer.collect(Image, "/ycb/label_image")

    def send(k: int) -> tuple[TrackArray, np.ndarray]:
        h = Header(frame_id="asus_rgb_optical")
        h.stamp.sec = 100 + k
        f = clip[k]
        info_pub.publish(CameraInfo(header=h, width=OUT_W, height=OUT_H, k=f["K"]))
        depth_pub.publish(convert.array_to_image(f["depth"], "32FC1", h))
        time.sleep(0.1)  # depth is paired by stamp
        msg = convert.array_to_image(f["rgb"], "rgb8", h)
        same = lambda m: m.header.stamp.sec == 100 + k  # noqa: E731
        t = ros_peer.publish_until(image_pub, msg, tracks, same, timeout=120, every=60) if k == 0 else None
        if t is None:
            image_pub.publish(msg)
            t = tracks.wait_for(same, 120)
        return t, convert.image_to_array(labels.wait_for(same, 60))

    send(0)
    req = AddObjects.Request(labels=["gelatin_box", "mug", "foam_brick"])
    req.masks = [convert.array_to_image((clip[0]["gt"] == c).astype(np.uint8) * 255, "mono8") for c in CLASSES]
    resp = ros_peer.call(AddObjects, "/ycb/add_objects", req)
    assert resp.success, resp.message
    ids = list(resp.ids)

    ious = {c: [] for c in CLASSES}
    copy_first = {c: [] for c in CLASSES}
    centroid_errors = []
    for k in range(1, FRAMES):
        got, label = send(k)
        by_id = {t.id: t for t in got.tracks}
        for c, i in zip(CLASSES, ids, strict=True):
            gt = clip[k]["gt"] == c
            ious[c].append(iou(label == i, gt))
            copy_first[c].append(iou(clip[0]["gt"] == c, gt))
            if by_id[i].has_centroid:
                p = by_id[i].centroid
                centroid_errors.append(np.linalg.norm(np.array([p.x, p.y, p.z]) - clip[k]["centres"][c]))
    mean = {c: float(np.mean(v)) for c, v in ious.items()}
    baseline = {c: float(np.mean(v)) for c, v in copy_first.items()}
    print(f"mean IoU per object {mean}; copying the first mask {baseline}; "
          f"centroid error median {np.median(centroid_errors):.3f} m over {len(centroid_errors)}")
    assert max(baseline.values()) < 0.6  # the camera really moves
    assert all(v >= 0.85 for v in mean.values()), mean
    # visible-surface median vs the object's origin: within a few centimetres
    assert len(centroid_errors) >= FRAMES and float(np.median(centroid_errors)) < 0.06
