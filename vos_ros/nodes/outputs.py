"""FrameResult -> the tracker node's output messages (tracks, detections, markers, diagnostics).

Pure functions of their inputs, so they are tested without a running node.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point
from sensor_msgs.msg import RegionOfInterest
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from vos_ros.core.depth import Intrinsics
from vos_ros.core.types import FrameResult, ObjectResult
from vos_ros.core.visualize import colour_for
from vos_ros.msg import Track, TrackArray

if TYPE_CHECKING:
    from vision_msgs.msg import Detection2DArray

Centroid = tuple[float, float, float]
TEXT_HEIGHT_M = 0.04
SPHERE_M = 0.03


def track_array(header: Header, result: FrameResult, centroids: Mapping[int, Centroid]) -> TrackArray:
    """One Track per object of ``result`` (occluded and lost ones too, with a zero box)."""
    msg = TrackArray(header=header)
    for obj in result.objects:
        t = Track(id=int(obj.id), label=obj.label, score=float(obj.presence), state=int(obj.state),
                  area=int(obj.area))
        if obj.box is not None:
            x, y, w, h = obj.box
            t.bbox = RegionOfInterest(x_offset=int(x), y_offset=int(y), width=int(w), height=int(h))
        if obj.id in centroids:
            t.has_centroid = True
            t.centroid = Point(x=centroids[obj.id][0], y=centroids[obj.id][1], z=centroids[obj.id][2])
        msg.tracks.append(t)
    return msg


def detection_array_type() -> type[Detection2DArray]:
    """vision_msgs/Detection2DArray; ImportError where vision_msgs is not installed (every ROS distro
    has it; a PyPI-only venv has it once make setup built interfaces/vision_msgs)."""
    from vision_msgs.msg import Detection2DArray

    return Detection2DArray


def detection_array(header: Header, result: FrameResult) -> Detection2DArray:
    """One Detection2D per visible object: id = track id, class_id = label, score = presence, the box
    in pixels as in TrackArray (centre = x + w / 2, edges at x and x + w). Needs vision_msgs."""
    from vision_msgs.msg import BoundingBox2D, Detection2D, Detection2DArray, ObjectHypothesisWithPose

    msg = Detection2DArray(header=header)
    for obj in result.objects:
        if obj.box is None:
            continue
        x, y, w, h = (float(v) for v in obj.box)
        bbox = BoundingBox2D(size_x=w, size_y=h)
        bbox.center.position.x, bbox.center.position.y = x + w / 2.0, y + h / 2.0
        hypothesis = ObjectHypothesisWithPose()
        hypothesis.hypothesis.class_id, hypothesis.hypothesis.score = obj.label, float(obj.presence)
        msg.detections.append(Detection2D(header=header, id=str(obj.id), results=[hypothesis], bbox=bbox))
    return msg


def default_intrinsics(width: int, height: int) -> Intrinsics:
    """Stand-in camera (focal length = image width, about 53 degrees wide) when no camera_info came."""
    return Intrinsics(float(width), float(width), width / 2.0, height / 2.0, width, height)


def _colour(track_id: int, alpha: float = 1.0) -> ColorRGBA:
    r, g, b = colour_for(track_id)
    return ColorRGBA(r=r / 255.0, g=g / 255.0, b=b / 255.0, a=alpha)


def _text_position(obj: ObjectResult, centroid: Centroid | None, k: Intrinsics) -> Point:
    """3-D centroid when known; else the box centre's viewing ray at 1 m in front of the camera."""
    if centroid is not None:
        return Point(x=centroid[0], y=centroid[1], z=centroid[2])
    x, y, w, h = obj.box
    return Point(x=(x + w / 2 - k.cx) / k.fx, y=(y + h / 2 - k.cy) / k.fy, z=1.0)


def markers(header: Header, result: FrameResult, centroids: Mapping[int, Centroid],
            intrinsics: Intrinsics) -> MarkerArray:
    """DELETEALL, then per visible track an "<id> <label>" text and, with depth, a centroid sphere."""
    out = MarkerArray(markers=[Marker(header=header, action=Marker.DELETEALL)])
    for obj in result.objects:
        if obj.box is None:
            continue
        centroid = centroids.get(obj.id)
        text = Marker(header=header, ns="vos_labels", id=int(obj.id), type=Marker.TEXT_VIEW_FACING,
                      action=Marker.ADD, text=f"{obj.id} {obj.label}".strip(), color=_colour(obj.id))
        text.pose.position = _text_position(obj, centroid, intrinsics)
        text.pose.orientation.w = 1.0
        text.scale.z = TEXT_HEIGHT_M
        out.markers.append(text)
        if centroid is not None:
            sphere = Marker(header=header, ns="vos_centroids", id=int(obj.id), type=Marker.SPHERE,
                            action=Marker.ADD, color=_colour(obj.id, 0.8))
            sphere.pose.position = Point(x=centroid[0], y=centroid[1], z=centroid[2])
            sphere.pose.orientation.w = 1.0
            sphere.scale.x = sphere.scale.y = sphere.scale.z = SPHERE_M
            out.markers.append(sphere)
    return out


def diagnostic_status(name: str, hardware_id: str, values: Mapping[str, object], level: bytes,
                      message: str) -> DiagnosticStatus:
    return DiagnosticStatus(
        level=level, name=name, hardware_id=hardware_id, message=message,
        values=[KeyValue(key=k, value=f"{v:.2f}" if isinstance(v, float) else str(v))
                for k, v in values.items()],
    )
