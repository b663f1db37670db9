"""vos_tracker: the ROS 2 lifecycle node around the core Session.

    ros2 run vos_ros tracker_node --ros-args --params-file config/vos_tracker.yaml -r image:=/camera/image_raw
    python -m vos_ros.nodes.tracker --ros-args ...          (same, from the source tree)

Subscribes `image` (sensor_msgs/Image, or CompressedImage with node.compressed_input), and with
node.use_depth `depth` + `camera_info`, and `clicked_point` (geometry_msgs/PointStamped, pixels of the
newest processed image, as rqt_image_view publishes on `<image>_mouse_left`: a click starts a track on
the object under it). Publishes `tracks`, `detections` (vision_msgs/Detection2DArray,
where vision_msgs is installed), `label_image`, `overlay`, `markers` and /diagnostics; serves
`add_objects`, `remove_objects`, `reset`. All names are relative.

Threads: the executor only queues frames and answers services; one worker thread
(vos_ros.nodes.worker.TorchWorker) runs the Session on the newest queued frame (older ones are
dropped and counted), and every other piece of torch work too (loading the model, adding and
removing objects): services hand it a job and wait.
Lifecycle: configure creates the ROS interfaces, activate loads the model and starts a Session,
deactivate frees them, cleanup removes the interfaces.
"""
from __future__ import annotations

import dataclasses
import gc
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PointStamped
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_srvs.srv import Trigger
from visualization_msgs.msg import MarkerArray

from vos_ros.core.config import TRACKER_CONFIG, renamed_parameters
from vos_ros.core.depth import Intrinsics, centroid_3d
from vos_ros.core.session import Session
from vos_ros.core.types import FrameResult, Prompt
from vos_ros.core.visualize import draw_overlay
from vos_ros.core.weights import load_model, set_threads
from vos_ros.msg import TrackArray
from vos_ros.nodes import convert, outputs
from vos_ros.nodes.depth_pairing import PairingWatch, miss_reason
from vos_ros.nodes.inputs import InputSubscription, StampBuffer, publisher_overrides, stamp_ns
from vos_ros.nodes.params import LIVE_PARAMETERS, build_configs, coerce, help_requested, help_text, parameter_specs
from vos_ros.nodes.run import ros_main
from vos_ros.nodes.worker import TorchWorker
from vos_ros.srv import AddObjects, RemoveObjects

NODE_NAME = "vos_tracker"
T = TypeVar("T")


def _error_text(exc: Exception) -> str:
    return exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)


@dataclass
class Stats:
    """Counters for /diagnostics; the window ones restart at every report (under ``lock``: the worker
    adds to them while the executor reports)."""

    processed: int = 0
    overlays: int = 0   # overlays drawn: only while `overlay` has subscribers
    dropped: int = 0
    input_errors: int = 0
    last_error: str = ""
    window_frames: int = 0
    window_start: float = field(default_factory=time.monotonic)
    latencies_ms: list[float] = field(default_factory=list)
    step_ms: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class TrackerNode(LifecycleNode):
    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._specs = {s.name: s for s in parameter_specs()}
        for spec in self._specs.values():
            # dynamic typing so that an int in a YAML file is accepted for a float parameter;
            # types are checked in _on_set_parameters
            self.declare_parameter(spec.name, spec.default,
                                   ParameterDescriptor(description=spec.description, dynamic_typing=True))
        self._params = {name: coerce(name, self.get_parameter(name).value, spec.default)
                        for name, spec in self._specs.items()}
        self.tracker_cfg, self.node_cfg = build_configs(self._params)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        # rclpy ignores what a params file or -p sets for an undeclared parameter; an old name that was
        # renamed (lifecycle.* -> track.*) must not be ignored silently: configure refuses while one is set
        self._renamed = renamed_parameters(getattr(self, "_parameter_overrides", {}))

        self._session: Session | None = None
        self._session_lock = threading.Lock()
        self._active = threading.Event()
        # (image, time received) frames and torch jobs, on one thread
        self._worker: TorchWorker[tuple[Image | CompressedImage, float]] = TorchWorker(
            "vos_tracker_worker", self._process_queued)
        self._depth = StampBuffer(10)  # appended by the executor, read by the worker
        self._newest_depth_ns: int | None = None
        self._camera_info: CameraInfo | None = None
        self._pairing = PairingWatch()  # images with and without depth + camera_info (node.use_depth)
        self._stats = Stats()
        # what /diagnostics reports of the session, left by the worker after each step and job: the
        # diagnostics timer never waits for the session lock (held for a whole step)
        self._session_stats: dict[str, int] = {}
        self._image_sub: InputSubscription | None = None
        self._entities: list = []
        self._state = "unconfigured"

    # -- parameters -------------------------------------------------------------------------------
    def _on_set_parameters(self, params: list[rclpy.Parameter]) -> SetParametersResult:
        candidate = dict(self._params)
        try:
            for p in params:
                if p.name.startswith("qos_overrides."):
                    continue  # declared (read-only) by publishers and subscriptions; rclpy checks them
                if p.name not in self._specs:
                    raise ValueError(f"unknown parameter '{p.name}'")
                candidate[p.name] = coerce(p.name, p.value, self._specs[p.name].default)
            build_configs(candidate)
        except (ValueError, KeyError, TypeError) as exc:
            return SetParametersResult(successful=False, reason=_error_text(exc))
        self._params = candidate
        # live parameters apply now; the others at the next configure (topics) or activate (model)
        live = {p.name.split(".", 1)[1]: candidate[p.name] for p in params if p.name in LIVE_PARAMETERS}
        self.node_cfg = dataclasses.replace(self.node_cfg, **live)
        deferred = [p.name for p in params if p.name not in LIVE_PARAMETERS and p.name in self._specs]
        if deferred:
            self.get_logger().info(f"{', '.join(deferred)} take effect at the next configure/activate")
        return SetParametersResult(successful=True)

    # -- lifecycle --------------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self._renamed:
            self.get_logger().error(f"cannot configure: {'; '.join(self._renamed)}")
            return TransitionCallbackReturn.FAILURE
        self.tracker_cfg, self.node_cfg = build_configs(self._params)
        cfg = self.node_cfg
        # outputs are reliable: they then match reliable and best-effort subscribers alike; history,
        # depth and reliability can be overridden from a parameter file (qos_overrides./tracks.publisher.depth)
        overrides = publisher_overrides()
        self._pub_tracks = self.create_publisher(TrackArray, "tracks", 10, qos_overriding_options=overrides)
        self._pub_labels = self.create_publisher(Image, "label_image", 2, qos_overriding_options=overrides)
        self._pub_overlay = self.create_publisher(Image, "overlay", 2, qos_overriding_options=overrides)
        self._pub_markers = self.create_publisher(MarkerArray, "markers", 10, qos_overriding_options=overrides)
        self._pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        pubs = [self._pub_tracks, self._pub_labels, self._pub_overlay, self._pub_markers, self._pub_diag]
        try:  # vision_msgs: every ROS distro has it, a bare PyPI venv may not
            self._pub_detections = self.create_publisher(outputs.detection_array_type(), "detections", 10,
                                                         qos_overriding_options=overrides)
            pubs.append(self._pub_detections)
        except ImportError as exc:
            self._pub_detections = None
            self.get_logger().warning(f"`detections` is off: vision_msgs is not importable ({exc}); "
                                      "install ros-$ROS_DISTRO-vision-msgs, or run make setup in a PyPI venv")
        image_type = CompressedImage if cfg.compressed_input else Image
        # reliability per cfg.input_reliability; auto follows the publishers (vos_ros.nodes.inputs)
        self._image_sub = InputSubscription(self, image_type, "image", self._on_image, cfg.input_reliability)
        subs = [self._image_sub]
        clicks = self.create_subscription(PointStamped, "clicked_point", self._on_clicked_point, 10,
                                          qos_overriding_options=QoSOverridingOptions.with_default_policies())
        if cfg.use_depth:
            subs += [
                InputSubscription(self, Image, "depth", self._on_depth, cfg.input_reliability),
                InputSubscription(self, CameraInfo, "camera_info", self._on_camera_info, cfg.input_reliability),
            ]
        services = [
            self.create_service(AddObjects, "add_objects", self._srv_add_objects),
            self.create_service(RemoveObjects, "remove_objects", self._srv_remove_objects),
            self.create_service(Trigger, "reset", self._srv_reset),
        ]
        timer = self.create_timer(cfg.diagnostics_period, self._publish_diagnostics)
        self._entities = ([(self.destroy_publisher, e) for e in pubs]
                          + [(InputSubscription.destroy, e) for e in subs] + [(self.destroy_subscription, clicks)]
                          + [(self.destroy_service, e) for e in services] + [(self.destroy_timer, timer)])
        self._worker.start()
        self._state = "inactive"
        self.get_logger().info(f"configured: image as {image_type.__name__} ({cfg.input_reliability}), "
                               f"depth {'on' if cfg.use_depth else 'off'}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.tracker_cfg, _ = build_configs(self._params)
        try:
            t0 = time.perf_counter()
            cfg = self.tracker_cfg
            set_threads(cfg.model)  # the process's torch threads: this node is its entry point
            session = self._on_worker(lambda: Session(load_model(cfg.model), cfg))
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            self.get_logger().error(f"cannot activate: {_error_text(exc)}")
            return TransitionCallbackReturn.FAILURE
        with self._session_lock:
            self._session = session
        self._session_stats = self._on_worker(session.memory_stats)
        self._active.set()
        self._state = "active"
        self.get_logger().info(f"active: model loaded in {time.perf_counter() - t0:.1f} s "
                               f"(device {self.tracker_cfg.model.device})")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active.clear()
        self._worker.clear_frames()
        with self._session_lock:  # waits for a step in progress
            self._session = None
        self._session_stats = {}
        gc.collect()
        self._state = "inactive"
        # load_model keeps the weights (about 25 MB) cached per process for the next activation
        self.get_logger().info("inactive: session and its memory released")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._worker.stop("tracker is shutting down")
        for destroy, entity in self._entities:
            destroy(entity)
        self._entities = []
        self._image_sub = None
        self._depth.clear()
        self._newest_depth_ns = None
        self._camera_info = None
        self._state = "unconfigured"
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release()
        return TransitionCallbackReturn.SUCCESS

    def release(self) -> None:
        """Stop the worker and drop the session (shutdown, or the process is ending)."""
        self._active.clear()
        self._worker.stop("tracker is shutting down")
        with self._session_lock:
            self._session = None

    # -- input ------------------------------------------------------------------------------------
    def _on_image(self, msg: Image | CompressedImage) -> None:
        if not self._active.is_set():
            return
        self._stats.dropped += self._worker.put_frame((msg, time.monotonic()), self.node_cfg.queue_size)

    def _on_depth(self, msg: Image) -> None:
        self._depth.append(msg)
        self._newest_depth_ns = stamp_ns(msg)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg

    def _input_error(self, text: str) -> None:
        """Log a bad input (repeats of the same message at most every 5 s) and count it."""
        self._stats.input_errors += 1
        if text != self._stats.last_error:
            self.get_logger().error(text)
        else:
            self.get_logger().error(text, throttle_duration_sec=5.0)
        self._stats.last_error = text

    @staticmethod
    def _to_rgb(msg: Image | CompressedImage) -> np.ndarray:
        if isinstance(msg, CompressedImage):
            return convert.compressed_to_rgb(msg)
        return convert.image_to_rgb(msg)

    # -- worker -----------------------------------------------------------------------------------
    def _on_worker(self, job: Callable[[], T]) -> T:
        """``job()`` run on the worker thread (between frames); its result, or its exception raised here."""
        if not self._worker.running:
            raise ValueError(f"tracker is not configured (lifecycle state '{self._state}')")
        return self._worker.run(job)

    def _on_session(self, use: Callable[[Session], T]) -> T:
        """``use(session)`` on the worker thread, under the session lock; ValueError when not active."""

        def job() -> T:
            with self._session_lock:
                session = self._require_session()
                try:
                    return use(session)
                finally:
                    self._session_stats = session.memory_stats()  # objects added, removed, reset

        return self._on_worker(job)

    def _process_queued(self, frame: tuple[Image | CompressedImage, float]) -> None:
        msg, received = frame
        try:
            self._process(msg, received)
        except Exception as exc:  # noqa: BLE001 - the worker must outlive any frame
            self._input_error(f"frame {msg.header.stamp.sec}.{msg.header.stamp.nanosec:09d} failed: "
                              f"{type(exc).__name__}: {exc}")

    def _process(self, msg: Image | CompressedImage, received: float) -> None:
        try:
            rgb = self._to_rgb(msg)
        except ValueError as exc:
            self._input_error(f"image dropped: {exc}")
            return
        with self._session_lock:
            if self._session is None:
                return
            try:
                result = self._session.step(rgb)
            except ValueError as exc:
                self._input_error(f"image dropped: {exc}")
                return
            finally:
                self._session_stats = self._session.memory_stats()
        self._publish(msg, rgb, result)
        stats = self._stats
        with stats.lock:
            stats.processed += 1
            stats.window_frames += 1
            stats.latencies_ms.append(1e3 * (time.monotonic() - received))
            stats.step_ms.append(result.timings_ms.get("total", 0.0))

    def _centroids(self, msg: Image | CompressedImage, result: FrameResult) -> dict[int, tuple]:
        if not self.node_cfg.use_depth:
            return {}
        info = self._camera_info
        depth = self._depth.nearest(msg, self.node_cfg.depth_tolerance)
        self._note_pairing(msg, info is not None, depth is not None)
        if info is None or depth is None:
            return {}
        try:
            depth_m = convert.depth_to_metres(depth)
            k = Intrinsics.from_k(info.k, info.width or depth.width, info.height or depth.height)
        except ValueError as exc:
            self._input_error(f"depth ignored: {exc}")
            return {}
        found = {}
        for obj in result.objects:
            if obj.box is not None:
                c = centroid_3d(obj.mask, depth_m, k)
                if c is not None:
                    found[obj.id] = c
        return found

    def _note_pairing(self, msg: Image | CompressedImage, has_info: bool, has_depth: bool) -> None:
        """Count the image as paired or not; warn (at most every 5 s) once images have gone without
        depth or camera_info for a while, so that centroids do not silently never appear."""
        reason = "" if has_info and has_depth else miss_reason(
            stamp_ns(msg), has_info, has_depth, self._newest_depth_ns, self.node_cfg.depth_tolerance,
            self.resolve_topic_name("depth"), self.resolve_topic_name("camera_info"))
        warning = self._pairing.frame(reason, time.monotonic())
        if warning is not None:
            self.get_logger().warning(warning, throttle_duration_sec=5.0)

    def _intrinsics(self, width: int, height: int) -> Intrinsics:
        info = self._camera_info
        if info is not None:
            try:
                return Intrinsics.from_k(info.k, info.width or width, info.height or height)
            except ValueError:
                pass  # already reported by _centroids; markers fall back to the stand-in camera
        return outputs.default_intrinsics(width, height)

    def _publish(self, msg: Image | CompressedImage, rgb: np.ndarray, result: FrameResult) -> None:
        header = msg.header
        centroids = self._centroids(msg, result)
        self._pub_tracks.publish(outputs.track_array(header, result, centroids))
        if self._pub_detections is not None:
            self._pub_detections.publish(outputs.detection_array(header, result))
        self._pub_labels.publish(convert.array_to_image(result.label_image, "mono16", header))
        if self.node_cfg.publish_overlay and self._pub_overlay.get_subscription_count() > 0:
            labels = {o.id: o.label for o in result.objects}
            overlay = draw_overlay(rgb, result.label_image, labels)
            self._pub_overlay.publish(convert.array_to_image(overlay, "rgb8", header))
            self._stats.overlays += 1
        if self.node_cfg.publish_markers and self._pub_markers.get_subscription_count() > 0:
            h, w = rgb.shape[:2]
            self._pub_markers.publish(outputs.markers(header, result, centroids, self._intrinsics(w, h)))

    # -- services ---------------------------------------------------------------------------------
    def _require_session(self) -> Session:
        if self._session is None:
            raise ValueError(f"tracker is not active (lifecycle state '{self._state}')")
        return self._session

    def _prompts(self, req: AddObjects.Request, frame_shape: tuple[int, int]) -> list[Prompt]:
        count = len(req.masks) + len(req.boxes) + bool(req.points)
        if count == 0:
            raise ValueError("no masks, boxes or points given")
        if len(req.labels) > count:
            raise ValueError(f"{len(req.labels)} labels for {count} objects (one per mask, then per box, "
                             "then one for the points)")
        labels = list(req.labels) + [""] * (count - len(req.labels))
        prompts = []
        for i, m in enumerate(req.masks):
            try:
                prompts.append(Prompt(mask=convert.mask_from_image(m, frame_shape), label=labels[i]))
            except ValueError as exc:
                raise ValueError(f"mask {i}: {exc}") from None
        for j, b in enumerate(req.boxes):
            try:
                box = (b.x_offset, b.y_offset, b.width, b.height)
                prompts.append(Prompt(box=box, label=labels[len(req.masks) + j]))
            except ValueError as exc:
                raise ValueError(f"box {j}: {exc}") from None
        if req.points:
            positive = list(req.point_positive) or [True] * len(req.points)
            if len(positive) != len(req.points):
                raise ValueError(f"{len(req.point_positive)} point_positive flags for {len(req.points)} points "
                                 "(one per point, or none: all on the object)")
            clicks = [(p.x, p.y, bool(on)) for p, on in zip(req.points, positive, strict=True)]
            prompts.append(Prompt(clicks=clicks, label=labels[-1]))
        return prompts

    def _srv_add_objects(self, req: AddObjects.Request, resp: AddObjects.Response) -> AddObjects.Response:
        try:
            given = req.image.height > 0 or req.image.width > 0
            frame = convert.image_to_rgb(req.image) if given else None

            def add(session: Session) -> tuple[list[int], list[int]]:
                reference = frame if frame is not None else session.last_frame
                if reference is None:
                    raise ValueError("no frame processed yet: publish on `image` first "
                                     "or send the image the prompts refer to")
                prompts = self._prompts(req, reference.shape[:2])
                if req.only_new:
                    return session.add_new_objects(prompts, frame, limit=req.max_new)
                return session.add_objects(prompts, frame), []

            ids, existing = self._on_session(add)
        except (ValueError, KeyError) as exc:
            return self._refuse(resp, "add_objects", exc)
        resp.success, resp.ids, resp.existing = True, [int(i) for i in ids], [int(i) for i in existing]
        resp.message = f"added {len(ids)} object(s): ids {list(resp.ids)}" + (
            f"; already tracked: {sorted({i for i in existing if i})}" if any(existing) else "")
        self.get_logger().info(resp.message)
        return resp

    def _on_clicked_point(self, msg: PointStamped) -> None:
        """A click in the newest processed image starts a track on the object under it."""
        where = f"({msg.point.x:g}, {msg.point.y:g})"
        try:
            ids = self._on_session(lambda session: session.add_objects(
                [Prompt(clicks=[(msg.point.x, msg.point.y, True)])]))
        except (ValueError, KeyError) as exc:
            self.get_logger().warning(f"clicked_point {where} refused: {_error_text(exc)}")
            return
        self.get_logger().info(f"clicked_point {where}: new track {ids[0]}")

    def _srv_remove_objects(self, req: RemoveObjects.Request, resp: RemoveObjects.Response
                            ) -> RemoveObjects.Response:
        try:
            ids = [int(i) for i in req.ids]
            if not ids:
                raise ValueError("no ids given")
            self._on_session(lambda session: session.remove_objects(ids))
        except (ValueError, KeyError) as exc:
            return self._refuse(resp, "remove_objects", exc)
        resp.success, resp.removed, resp.message = True, ids, f"removed ids {ids}"
        self.get_logger().info(resp.message)
        return resp

    def _srv_reset(self, req: Trigger.Request, resp: Trigger.Response) -> Trigger.Response:
        try:

            def reset(session: Session) -> int:
                count = len(session.object_ids)
                session.reset()
                return count

            count = self._on_session(reset)
        except ValueError as exc:
            return self._refuse(resp, "reset", exc)
        resp.success, resp.message = True, f"reset: {count} object(s) and all memory dropped"
        self.get_logger().info(resp.message)
        return resp

    def _refuse(self, resp, service: str, exc: Exception):
        resp.success, resp.message = False, _error_text(exc)
        self.get_logger().warning(f"{service} refused: {resp.message}")
        return resp

    # -- diagnostics ------------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        stats, now = self._stats, time.monotonic()
        with stats.lock:
            lat, step, frames, start = stats.latencies_ms, stats.step_ms, stats.window_frames, stats.window_start
            stats.window_frames, stats.window_start, stats.latencies_ms, stats.step_ms = 0, now, [], []
        memory = self._session_stats  # never the session itself: its lock is held for a whole step
        values = {
            "state": self._state,
            "fps": frames / max(now - start, 1e-6),
            "latency_ms": sum(lat) / len(lat) if lat else 0.0,
            "latency_max_ms": max(lat) if lat else 0.0,
            "step_ms": sum(step) / len(step) if step else 0.0,
            "frames_processed": stats.processed,
            "frames_dropped": stats.dropped,
            "overlays_drawn": stats.overlays,
            "input_errors": stats.input_errors,
            "last_error": stats.last_error,
            "objects": memory.get("objects", 0),
            "memory_tokens": memory.get("tokens", 0),
            "memory_bytes": memory.get("bytes", 0),
            "memory_token_bound": memory.get("token_bound", 0),
            **(self._image_sub.values("image") if self._image_sub is not None else {}),
            **(self._pairing.values() if self.node_cfg.use_depth else {}),
        }
        active = self._active.is_set()
        level = DiagnosticStatus.OK if active else DiagnosticStatus.WARN
        status = outputs.diagnostic_status(f"{self.get_fully_qualified_name()}: tracker", NODE_NAME, values,
                                           level, "tracking" if active else "not active")
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._pub_diag.publish(array)


def main(args: list[str] | None = None) -> None:
    if help_requested(args):
        print(help_text(__doc__, parameter_specs(), TRACKER_CONFIG))
        return
    with ros_main(args):
        node = TrackerNode()
        try:
            if node.node_cfg.autostart:
                if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                    node.get_logger().error("autostart: configure failed; the node stays unconfigured")
                elif node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
                    node.get_logger().error("autostart: activate failed; the node stays inactive")
            rclpy.spin(node)
        finally:
            node.release()
            node.destroy_node()


if __name__ == "__main__":
    main()
