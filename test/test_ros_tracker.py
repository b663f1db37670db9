"""The vos_tracker node as a real process, driven over DDS (localhost, own domain) from this process.

Outputs are compared with an in-process Session fed the same frames and prompts, so the checks
hold whatever the weights (the shipped checkpoint, or untrained heads before one exists).
"""
from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
import skimage.data
from conftest import RosPeer, python_node, small_frame_params, write_params
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import DescribeParameters, GetParameters, SetParameters
from rclpy.qos import ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, RegionOfInterest
from std_msgs.msg import Header
from std_srvs.srv import Trigger
from visualization_msgs.msg import Marker, MarkerArray
from vos_ros.msg import TrackArray
from vos_ros.srv import AddObjects, RemoveObjects

from vos_ros.core.config import load_params
from vos_ros.core.depth import Intrinsics, centroid_3d
from vos_ros.core.session import Session
from vos_ros.core.types import Prompt, mask_box
from vos_ros.core.weights import load_model
from vos_ros.nodes import convert
from vos_ros.nodes.params import build_configs, parameter_specs

H, W = 160, 240
DEPTH_MM = 1200
K = [300.0, 0.0, 119.5, 0.0, 300.0, 79.5, 0.0, 0.0, 1.0]


def make_frames(n: int) -> list[np.ndarray]:
    """A real photograph seen by a camera panning right and down by 2 px / 1 px per frame."""
    big = cv2.resize(skimage.data.coffee(), (300, 200), interpolation=cv2.INTER_AREA)
    return [np.ascontiguousarray(big[10 + k:10 + k + H, 10 + 2 * k:10 + 2 * k + W]) for k in range(n)]


FRAMES = make_frames(12)
MASK = np.zeros((H, W), bool)
MASK[40:110, 70:150] = True
BOX = (170, 20, 50, 40)


def header(k: int, frame_id: str = "camera_optical") -> Header:
    h = Header(frame_id=frame_id)
    h.stamp.sec, h.stamp.nanosec = 1000 + k, 123_000 + k
    return h


def same_stamp(a: Header, b: Header) -> bool:
    return (a.stamp.sec, a.stamp.nanosec, a.frame_id) == (b.stamp.sec, b.stamp.nanosec, b.frame_id)


class Tracker:
    """Test-side handles of one running tracker node (namespace ``ns``)."""

    def __init__(self, node, peer: RosPeer, params: dict, ns: str = "") -> None:
        self.node, self.peer, self.params, self.ns = node, peer, params, ns
        n = peer.node
        self.image_pub = n.create_publisher(Image, f"{ns}/image", 10)
        self.depth_pub = n.create_publisher(Image, f"{ns}/depth", 10)
        self.info_pub = n.create_publisher(CameraInfo, f"{ns}/camera_info", 10)
        self.tracks = peer.collect(TrackArray, f"{ns}/tracks")
        self.labels = peer.collect(Image, f"{ns}/label_image")
        self.diagnostics = peer.collect(DiagnosticArray, "/diagnostics")
        self.k = 0
        wait_until(lambda: self.image_pub.get_subscription_count() > 0, "tracker subscribes to image")
        self._match_outputs()

    def _match_outputs(self) -> None:
        """Repeat a first frame until its outputs arrive, then reset: a test's first frame is never lost
        to discovery (the node may match our subscriptions after it has published)."""
        h = header(0)
        msg = convert.array_to_image(FRAMES[0], "rgb8", h)
        self.peer.publish_until(self.image_pub, msg, self.labels, lambda m: same_stamp(m.header, h), every=5.0)
        self.tracks.wait_for(lambda m: same_stamp(m.header, h), 10)
        assert self.call(Trigger, "reset", Trigger.Request()).success

    def call(self, srv_type: type, name: str, request):
        return self.peer.call(srv_type, f"{self.ns}/{name}", request)

    def send(self, frame: np.ndarray, with_depth: bool = False, pub=None, encoding: str = "rgb8",
             stamp: tuple[int, int] | None = None) -> tuple[TrackArray, np.ndarray, Header]:
        """Publish one frame (and depth; on ``pub``, else image_pub) and wait for its tracks and label image."""
        self.k += 1
        h = header(self.k)
        if stamp is not None:
            h.stamp.sec, h.stamp.nanosec = stamp
        if with_depth:
            self.info_pub.publish(CameraInfo(header=h, width=W, height=H, k=K))
            depth = np.full((H, W), DEPTH_MM, np.uint16)
            self.depth_pub.publish(convert.array_to_image(depth, "16UC1", h))
            time.sleep(0.2)  # depth is paired by stamp: let it arrive before the image
        (pub or self.image_pub).publish(convert.array_to_image(frame, encoding, h))
        tracks = self.tracks.wait_for(lambda m: same_stamp(m.header, h), 60)
        label = self.labels.wait_for(lambda m: same_stamp(m.header, h), 60)
        return tracks, convert.image_to_array(label), h

    def diag(self, predicate=lambda v: True, timeout: float = 30.0) -> dict[str, str]:
        """Values of this node's next /diagnostics status satisfying ``predicate``."""
        name = f"{self.ns}/vos_tracker: tracker"
        since = len(self.diagnostics.messages)

        def match(m: DiagnosticArray) -> bool:
            return any(s.name == name and predicate({kv.key: kv.value for kv in s.values}) for s in m.status)

        wait_until(lambda: len(self.diagnostics.messages) > since, "a new diagnostics message", timeout)
        msg = self.diagnostics.wait_for(lambda m: self.diagnostics.messages.index(m) >= since and match(m),
                                        timeout)
        status = next(s for s in msg.status if s.name == name)
        return {kv.key: kv.value for kv in status.values}


def wait_until(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def add_request(masks=(), boxes=(), labels=(), image: np.ndarray | None = None) -> AddObjects.Request:
    req = AddObjects.Request()
    req.masks = [convert.array_to_image(m.astype(np.uint8) * 255, "mono8") for m in masks]
    req.boxes = [RegionOfInterest(x_offset=x, y_offset=y, width=w, height=h) for x, y, w, h in boxes]
    req.labels = list(labels)
    if image is not None:
        req.image = convert.array_to_image(image, "rgb8")
    return req


@pytest.fixture(scope="module")
def tracker(start_node, ros_peer, checkpoint, tmp_path_factory) -> Tracker:
    values = {**small_frame_params(checkpoint), "node.use_depth": True}
    path = write_params(tmp_path_factory.mktemp("params") / "tracker.yaml", values)
    node = start_node(python_node("vos_ros.nodes.tracker", "--params-file", str(path)))
    node.wait_for_log("active: model loaded", 120)
    return Tracker(node, ros_peer, {**load_params(), **values})


def replay_session(params: dict) -> Session:
    tracker_cfg, _ = build_configs(params)
    return Session(load_model(tracker_cfg.model), tracker_cfg)


def test_service_before_any_frame_is_refused(tracker: Tracker) -> None:
    assert tracker.call(Trigger, "reset", Trigger.Request()).success  # forgets the frames of earlier tests
    resp = tracker.call(AddObjects, "add_objects", add_request(boxes=[BOX]))
    assert not resp.success and "no frame processed yet" in resp.message
    assert tracker.node.alive()


def test_tracks_and_label_images_match_an_in_process_session(tracker: Tracker) -> None:
    assert tracker.call(Trigger, "reset", Trigger.Request()).success
    tracks, label, h = tracker.send(FRAMES[0])
    assert tracks.tracks == [] and label.shape == (H, W) and label.dtype == np.uint16 and not label.any()
    resp = tracker.call(AddObjects, "add_objects", add_request([MASK], [BOX], ["mug", "box"]))
    assert resp.success, resp.message
    ids = list(resp.ids)
    assert len(set(ids)) == 2

    session = replay_session(tracker.params)
    session.step(FRAMES[0])
    replay_ids = session.add_objects([Prompt(mask=MASK, label="mug"), Prompt(box=BOX, label="box")])
    to_node = dict(zip(replay_ids, ids, strict=True))
    intr = Intrinsics.from_k(K, W, H)
    for frame in FRAMES[1:5]:
        tracks, label, h = tracker.send(frame, with_depth=True)
        expected = session.step(frame)
        mapped = np.zeros_like(expected.label_image)
        for rid, nid in to_node.items():
            mapped[expected.label_image == rid] = nid
        assert (label == mapped).mean() > 0.99
        assert set(np.unique(label)) <= {0, *ids}
        by_id = {t.id: t for t in tracks.tracks}
        assert sorted(by_id) == sorted(ids)
        assert (by_id[ids[0]].label, by_id[ids[1]].label) == ("mug", "box")
        for obj in expected.objects:
            t = by_id[to_node[obj.id]]
            assert t.state == int(obj.state) and t.score == pytest.approx(obj.presence, abs=0.02)
            box = mask_box(label == t.id)
            if box is None:
                assert (t.bbox.width, t.bbox.height, t.area, t.has_centroid) == (0, 0, 0, False)
                continue
            assert (t.bbox.x_offset, t.bbox.y_offset, t.bbox.width, t.bbox.height) == tuple(int(v) for v in box)
            assert t.area == int((label == t.id).sum())
            c = centroid_3d(label == t.id, np.full((H, W), DEPTH_MM / 1000.0, np.float32), intr)
            assert t.has_centroid == (c is not None)
            if c is not None:
                assert (t.centroid.x, t.centroid.y, t.centroid.z) == pytest.approx(c, abs=0.02)
                assert t.centroid.z == pytest.approx(1.2)


def test_prompts_on_a_given_image_and_overlay(tracker: Tracker) -> None:
    before = tracker.diag()
    assert int(before["frames_processed"]) >= 1 and before["overlays_drawn"] == "0"  # nobody subscribed yet
    overlay = tracker.peer.collect(Image, "overlay")
    markers = tracker.peer.collect(MarkerArray, "markers")
    wait_until(lambda: overlay.subscription.get_publisher_count() > 0, "overlay publisher")
    resp = tracker.call(AddObjects, "add_objects", add_request(boxes=[(10, 100, 60, 50)], image=FRAMES[6]))
    assert resp.success, resp.message
    time.sleep(0.5)  # overlay subscription matched on the node side
    tracks, label, h = tracker.send(FRAMES[6])
    assert resp.ids[0] in {t.id for t in tracks.tracks}
    drawn_markers = markers.wait_for(lambda m: same_stamp(m.markers[0].header, h), 30).markers
    assert drawn_markers[0].action == Marker.DELETEALL
    visible = sorted(t.id for t in tracks.tracks if t.bbox.width > 0)
    assert sorted(m.id for m in drawn_markers[1:] if m.type == Marker.TEXT_VIEW_FACING) == visible
    msg = overlay.wait_for(lambda m: same_stamp(m.header, h), 30)
    assert (msg.encoding, msg.width, msg.height) == ("rgb8", W, H)
    drawn = convert.image_to_array(msg)
    changed = np.any(drawn != FRAMES[6], axis=2)
    if label.any():
        assert changed[label != 0].mean() > 0.9
    # away from the masks' boxes (the id + label text is centred on them) the frame is untouched
    far = np.ones((H, W), bool)
    for i in np.unique(label[label != 0]):
        x, y, w, h = (int(v) for v in mask_box(label == i))
        far[max(0, y - 15):y + h + 15, max(0, x - 60):x + w + 60] = False
    assert not changed[far].any()


BAD_IMAGES = [
    (Image(height=2, width=2, encoding="yuv422", step=4, data=bytes(8)), "unsupported image encoding 'yuv422'"),
    (Image(height=H, width=W, encoding="rgb8", step=W, data=bytes(W * H)), f"image step {W} is smaller"),
    (Image(height=0, width=0, encoding="rgb8"), "empty image"),
]


@pytest.mark.parametrize(("bad", "message"), BAD_IMAGES)
def test_bad_images_are_logged_and_tracking_goes_on(tracker: Tracker, bad: Image, message: str) -> None:
    before = {t.id for t in tracker.send(FRAMES[7])[0].tracks}
    bad.header = header(999)
    tracker.image_pub.publish(bad)
    wait_until(lambda: message in tracker.node.log(), f"'{message}' in the node log", 20)
    assert tracker.node.alive()
    assert {t.id for t in tracker.send(FRAMES[8])[0].tracks} == before


def test_bad_camera_info_is_reported_and_tracking_goes_on(tracker: Tracker) -> None:
    before = {t.id for t in tracker.send(FRAMES[7])[0].tracks}
    tracker.k += 1
    h = header(tracker.k)
    tracker.info_pub.publish(CameraInfo(header=h, width=W, height=H, k=[0.0] * 9))
    tracker.depth_pub.publish(convert.array_to_image(np.full((H, W), DEPTH_MM, np.uint16), "16UC1", h))
    time.sleep(0.2)
    tracker.image_pub.publish(convert.array_to_image(FRAMES[8], "rgb8", h))
    tracks = tracker.tracks.wait_for(lambda m: same_stamp(m.header, h), 60)
    assert {t.id for t in tracks.tracks} == before and not any(t.has_centroid for t in tracks.tracks)
    wait_until(lambda: "depth ignored: camera matrix has non-positive focal lengths" in tracker.node.log(),
               "the camera_info error in the log", 20)
    assert tracker.node.alive()


def test_bad_service_requests_get_clear_refusals(tracker: Tracker) -> None:
    ids = {t.id for t in tracker.send(FRAMES[8])[0].tracks}
    if not ids:  # run on its own: track something, so that "nothing was lost" below means something
        assert tracker.call(AddObjects, "add_objects", add_request([MASK], labels=["mug"])).success
        ids = {t.id for t in tracker.send(FRAMES[8])[0].tracks}
    assert ids
    cases = [
        (add_request([np.ones((50, 100), bool)]), "mask 0: mask is 100x50, the frame is 240x160"),
        (add_request(boxes=[(5, 5, 0, 10)]), "box 0: box"),
        (add_request(boxes=[(500, 500, 10, 10)]), "outside the 240x160 frame"),
        (add_request(boxes=[BOX], labels=["a", "b"]), "2 labels for 1 objects"),
        (add_request(), "no masks, boxes or points given"),
        (add_request([MASK], image=np.zeros((4, 4, 3), np.uint8)), "mask 0: mask is 240x160, the frame is 4x4"),
    ]
    for req, message in cases:
        resp = tracker.call(AddObjects, "add_objects", req)
        assert not resp.success and message in resp.message, resp.message
    bad_encoding = add_request(boxes=[BOX])
    bad_encoding.image = Image(height=2, width=2, encoding="bayer_rggb8", step=2, data=bytes(4))
    resp = tracker.call(AddObjects, "add_objects", bad_encoding)
    assert not resp.success and "unsupported image encoding 'bayer_rggb8'" in resp.message
    resp = tracker.call(RemoveObjects, "remove_objects", RemoveObjects.Request(ids=[max(ids), 99999]))
    assert not resp.success and "unknown track ids [99999]" in resp.message
    assert tracker.node.alive()
    assert {t.id for t in tracker.send(FRAMES[9])[0].tracks} == ids  # nothing was lost


def test_remove_and_reset_never_reuse_ids(tracker: Tracker) -> None:
    ids = sorted(t.id for t in tracker.send(FRAMES[9])[0].tracks)
    if len(ids) < 2:  # run on its own or early: two objects to remove one of
        assert tracker.call(AddObjects, "add_objects", add_request([MASK], boxes=[BOX])).success
        ids = sorted(t.id for t in tracker.send(FRAMES[9])[0].tracks)
    resp = tracker.call(RemoveObjects, "remove_objects", RemoveObjects.Request(ids=[ids[0]]))
    assert resp.success and list(resp.removed) == [ids[0]]
    tracks, label, _ = tracker.send(FRAMES[10])
    assert sorted(t.id for t in tracks.tracks) == ids[1:] and ids[0] not in np.unique(label)
    resp = tracker.call(Trigger, "reset", Trigger.Request())
    assert resp.success and f"{len(ids) - 1} object(s)" in resp.message
    tracks, label, _ = tracker.send(FRAMES[10])
    assert tracks.tracks == [] and not label.any()
    resp = tracker.call(AddObjects, "add_objects", add_request(boxes=[BOX]))
    assert resp.success and resp.ids[0] > max(ids)


def test_parameters_come_from_yaml_with_descriptions_and_are_validated(tracker: Tracker) -> None:
    names = ["model.input_short_side", "memory.top_k", "node.use_depth", "track.presence_threshold"]
    got = tracker.call(GetParameters, "vos_tracker/get_parameters", GetParameters.Request(names=names))
    values = [v.integer_value if v.type == ParameterType.PARAMETER_INTEGER else
              v.bool_value if v.type == ParameterType.PARAMETER_BOOL else v.double_value for v in got.values]
    assert values == [96, load_params()["memory.top_k"], True, load_params()["track.presence_threshold"]]
    specs = {s.name: s for s in parameter_specs()}
    described = tracker.call(DescribeParameters, "vos_tracker/describe_parameters",
                             DescribeParameters.Request(names=list(specs)))
    assert {d.name: d.description for d in described.descriptors} == {n: s.description for n, s in specs.items()}

    def set_one(name: str, value: ParameterValue):
        req = SetParameters.Request(parameters=[Parameter(name=name, value=value)])
        return tracker.call(SetParameters, "vos_tracker/set_parameters", req).results[0]

    integer = ParameterType.PARAMETER_INTEGER
    bad = set_one("memory.top_k", ParameterValue(type=integer, integer_value=0))
    assert not bad.successful and "memory.top_k must be positive" in bad.reason
    bad = set_one("node.queue_size", ParameterValue(type=ParameterType.PARAMETER_STRING, string_value="x"))
    assert not bad.successful and "node.queue_size' must be int" in bad.reason
    bad = set_one("track.presence_threshold", ParameterValue(type=ParameterType.PARAMETER_DOUBLE,
                                                              double_value=1.5))
    assert not bad.successful and "presence_threshold must be in (0, 1)" in bad.reason
    good = set_one("node.queue_size", ParameterValue(type=integer, integer_value=2))
    assert good.successful
    assert set_one("node.queue_size", ParameterValue(type=integer, integer_value=1)).successful
    assert tracker.node.alive()


def test_diagnostics_report_rate_latency_memory_and_drops(tracker: Tracker) -> None:
    tracker.send(FRAMES[10])  # the frame the mask refers to (the fixture's reset forgot the last one)
    resp = tracker.call(AddObjects, "add_objects", add_request([MASK], labels=["mug"]))
    assert resp.success, resp.message
    tracker.send(FRAMES[11])
    before = tracker.diag()
    bad = Image(height=0, width=0, encoding="rgb8", header=header(4999))
    tracker.image_pub.publish(bad)
    tracker.diag(lambda v: int(v["input_errors"]) > int(before["input_errors"]))
    for k in range(10):  # a burst faster than the worker: all but the newest queued frame are dropped
        tracker.image_pub.publish(convert.array_to_image(FRAMES[k], "rgb8", header(5000 + k)))
    values = tracker.diag(lambda v: int(v["frames_dropped"]) > int(before["frames_dropped"]))
    assert set(values) >= {"fps", "latency_ms", "step_ms", "frames_processed", "frames_dropped", "memory_tokens",
                           "memory_bytes", "objects", "input_errors", "last_error", "state", "overlays_drawn",
                           "image_publishers", "image_reliability", "input_gaps", "input_frames_missed",
                           "seconds_since_last_image"}
    assert values["state"] == "active" and values["image_reliability"] == "reliable"
    assert int(values["memory_tokens"]) > 0 and int(values["memory_bytes"]) > 0
    assert int(values["objects"]) >= 1 and "empty image" in values["last_error"]
    assert int(values["image_publishers"]) >= 1
    assert int(values["frames_processed"]) >= max(1, int(before["frames_processed"]))
    assert float(values["latency_ms"]) >= 0


def test_stamp_gaps_and_silence_are_reported(tracker: Tracker) -> None:
    for k in range(12):  # 10 Hz stamps: the typical step the watch learns
        tracker.send(FRAMES[k % len(FRAMES)], stamp=(3000, k * 100_000_000))
    before = tracker.diag()
    tracker.send(FRAMES[0], stamp=(3002, 0))  # 0.9 s after the last: about 8 frames missing
    values = tracker.diag(lambda v: int(v["input_gaps"]) > int(before["input_gaps"]))
    assert int(values["input_frames_missed"]) >= int(before["input_frames_missed"]) + 7
    assert "frame(s) missing before stamp" in tracker.node.log()
    # a publisher on `image` (image_pub) and nothing sent: the silence is reported and warned about
    values = tracker.diag(lambda v: float(v["seconds_since_last_image"]) >= 3.0, timeout=20)
    assert int(values["image_publishers"]) >= 1
    wait_until(lambda: "publisher(s) but no message for" in tracker.node.log(), "the silence warning", 10)


def subscription_reliability(peer: RosPeer, topic: str, node_name: str):
    """The reliability of ``node_name``'s one subscription to ``topic`` as the graph shows it (None while
    it has none or two: a switch in progress)."""
    infos = [i for i in peer.node.get_subscriptions_info_by_topic(topic) if i.node_name == node_name]
    return infos[0].qos_profile.reliability if len(infos) == 1 else None


def test_default_qos_answers_reliable_and_best_effort_publishers_of_large_frames(tracker: Tracker) -> None:
    """node.input_reliability auto (the default): reliable while all publishers are, best effort otherwise;
    every 854x480 frame sent after the previous answer is answered either way."""
    assert tracker.call(Trigger, "reset", Trigger.Request()).success
    big = cv2.resize(FRAMES[0], (854, 480), interpolation=cv2.INTER_LINEAR)
    try:
        wait_until(lambda: subscription_reliability(tracker.peer, "/image", "vos_tracker")
                   == ReliabilityPolicy.RELIABLE, "a reliable subscription (image_pub is reliable)", 10)
        for k in range(4):  # 1.2 MB rgb8 frames, reliable: none lost
            _, label, _ = tracker.send(np.roll(big, 4 * k, axis=1))
            assert label.shape == (480, 854)
        best = tracker.peer.node.create_publisher(Image, "/image", qos_profile_sensor_data)
        try:
            wait_until(lambda: subscription_reliability(tracker.peer, "/image", "vos_tracker")
                       == ReliabilityPolicy.BEST_EFFORT and best.get_subscription_count() > 0,
                       "the switch to best effort for a best-effort publisher", 10)
            # mono8 (410 KB): best-effort samples over about 512 KB do not arrive over this machine's
            # loopback whatever the subscriber does (docs/ros.md, QoS)
            for k in range(4):
                _, label, _ = tracker.send(np.roll(big, 4 * k, axis=1)[..., 1].copy(), pub=best, encoding="mono8")
                assert label.shape == (480, 854)
        finally:
            tracker.peer.node.destroy_publisher(best)
        wait_until(lambda: subscription_reliability(tracker.peer, "/image", "vos_tracker")
                   == ReliabilityPolicy.RELIABLE, "reliable again once the best-effort publisher left", 10)
        _, label, _ = tracker.send(big)
        assert label.shape == (480, 854)
        assert "subscribed best effort (auto; 2 publisher(s) known)" in tracker.node.log()
    finally:
        assert tracker.call(Trigger, "reset", Trigger.Request()).success


def test_lifecycle_and_compressed_input(start_node, ros_peer, checkpoint, tmp_path_factory) -> None:
    """autostart off: unconfigured until told; services refuse while inactive; session freed on deactivate."""
    values = {**small_frame_params(checkpoint), "node.autostart": False, "node.compressed_input": True}
    path = write_params(tmp_path_factory.mktemp("params_lc") / "tracker.yaml", values)
    node = start_node(python_node("vos_ros.nodes.tracker", "--params-file", str(path), "-r", "__ns:=/lc"))

    def change(transition: int) -> bool:
        req = ChangeState.Request(transition=Transition(id=transition))
        return ros_peer.call(ChangeState, "/lc/vos_tracker/change_state", req).success

    def state() -> str:
        return ros_peer.call(GetState, "/lc/vos_tracker/get_state", GetState.Request()).current_state.label

    assert state() == "unconfigured"
    assert change(Transition.TRANSITION_CONFIGURE) and state() == "inactive"
    resp = ros_peer.call(AddObjects, "/lc/add_objects", add_request(boxes=[BOX]))
    assert not resp.success and "not active" in resp.message
    assert change(Transition.TRANSITION_ACTIVATE) and state() == "active"

    from sensor_msgs.msg import CompressedImage

    pub = ros_peer.node.create_publisher(CompressedImage, "/lc/image", 10)
    tracks = ros_peer.collect(TrackArray, "/lc/tracks")
    wait_until(lambda: pub.get_subscription_count() > 0, "compressed subscription")
    pub.publish(convert.rgb_to_compressed(FRAMES[0], "png", header(1, "lc_cam")))
    tracks.wait_for(lambda m: same_stamp(m.header, header(1, "lc_cam")), 60)
    assert ros_peer.call(AddObjects, "/lc/add_objects", add_request(boxes=[BOX])).success
    pub.publish(convert.rgb_to_compressed(FRAMES[1], "jpeg", header(2, "lc_cam")))
    got = tracks.wait_for(lambda m: same_stamp(m.header, header(2, "lc_cam")), 60)
    assert len(got.tracks) == 1

    assert change(Transition.TRANSITION_DEACTIVATE) and state() == "inactive"
    assert "session and its memory released" in node.log()
    resp = ros_peer.call(AddObjects, "/lc/add_objects", add_request(boxes=[BOX]))
    assert not resp.success and "not active" in resp.message
    assert change(Transition.TRANSITION_CLEANUP) and state() == "unconfigured"
    assert node.alive()
    assert node.stop() == 0  # SIGINT: clean shutdown


def test_renamed_parameters_are_refused_at_configure(start_node, ros_peer, tmp_path_factory) -> None:
    """lifecycle.* became track.*: a params file or -p still setting an old name stops the node configuring."""
    path = write_params(tmp_path_factory.mktemp("params_old") / "tracker.yaml", {"lifecycle.lost_after": 10})
    node = start_node(python_node("vos_ros.nodes.tracker", "--params-file", str(path),
                                  "-p", "lifecycle.min_area:=5", "-r", "__ns:=/old"))
    node.wait_for_log("autostart: configure failed", 60)
    assert "parameter 'lifecycle.lost_after' was renamed to 'track.lost_after'" in node.log()
    assert "parameter 'lifecycle.min_area' was renamed to 'track.min_area'" in node.log()
    got = ros_peer.call(GetState, "/old/vos_tracker/get_state", GetState.Request())
    assert got.current_state.label == "unconfigured"
    assert node.stop() == 0


def test_input_watch_counts_stamp_gaps_and_restarts_on_a_stamp_going_back() -> None:
    from vos_ros.nodes.inputs import InputWatch

    watch, period = InputWatch(), 33_333_333
    assert [watch.frame(k * period, 0.0) for k in range(6)] == [0] * 6
    assert watch.frame(8 * period, 0.1) == 2 and (watch.gaps, watch.missed) == (1, 2)  # frames 6 and 7 lost
    assert watch.frame(9 * period, 0.2) == 0  # the gap did not become the typical step
    assert watch.frame(0, 0.3) == 0 and watch.frame(50 * period, 0.4) == 0  # restarted: no typical step yet
    assert (watch.gaps, watch.received, watch.last_arrival) == (1, 10, 0.4)


def test_stamp_buffer_pairs_by_nearest_stamp_while_another_thread_appends() -> None:
    import threading

    from vos_ros.nodes.inputs import StampBuffer

    def msg(ns: int) -> Image:
        m = Image()
        m.header.stamp.sec, m.header.stamp.nanosec = divmod(ns, 1_000_000_000)
        return m

    buffer = StampBuffer(10)
    for ns in (0, 100_000_000, 200_000_000):
        buffer.append(msg(ns))
    assert buffer.nearest(msg(130_000_000), 0.05).header.stamp.nanosec == 100_000_000
    assert buffer.nearest(msg(400_000_000), 0.05) is None
    stop = threading.Event()

    def append() -> None:
        k = 0
        while not stop.is_set():
            buffer.append(msg(k))
            k += 1

    writer = threading.Thread(target=append)
    writer.start()
    try:
        for _ in range(2000):  # raised "deque mutated during iteration" before the snapshot
            buffer.nearest(msg(0), 1.0)
    finally:
        stop.set()
        writer.join()


def test_a_click_on_clicked_point_or_in_add_objects_starts_a_track_on_the_object(start_node, ros_peer, checkpoint,
                                                                                 tmp_path_factory) -> None:
    """rqt_image_view's `<image>_mouse_left` remapped onto `clicked_point`: one PointStamped inside an
    object starts a track whose mask is that object; AddObjects takes clicks too, and bad ones are refused."""
    from geometry_msgs.msg import Point, PointStamped

    from vos_ros.tools.synthetic_scene import Scene, Sprite

    # a 160-pixel network input: at the module's 96 the 90-pixel face is tracked at IoU 0.5-0.7
    values = {**small_frame_params(checkpoint), "model.input_short_side": 160}
    path = write_params(tmp_path_factory.mktemp("click") / "tracker.yaml", values)
    node = start_node(python_node("vos_ros.nodes.tracker", "--params-file", str(path), "-r", "__ns:=/click"))
    node.wait_for_log("active: model loaded", 120)
    tracker = Tracker(node, ros_peer, {**load_params(), **values}, ns="/click")
    scene = Scene("coffee", (320, 240), [Sprite("face", "astronaut", (150, 20, 170, 190), (90, 90), (40, 60), (0, 0)),
                                         Sprite("coins", "coins", (0, 0, 160, 160), (80, 80), (200, 120), (0, 0))])
    image, (face, coins) = scene.render(0)
    tracks, _, _ = tracker.send(image)
    assert not tracks.tracks
    clicks = tracker.peer.node.create_publisher(PointStamped, "/click/clicked_point", 10)
    wait_until(lambda: clicks.get_subscription_count() > 0, "tracker subscribes to clicked_point")
    ys, xs = np.nonzero(face)
    clicks.publish(PointStamped(header=header(tracker.k), point=Point(x=float(xs.mean()), y=float(ys.mean()))))
    wait_until(lambda: "clicked_point" in tracker.node.log(), "the click to be handled", 60)
    ious = []
    for _ in range(3):
        tracks, label, _ = tracker.send(image)
        assert len(tracks.tracks) == 1, tracks.tracks
        track = tracks.tracks[0].id
        ious.append(((label == track) & face).sum() / ((label == track) | face).sum())
    assert min(ious) >= 0.5, ious

    req = AddObjects.Request(points=[Point(x=float(np.nonzero(coins)[1].mean()), y=float(np.nonzero(coins)[0].mean()))],
                             labels=["coins"])
    resp = tracker.call(AddObjects, "add_objects", req)
    assert resp.success and len(resp.ids) == 1, resp.message
    tracks, label, _ = tracker.send(image)
    assert ((label == resp.ids[0]) & coins).sum() / ((label == resp.ids[0]) | coins).sum() >= 0.5
    for bad, message in [(AddObjects.Request(points=[Point(x=500.0, y=10.0)]), "outside the 320x240 frame"),
                         (AddObjects.Request(points=[Point(x=10.0, y=10.0)], point_positive=[False]),
                          "at least one must be on the object"),
                         (AddObjects.Request(points=[Point(x=10.0, y=10.0)], point_positive=[True, False]),
                          "2 point_positive flags for 1 points")]:
        resp = tracker.call(AddObjects, "add_objects", bad)
        assert not resp.success and message in resp.message, resp.message
    clicks.publish(PointStamped(point=Point(x=-5.0, y=3.0)))
    wait_until(lambda: "clicked_point (-5, 3) refused" in tracker.node.log(), "the bad click to be refused", 30)
    assert tracker.node.alive()
