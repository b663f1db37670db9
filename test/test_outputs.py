"""FrameResult -> TrackArray / MarkerArray / DiagnosticStatus, without a running node."""
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
