"""FrameResult -> TrackArray / Detection2DArray / MarkerArray / DiagnosticStatus, without a running node."""
from __future__ import annotations

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from vos_ros.core.depth import Intrinsics
from vos_ros.core.types import FrameResult, ObjectResult, TrackState, mask_box
from vos_ros.nodes import outputs


def _result() -> FrameResult:
    label = np.zeros((40, 60), np.uint16)
    label[10:20, 30:50] = 3
    visible = ObjectResult(3, "mug", label == 3, 0.9, TrackState.TRACKED, mask_box(label == 3))
    hidden = ObjectResult(5, "", np.zeros((40, 60), bool), 0.1, TrackState.OCCLUDED, None)
    return FrameResult(7, [visible, hidden], label)


def test_track_array_fields() -> None:
    h = Header(frame_id="cam")
    msg = outputs.track_array(h, _result(), {3: (0.1, -0.2, 1.5)})
    assert msg.header.frame_id == "cam" and [t.id for t in msg.tracks] == [3, 5]
    t3, t5 = msg.tracks
    assert (t3.label, t3.state, t3.area) == ("mug", t3.TRACKED, 200) and t3.score == pytest.approx(0.9)
    assert (t3.bbox.x_offset, t3.bbox.y_offset, t3.bbox.width, t3.bbox.height) == (30, 10, 20, 10)
    assert t3.has_centroid and (t3.centroid.x, t3.centroid.y, t3.centroid.z) == pytest.approx((0.1, -0.2, 1.5))
    assert t5.state == t5.OCCLUDED and (t5.bbox.width, t5.area, t5.has_centroid) == (0, 0, False)


def test_markers_text_on_the_box_ray_or_at_the_centroid() -> None:
    h = Header(frame_id="cam")
    k = Intrinsics(100.0, 100.0, 30.0, 20.0, 60, 40)
    plain = outputs.markers(h, _result(), {}, k).markers
    assert plain[0].action == Marker.DELETEALL and len(plain) == 2  # hidden track: no marker
    text = plain[1]
    assert (text.type, text.text, text.id, text.header.frame_id) == (Marker.TEXT_VIEW_FACING, "3 mug", 3, "cam")
    # box centre (40, 15) on the viewing ray at 1 m
    assert (text.pose.position.x, text.pose.position.y, text.pose.position.z) == pytest.approx((0.1, -0.05, 1.0))
    with_depth = outputs.markers(h, _result(), {3: (0.2, 0.0, 2.0)}, k).markers
    assert [m.action for m in with_depth] == [Marker.DELETEALL, Marker.ADD, Marker.ADD]
    sphere = with_depth[2]
    assert sphere.type == Marker.SPHERE and sphere.pose.position.z == pytest.approx(2.0)
    assert with_depth[1].pose.position.x == pytest.approx(0.2)


def test_diagnostic_values_are_strings() -> None:
    status = outputs.diagnostic_status("n: tracker", "vos", {"fps": 12.345, "drops": 3}, DiagnosticStatus.OK, "ok")
    assert {kv.key: kv.value for kv in status.values} == {"fps": "12.35", "drops": "3"}
    assert status.level == DiagnosticStatus.OK


def test_detections_one_per_visible_track_with_the_track_box() -> None:
    h = Header(frame_id="cam")
    h.stamp.sec = 12
    msg = outputs.detection_array(h, _result())
    assert type(msg) is outputs.detection_array_type()
    assert msg.header.frame_id == "cam" and msg.header.stamp.sec == 12
    (det,) = msg.detections  # the occluded track 5 has no box: no detection
    assert det.id == "3" and det.header.frame_id == "cam" and det.header.stamp.sec == 12
    (hyp,) = det.results
    assert hyp.hypothesis.class_id == "mug" and hyp.hypothesis.score == pytest.approx(0.9)
    # the TrackArray box of track 3 is x 30, y 10, w 20, h 10: centre (40, 15)
    track = outputs.track_array(h, _result(), {}).tracks[0]
    assert (det.bbox.size_x, det.bbox.size_y) == (track.bbox.width, track.bbox.height) == (20, 10)
    assert (det.bbox.center.position.x, det.bbox.center.position.y) == pytest.approx(
        (track.bbox.x_offset + 10, track.bbox.y_offset + 5))
    assert det.bbox.center.theta == 0.0


def test_vision_msgs_types_have_the_upstream_fields() -> None:
    """Field names, types and order of vision_msgs 4.x (ros-perception/vision_msgs, branch ros2)."""
    import vision_msgs.msg as msgs  # every ROS distro has it; make setup builds interfaces/vision_msgs

    expected = {
        "Detection2DArray": {"header": "std_msgs/Header", "detections": "sequence<vision_msgs/Detection2D>"},
        "Detection2D": {"header": "std_msgs/Header", "results": "sequence<vision_msgs/ObjectHypothesisWithPose>",
                        "bbox": "vision_msgs/BoundingBox2D", "id": "string"},
        "ObjectHypothesisWithPose": {"hypothesis": "vision_msgs/ObjectHypothesis",
                                     "pose": "geometry_msgs/PoseWithCovariance"},
        "ObjectHypothesis": {"class_id": "string", "score": "double"},
        "BoundingBox2D": {"center": "vision_msgs/Pose2D", "size_x": "double", "size_y": "double"},
        "Pose2D": {"position": "vision_msgs/Point2D", "theta": "double"},
        "Point2D": {"x": "double", "y": "double"},
    }
    for name, fields in expected.items():
        got = getattr(msgs, name).get_fields_and_field_types()
        assert list(got.items()) == list(fields.items()), name
