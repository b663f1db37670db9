"""The vos_prompt node with the real vos_tracker, both as processes over DDS (localhost, own domain).

A photograph of a cup is published on `image`; `text_prompt` grounds "the cup" and the new track
ids must appear on the tracker's `tracks`; "replace" removes them again; a phrase naming nothing in
the picture adds nothing; bad requests get clear refusals; a second cup put in view later becomes a
new track of the active phrase "all the cups".
"""
from __future__ import annotations

import importlib.util
import threading
import time

import cv2
import numpy as np
import pytest
import skimage.data
from conftest import python_node, small_frame_params, write_params
from rcl_interfaces.srv import DescribeParameters
from rclpy.qos import ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vos_ros.msg import TrackArray
from vos_ros.srv import TextPrompt

from vos_ros.nodes import convert
from vos_ros.prompts.detector import model_dir

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("vos_ros.nodes.tracker") is None,
                       reason="the tracker node (vos_ros.nodes.tracker) does not exist yet"),
    pytest.mark.skipif(not (model_dir() / "nanodet.json").is_file(),
                       reason=f"detector files missing in {model_dir()} (run `make detectors`)"),
]

CUP = cv2.resize(skimage.data.coffee(), (150, 100), interpolation=cv2.INTER_AREA)
FRAME = np.full((200, 300, 3), 90, np.uint8)  # the coffee photo on the left of a grey table
FRAME[50:150, :150] = CUP
TWO_CUPS = FRAME.copy()                       # ... and a second, bluish one put down on the right
TWO_CUPS[50:150, 150:] = CUP[:, ::-1, ::-1]
# Where the cups are (x1, y1, x2, y2) in FRAME / TWO_CUPS: the photos, and in them NanoDet's box of
# the cup itself on FRAME (the saucer around it is not in it) and its mirror image.
LEFT_CUP, RIGHT_CUP = ((0, 50, 150, 150), (37, 51, 101, 114)), ((150, 50, 300, 150), (199, 51, 263, 114))


def mask_on(labels: np.ndarray, track_id: int, where: tuple[tuple[int, ...], tuple[int, ...]]) -> str:
    """"" when the track's mask in ``labels`` is on the cup ``where`` is: >= 90 % of it in the cup's
    photo, covering >= 50 % of the cup's box, and not most of the photo (< 75 %); else what is wrong.
    Measured for "the cup" with GrabCut masks: 100 % in the photo, 93 % of the box, 58 % of the photo
    (the cup with its saucer)."""
    mask = labels == track_id
    (px1, py1, px2, py2), (bx1, by1, bx2, by2) = where
    area, photo_area = int(mask.sum()), (px2 - px1) * (py2 - py1)
    in_photo = int(mask[py1:py2, px1:px2].sum())
    box_cover = float(mask[by1:by2, bx1:bx2].mean())
    if area == 0 or in_photo < 0.9 * area or box_cover < 0.5 or area > 0.75 * photo_area:
        return (f"track {track_id}: mask of {area} px, {in_photo} of them in the cup's photo {where[0]} "
                f"({photo_area} px), covering {box_cover:.0%} of the cup's box {where[1]}")
    return ""


def wait_mask_on(labels, tracks, track_ids: list[int], where, timeout: float = 30) -> None:
    """Wait for a label image (old or new) in which one of ``track_ids`` is ``mask_on`` the cup ``where``;
    on time-out fail with what the last label images and tracks showed."""
    def on(msg) -> bool:
        image = convert.image_to_array(msg)
        return any(not mask_on(image, i, where) for i in track_ids)

    try:
        labels.wait_for(on, timeout=timeout)
    except TimeoutError:
        seen = [convert.image_to_array(m) for m in labels.messages[-3:]]
        states = [(t.id, t.state, t.area) for t in tracks.messages[-1].tracks] if tracks.messages else None
        pytest.fail(f"no label image in {timeout} s ({len(labels.messages)} seen) shows track(s) {track_ids} on "
                    f"the cup; the last ones: {[mask_on(image, i, where) for image in seen for i in track_ids]}; "
                    f"the last tracks (id, state, area): {states}")


class Publisher:
    """Publishes ``frame`` (FRAME unless changed) on `image` at 5 Hz in the background, as a camera would."""

    def __init__(self, peer) -> None:
        self.frame = FRAME
        self.published = 0  # frames published so far; frame k is stamped 1000 + k s
        self.pub = peer.node.create_publisher(Image, "image", 10)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            header = Header(frame_id="camera")
            header.stamp.sec, header.stamp.nanosec = 1000 + self.published, 0
            self.pub.publish(convert.array_to_image(self.frame, "rgb8", header))
            self.published += 1
            self._stop.wait(0.2)

    def show(self, frame: np.ndarray, tracks) -> None:
        """Publish ``frame`` from now on and wait until the tracker has reported on it: both nodes then
        have it as their newest image (a request right after a switch would otherwise ground or place
        its objects on the frame before)."""
        self.frame = frame
        first = 1000 + self.published + 1  # the frame being published now may still be the old one
        tracks.wait_for(lambda m: m.header.stamp.sec >= first, timeout=30)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


@pytest.fixture(scope="module")
def nodes(start_node, ros_peer, checkpoint, tmp_path_factory):
    # full-size frames (200 px short side): at 96 px the cup is too small to stay tracked
    params = write_params(tmp_path_factory.mktemp("params") / "tracker.yaml",
                          {**small_frame_params(checkpoint), "model.input_short_side": 200})
    tracker = start_node(python_node("vos_ros.nodes.tracker", "--params-file", str(params)))
    # GrabCut keeps this test independent of how well the tracker's box path is trained.
    prompt_node = start_node(python_node("vos_ros.nodes.prompt", "-p", "prompt.segmenter:=grabcut",
                                         "-p", "prompt.reground_period:=1.0"))
    tracker.wait_for_log("active: model loaded", 120)
    prompt_node.wait_for_log("vos_prompt ready", 120)
    publisher = Publisher(ros_peer)
    tracks = ros_peer.collect(TrackArray, "tracks")
    labels = ros_peer.collect(Image, "label_image")
    tracks.wait_for(lambda m: True, timeout=60)  # the tracker is processing frames
    deadline = time.monotonic() + 60  # the prompt node has seen a frame too
    while "no image received" in prompt(ros_peer, "the bicycle").message:
        assert time.monotonic() < deadline, "vos_prompt received no image in 60 s"
        time.sleep(0.5)
    yield ros_peer, tracks, publisher, labels
    publisher.stop()


def prompt(peer, text: str, replace: bool = False, max_instances: int = 0, min_score: float = 0.0):
    req = TextPrompt.Request(text=text, replace=replace, max_instances=max_instances, min_score=min_score)
    return peer.call(TextPrompt, "text_prompt", req, timeout=180)


def test_text_prompt_adds_tracks_and_replace_removes_them(nodes) -> None:
    peer, tracks, publisher, labels = nodes
    publisher.show(FRAME, tracks)  # an earlier test may have shown two cups
    labels.clear()
    first = prompt(peer, "the cup", replace=True)  # also ends the phrases and tracks of earlier tests
    assert first.success, first.message
    assert len(first.ids) == 1 and list(first.labels) == ["cup"] and 0.3 <= first.scores[0] <= 1.0
    shown = tracks.wait_for(lambda m: {t.id for t in m.tracks} >= set(first.ids), timeout=60)
    track = next(t for t in shown.tracks if t.id == first.ids[0])
    assert track.label == "cup"
    # the new track is visible and segments the cup (left half of the picture)
    wait_mask_on(labels, tracks, [first.ids[0]], LEFT_CUP)
    shown = tracks.wait_for(lambda m: any(t.id == first.ids[0] and t.area for t in m.tracks), timeout=60)
    track = next(t for t in shown.tracks if t.id == first.ids[0])
    assert LEFT_CUP[1][0] < track.bbox.x_offset + track.bbox.width / 2 < LEFT_CUP[1][2], track

    labels.clear()
    second = prompt(peer, "the cup", replace=True)
    assert second.success, second.message
    assert set(second.ids).isdisjoint(first.ids) and "removed earlier ids" in second.message
    tracks.clear()
    latest = tracks.wait_for(lambda m: {t.id for t in m.tracks} >= set(second.ids), timeout=60)
    assert not {t.id for t in latest.tracks} & set(first.ids)
    wait_mask_on(labels, tracks, [second.ids[0]], LEFT_CUP)


def test_a_phrase_naming_nothing_in_the_image_adds_nothing(nodes) -> None:
    peer, _, _, _ = nodes
    resp = prompt(peer, "the bicycle")
    assert resp.success, resp.message
    assert list(resp.ids) == [] and "nothing matches" in resp.message


@pytest.mark.parametrize("text, min_score, message", [
    ("   ", 0.0, "text is empty"),
    ("the cup", 1.5, "min_score must be in [0, 1]"),
])
def test_bad_requests_are_refused_clearly(nodes, text: str, min_score: float, message: str) -> None:
    peer, _, _, _ = nodes
    resp = prompt(peer, text, min_score=min_score)
    assert not resp.success and message in resp.message


def test_default_qos_subscribes_reliable_to_a_reliable_publisher(nodes) -> None:
    """The fixture saw the node receive images from the test's reliable publisher (default QoS, depth
    10); with its publisher the only one, the node's input is reliable, so no large frame is lost."""
    peer, _, _, _ = nodes
    deadline = time.monotonic() + 10

    def reliability():
        infos = [i for i in peer.node.get_subscriptions_info_by_topic("/image") if i.node_name == "vos_prompt"]
        return infos[0].qos_profile.reliability if len(infos) == 1 else None

    while reliability() != ReliabilityPolicy.RELIABLE:
        assert time.monotonic() < deadline, f"vos_prompt's image subscription is {reliability()}"
        time.sleep(0.1)


def test_parameters_are_declared_with_descriptions(nodes) -> None:
    peer, _, _, _ = nodes
    req = DescribeParameters.Request(names=["prompt.min_score", "prompt.segmenter"])
    resp = peer.call(DescribeParameters, "vos_prompt/describe_parameters", req)
    assert all(d.description for d in resp.descriptors) and len(resp.descriptors) == 2


def test_an_active_phrase_turns_an_object_that_appears_later_into_a_new_track(nodes) -> None:
    peer, tracks, publisher, labels = nodes
    publisher.show(FRAME, tracks)
    labels.clear()
    first = prompt(peer, "all the cups", replace=True)  # also ends the earlier tests' phrases
    assert first.success and len(first.ids) == 1, first.message
    tracks.wait_for(lambda m: first.ids[0] in {t.id for t in m.tracks}, timeout=60)
    wait_mask_on(labels, tracks, [first.ids[0]], LEFT_CUP)
    publisher.show(TWO_CUPS, tracks)
    try:
        tracks.clear()
        labels.clear()
        added = tracks.wait_for(lambda m: any(t.id not in first.ids and t.label == "cup" for t in m.tracks),
                                timeout=120)
        # Three more rounds (prompt.reground_period 1 s): the second cup must not be added again. Wait
        # until the tracker has reported on the frames published 3.6 s later (18 at 5 Hz, stamps 1 s apart).
        tracks.wait_for(lambda m: m.header.stamp.sec >= added.header.stamp.sec + 18, timeout=60)
        shown = tracks.messages[-1]
        # a track added on the right segments the right cup
        wait_mask_on(labels, tracks, sorted(t.id for t in added.tracks if t.id not in first.ids), RIGHT_CUP)
    finally:
        publisher.show(FRAME, tracks)
    new = [t for t in shown.tracks if t.id not in first.ids]
    states = [(t.id, t.state, t.area) for t in shown.tracks]
    assert first.ids[0] in {t.id for t in shown.tracks}, states  # the first cup's track is kept
    # New ids only, and each cup added at most once: the right one, and the left one as well only
    # when the tracker has given the first track up (LOST) on these two look-alikes.
    assert new and all(t.id > first.ids[0] for t in new), states
    assert len(new) <= 2, states
    right = [t for t in new if t.area and t.bbox.x_offset + t.bbox.width / 2 > FRAME.shape[1] / 2]
    assert right, states  # a visible new track lies on the right


def test_the_box_path_runs_with_the_running_tracker_s_parameters(start_node, checkpoint, tmp_path) -> None:
    """Grounded boxes become masks with the weights, device, precision, crop and threshold the tracker
    runs with (asked from the tracker node named by prompt.tracker_node), not with the default file's."""
    params = write_params(tmp_path / "tracker.yaml", {**small_frame_params(checkpoint), "model.box_threshold": 0.6,
                                                      "model.box_crop_side": 160})
    ns = ["-r", "__ns:=/box_params"]
    start_node(python_node("vos_ros.nodes.tracker", "--params-file", str(params), *ns))
    prompt_node = start_node(python_node("vos_ros.nodes.prompt", *ns))
    prompt_node.wait_for_log("box path runs with", 120)
    line = next(line for line in prompt_node.log().splitlines() if "box path runs with" in line)
    assert "the tracker's" in line, line
    assert "'model.box_threshold': 0.6" in line and "'model.box_crop_side': 160" in line, line
    # no tracker answering: the default file's parameters, said so
    alone = start_node(python_node("vos_ros.nodes.prompt", "-r", "__ns:=/no_tracker",
                                   "-p", "prompt.tracker_timeout:=2.0"))
    alone.wait_for_log("box path runs with config/vos_tracker.yaml's model parameters", 120)
