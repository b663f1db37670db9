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


class Publisher:
    """Publishes ``frame`` (FRAME unless changed) on `image` at 5 Hz in the background, as a camera would."""

    def __init__(self, peer) -> None:
        self.frame = FRAME
        self.pub = peer.node.create_publisher(Image, "image", 10)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        k = 0
        while not self._stop.is_set():
            header = Header(frame_id="camera")
            header.stamp.sec, header.stamp.nanosec = 1000 + k, 0
            self.pub.publish(convert.array_to_image(self.frame, "rgb8", header))
            k += 1
            time.sleep(0.2)

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
    tracks.wait_for(lambda m: True, timeout=60)  # the tracker is processing frames
    deadline = time.monotonic() + 60  # the prompt node has seen a frame too
    while "no image received" in prompt(ros_peer, "the bicycle").message:
        assert time.monotonic() < deadline, "vos_prompt received no image in 60 s"
        time.sleep(0.5)
    yield ros_peer, tracks, publisher
    publisher.stop()


def prompt(peer, text: str, replace: bool = False, max_instances: int = 0, min_score: float = 0.0):
    req = TextPrompt.Request(text=text, replace=replace, max_instances=max_instances, min_score=min_score)
    return peer.call(TextPrompt, "text_prompt", req, timeout=180)


def test_text_prompt_adds_tracks_and_replace_removes_them(nodes) -> None:
    peer, tracks, _ = nodes
    first = prompt(peer, "the cup")
    assert first.success, first.message
    assert len(first.ids) == 1 and list(first.labels) == ["cup"] and 0.3 <= first.scores[0] <= 1.0
    shown = tracks.wait_for(lambda m: {t.id for t in m.tracks} >= set(first.ids), timeout=60)
    track = next(t for t in shown.tracks if t.id == first.ids[0])
    assert track.label == "cup"
    # The cup fills the middle of the picture: a visible track's box lies there (with untrained
    # tracker heads the track may go OCCLUDED at once and carry no box).
    assert track.area == 0 or 0.15 * FRAME.shape[1] < track.bbox.x_offset + track.bbox.width / 2 < 0.85 * FRAME.shape[1]

    second = prompt(peer, "the cup", replace=True)
    assert second.success, second.message
    assert set(second.ids).isdisjoint(first.ids) and "removed earlier ids" in second.message
    tracks.clear()
    latest = tracks.wait_for(lambda m: {t.id for t in m.tracks} >= set(second.ids), timeout=60)
    assert not {t.id for t in latest.tracks} & set(first.ids)


def test_a_phrase_naming_nothing_in_the_image_adds_nothing(nodes) -> None:
    peer, _, _ = nodes
    resp = prompt(peer, "the bicycle")
    assert resp.success, resp.message
    assert list(resp.ids) == [] and "nothing matches" in resp.message


@pytest.mark.parametrize("text, min_score, message", [
    ("   ", 0.0, "text is empty"),
    ("the cup", 1.5, "min_score must be in [0, 1]"),
])
def test_bad_requests_are_refused_clearly(nodes, text: str, min_score: float, message: str) -> None:
    peer, _, _ = nodes
    resp = prompt(peer, text, min_score=min_score)
    assert not resp.success and message in resp.message


def test_default_qos_subscribes_reliable_to_a_reliable_publisher(nodes) -> None:
    """The fixture saw the node receive images from the test's reliable publisher (default QoS, depth
    10); with its publisher the only one, the node's input is reliable, so no large frame is lost."""
    peer, _, _ = nodes
    deadline = time.monotonic() + 10

    def reliability():
        infos = [i for i in peer.node.get_subscriptions_info_by_topic("/image") if i.node_name == "vos_prompt"]
        return infos[0].qos_profile.reliability if len(infos) == 1 else None

    while reliability() != ReliabilityPolicy.RELIABLE:
        assert time.monotonic() < deadline, f"vos_prompt's image subscription is {reliability()}"
        time.sleep(0.1)


def test_parameters_are_declared_with_descriptions(nodes) -> None:
    peer, _, _ = nodes
    req = DescribeParameters.Request(names=["prompt.min_score", "prompt.segmenter"])
    resp = peer.call(DescribeParameters, "vos_prompt/describe_parameters", req)
    assert all(d.description for d in resp.descriptors) and len(resp.descriptors) == 2


def test_an_active_phrase_turns_an_object_that_appears_later_into_a_new_track(nodes) -> None:
    peer, tracks, publisher = nodes
    first = prompt(peer, "all the cups", replace=True)  # also ends the earlier tests' phrases
    assert first.success and len(first.ids) == 1, first.message
    tracks.wait_for(lambda m: first.ids[0] in {t.id for t in m.tracks}, timeout=60)
    publisher.frame = TWO_CUPS
    try:
        tracks.clear()
        tracks.wait_for(lambda m: any(t.id not in first.ids and t.label == "cup" for t in m.tracks), timeout=120)
        time.sleep(3.5)  # three more rounds: the second cup must not be added again
        shown = tracks.messages[-1]
    finally:
        publisher.frame = FRAME
    new = [t for t in shown.tracks if t.id not in first.ids]
    states = [(t.id, t.state, t.area) for t in shown.tracks]
    assert first.ids[0] in {t.id for t in shown.tracks}, states  # the first cup's track is kept
    # New ids only, and each cup added at most once: the right one, and the left one as well only
    # when the tracker has given the first track up (LOST) on these two look-alikes.
    assert new and all(t.id > first.ids[0] for t in new), states
    assert len(new) <= 2, states
    right = [t for t in new if t.area and t.bbox.x_offset + t.bbox.width / 2 > FRAME.shape[1] / 2]
    assert right or all(t.area == 0 for t in new), states  # a visible new track lies on the right
