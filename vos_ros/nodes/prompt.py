"""vos_prompt: ground phrases on the camera image and hand the objects to the tracker.

    ros2 run vos_ros prompt_node --ros-args --params-file config/vos_prompt.yaml -r image:=/camera/image_raw
    python -m vos_ros.nodes.prompt --ros-args ...          (same, from the source tree)

Service `text_prompt` (vos_ros/srv/TextPrompt): grounds the phrase (vos_ros.prompts.ground) on the
newest frame of `image` (the topic the tracker reads; this node keeps the newest frame itself, so
the tracker needs nothing extra; boxes become masks with the tracker's box path, run with the model.*
parameters the running tracker `prompt.tracker_node` reports), then calls the tracker's `add_objects`
with the masks, their labels
and that image, so the tracker places the prompts on the frame they were found in. `replace` first
removes the tracks of earlier text prompts (`remove_objects`). With prompt.use_depth, `depth`
(registered to `image`) adds tabletop proposals. All names are relative (namespaces, remaps).

Each phrase stays active as a concept with its track ids (vos_ros.prompts.concepts). Every
prompt.reground_period seconds the phrases that want more objects ("all the cups", or "the cup" while
it has no live track) are grounded again on the newest frame the tracker has published `tracks`
for; the grounded objects that match none of that frame's visible tracks (one to one, by box
overlap) are added as new tracks.

Threads: a multi-threaded executor; the service and the re-grounding timer share one mutually
exclusive callback group (never both at once), so frames keep arriving while a phrase is grounded,
and the tracker's services are called from inside it without blocking the executor. The models
load and run on one thread of their own (`_ground`): OpenMP keeps a thread team per thread that
runs torch, and more team threads than cores slow every operation (vos_ros.nodes.worker).
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import numpy as np
import rclpy
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rcl_interfaces.srv import GetParameters
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import parameter_value_to_python
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CompressedImage, Image

from vos_ros.core.types import TrackState
from vos_ros.msg import TrackArray
from vos_ros.nodes import convert
from vos_ros.nodes.inputs import InputSubscription, StampBuffer
from vos_ros.nodes.params import ParamSpec, coerce, help_requested, help_text, parameter_specs
from vos_ros.nodes.run import ros_main
from vos_ros.nodes.worker import TorchWorker
from vos_ros.prompts.concepts import UNLIMITED, Concept, TrackView
from vos_ros.prompts.config import GROUP, PROMPT_CONFIG, PromptConfig
from vos_ros.srv import AddObjects, RemoveObjects, TextPrompt

NODE_NAME = "vos_prompt"


class PromptNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._specs = {s.name: s for s in prompt_parameter_specs()}
        for spec in self._specs.values():
            self.declare_parameter(spec.name, spec.default,
                                   ParameterDescriptor(description=spec.description, dynamic_typing=True))
        self.cfg = self._config({})
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self._frame_lock = threading.Lock()
        self._image: Image | CompressedImage | None = None
        self._image_received = 0.0
        self._depth = StampBuffer(10)
        self._recent: deque[Image | CompressedImage] = deque(maxlen=30)  # to pair `tracks` with its image
        self._tracked: tuple[Image | CompressedImage, dict[int, TrackView]] | None = None
        self._regrounded: Image | CompressedImage | None = None  # the frame of the last re-grounding
        self._last_reground = time.monotonic()
        self.concepts: list[Concept] = []
        self._grounder = None
        self._grounder_lock = threading.Lock()

        frames = ReentrantCallbackGroup()
        image_type = CompressedImage if self.cfg.compressed_input else Image
        # reliable while every publisher of the topic is, else best effort (vos_ros.nodes.inputs)
        self._inputs = [InputSubscription(self, image_type, "image", self._on_image, "auto", frames)]
        if self.cfg.use_depth:
            self._inputs.append(InputSubscription(self, Image, "depth", self._depth.append, "auto", frames))
        self.create_subscription(TrackArray, "tracks", self._on_tracks, 10, callback_group=frames,
                                 qos_overriding_options=QoSOverridingOptions.with_default_policies())
        clients = ReentrantCallbackGroup()
        self._add = self.create_client(AddObjects, "add_objects", callback_group=clients)
        self._remove = self.create_client(RemoveObjects, "remove_objects", callback_group=clients)
        grounding = MutuallyExclusiveCallbackGroup()
        self.create_service(TextPrompt, "text_prompt", self._srv_text_prompt, callback_group=grounding)
        self.create_timer(0.25, self._reground, callback_group=grounding)
        # Load the models off the start-up path (the first request should not pay for them), on the
        # one thread that runs them.
        self._torch: TorchWorker = TorchWorker("vos_prompt_torch")
        self._torch.start()
        self._torch.submit(self._get_grounder)
        self.get_logger().info("vos_prompt ready: service text_prompt")

    # -- parameters -------------------------------------------------------------------------------
    def _config(self, changes: dict[str, Any]) -> PromptConfig:
        """The validated configuration with ``changes`` applied; ValueError names the bad parameter."""
        params = {name: coerce(name, changes.get(name, self.get_parameter(name).value), spec.default)
                  for name, spec in self._specs.items()}
        return PromptConfig.from_params(params)

    def _on_set_parameters(self, params: list[rclpy.Parameter]) -> SetParametersResult:
        try:
            cfg = self._config({p.name: p.value for p in params})
        except (ValueError, KeyError) as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        topics = [p.name for p in params if p.name.split(".")[-1] in ("compressed_input", "use_depth")]
        if topics:
            self.get_logger().info(f"{', '.join(topics)} take effect when the node restarts")
        with self._grounder_lock:
            if cfg.segmenter != self.cfg.segmenter:
                self._grounder = None  # rebuilt with the new segmenter at the next request
            self.cfg = cfg
        return SetParametersResult(successful=True)

    # -- inputs -----------------------------------------------------------------------------------
    def _on_image(self, msg: Image | CompressedImage) -> None:
        with self._frame_lock:
            self._image, self._image_received = msg, time.monotonic()
            self._recent.append(msg)

    def _on_tracks(self, msg: TrackArray) -> None:
        """Keep the newest frame the tracker reported on, with what it reported (tracks carry the
        image's header; frames the tracker dropped have none)."""
        with self._frame_lock:
            image = next((m for m in reversed(self._recent) if m.header.stamp == msg.header.stamp), None)
            if image is not None:
                self._tracked = (image, {t.id: TrackView(TrackState(t.state), (
                    t.bbox.x_offset, t.bbox.y_offset, t.bbox.width, t.bbox.height)) for t in msg.tracks})

    def _get_grounder(self):  # -> vos_ros.prompts.ground.Grounder (imported lazily: torch, models)
        with self._grounder_lock:
            if self._grounder is None:
                from vos_ros.prompts.box_masks import make_segmenter
                from vos_ros.prompts.ground import Grounder
                from vos_ros.prompts.vocabulary import coco_vocabulary

                params = self._tracker_box_parameters() if self.cfg.segmenter != "grabcut" else {}
                self._grounder = Grounder(segment=make_segmenter(self.cfg.segmenter, params),
                                          min_score=self.cfg.min_score)
                coco_vocabulary().similarity("cup")  # imports the text encoder now, not in a request
            return self._grounder

    def _tracker_box_parameters(self) -> dict[str, Any]:
        """The running tracker's BOX_PATH_PARAMETERS, so grounded boxes become masks as the tracker would
        make them; {} (config/vos_tracker.yaml's values, with a warning) when it does not answer."""
        from vos_ros.prompts.box_masks import BOX_PATH_PARAMETERS

        client = self.create_client(GetParameters, f"{self.cfg.tracker_node}/get_parameters")
        try:
            answer = self._call(client, GetParameters.Request(names=list(BOX_PATH_PARAMETERS)))
        except ValueError as exc:
            self.get_logger().warning(f"box path runs with config/vos_tracker.yaml's model parameters: {exc}")
            return {}
        finally:
            self.destroy_client(client)
        params = {name: parameter_value_to_python(value)
                  for name, value in zip(BOX_PATH_PARAMETERS, answer.values, strict=False) if value.type}
        self.get_logger().info(f"box path runs with the tracker's {params}")
        return params

    def release(self) -> None:
        """Drop queued grounding work (the process is ending); a running one finishes on its own."""
        self._torch.stop("vos_prompt is shutting down", wait=False)

    def _ground(self, rgb: np.ndarray, text: str, **options):  # -> vos_ros.prompts.ground.GroundingResult
        """The grounder on ``rgb``, run on the models' thread."""
        return self._torch.run(lambda: self._get_grounder()(rgb, text, **options))

    def _frame(self) -> tuple[Image | CompressedImage, np.ndarray, np.ndarray | None]:
        with self._frame_lock:
            msg, received = self._image, self._image_received
        if msg is None:
            raise ValueError("no image received on `image` yet")
        age = time.monotonic() - received
        if self.cfg.max_image_age > 0 and age > self.cfg.max_image_age:
            raise ValueError(f"newest image is {age:.1f} s old (prompt.max_image_age {self.cfg.max_image_age} s)")
        rgb, depth = self._decode(msg)
        return msg, rgb, depth

    def _decode(self, msg: Image | CompressedImage) -> tuple[np.ndarray, np.ndarray | None]:
        """-> RGB of ``msg`` and the depth in metres registered to it (None when none fits)."""
        rgb = convert.compressed_to_rgb(msg) if isinstance(msg, CompressedImage) else convert.image_to_rgb(msg)
        depth = None
        best = self._depth.nearest(msg, self.cfg.depth_tolerance) if self.cfg.use_depth else None
        if best is not None:
            depth = convert.depth_to_metres(best)
            if depth.shape != rgb.shape[:2]:
                self.get_logger().warning(f"depth {depth.shape} is not registered to the image "
                                          f"{rgb.shape[:2]}: ignored")
                depth = None
        return rgb, depth

    # -- tracker calls ----------------------------------------------------------------------------
    def _call(self, client, request):
        if not client.wait_for_service(timeout_sec=self.cfg.tracker_timeout):
            raise ValueError(f"tracker service {client.srv_name} not available")
        done = threading.Event()
        future = client.call_async(request)
        future.add_done_callback(lambda _: done.set())
        if not done.wait(self.cfg.tracker_timeout):
            future.cancel()
            raise ValueError(f"tracker service {client.srv_name} did not answer in {self.cfg.tracker_timeout} s")
        return future.result()

    def _remove_earlier(self) -> list[int]:
        """Remove the tracks of earlier text prompts; ids the tracker no longer knows are skipped."""
        removed: list[int] = []
        for concept in self.concepts:
            for track_id in concept.ids:  # one by one: the tracker refuses a request naming unknown ids
                resp = self._call(self._remove, RemoveObjects.Request(ids=[track_id]))
                if resp.success:
                    removed.append(track_id)
        self.concepts = []
        return removed

    def _add_to_tracker(self, msg: Image | CompressedImage, rgb: np.ndarray, objects: list, max_new: int = -1
                        ) -> tuple[list[int], list]:
        """Hand grounded objects (found on ``msg``) to the tracker; -> their new track ids and the objects
        they are. With ``max_new`` >= 0 (0 = no cap) the tracker adds only objects that are no visible
        track, at most ``max_new`` (emergence: it knows where each track reliably is)."""
        if not objects:
            return [], []
        add = AddObjects.Request(image=msg if isinstance(msg, Image) else convert.array_to_image(
            rgb, "rgb8", msg.header), only_new=max_new >= 0, max_new=max(max_new, 0))
        add.masks = [convert.array_to_image(o.mask.astype(np.uint8) * 255, "mono8", msg.header) for o in objects]
        add.labels = [o.label for o in objects]
        answer = self._call(self._add, add)
        if not answer.success:
            raise ValueError(f"tracker refused the objects: {answer.message}")
        added = [o for o, e in zip(objects, answer.existing, strict=True) if not e] if add.only_new else objects
        return [int(i) for i in answer.ids], added[:len(answer.ids)]

    # -- re-grounding -----------------------------------------------------------------------------
    def _reground(self) -> None:
        """Ground the phrases that want more objects on the newest tracked frame (timer callback)."""
        with self._frame_lock:
            tracked = self._tracked
        period = self.cfg.reground_period
        if (period <= 0 or tracked is None or time.monotonic() - self._last_reground < period
                or tracked[0] is self._regrounded):
            return
        msg, tracks = tracked
        for concept in self.concepts:
            concept.observe(tracks)
        wanting = [(c, c.missing(tracks)) for c in self.concepts]
        wanting = [(c, n) for c, n in wanting if n > 0]
        if not wanting:
            return
        self._last_reground, self._regrounded = time.monotonic(), msg
        try:
            rgb, depth = self._decode(msg)
            for concept, missing in wanting:
                result = self._ground(rgb, concept.text, depth=depth, min_score=concept.min_score)
                ids, found = self._add_to_tracker(msg, rgb, result.objects,
                                                  max_new=0 if missing >= UNLIMITED else missing)
                concept.ids += ids
                for i, o in zip(ids, found, strict=True):
                    self.get_logger().info(f"{concept.text!r}: new track {i} {o.label} {o.score:.2f}")
        except Exception as exc:  # noqa: BLE001 - a failed round must not take the node down
            self.get_logger().warning(f"re-grounding failed: {type(exc).__name__}: {exc}")

    # -- service ----------------------------------------------------------------------------------
    def _srv_text_prompt(self, req: TextPrompt.Request, resp: TextPrompt.Response) -> TextPrompt.Response:
        try:
            if not req.text.strip():
                raise ValueError("text is empty")
            if req.min_score < 0 or req.min_score > 1:
                raise ValueError(f"min_score must be in [0, 1] (0 = node default), got {req.min_score}")
            msg, rgb, depth = self._frame()
            max_instances = int(req.max_instances) or self.cfg.max_instances
            min_score = float(req.min_score) or self.cfg.min_score
            result = self._ground(rgb, req.text, depth=depth, min_score=min_score, max_instances=max_instances)
            removed = self._remove_earlier() if req.replace else []
            ids, _ = self._add_to_tracker(msg, rgb, result.objects)
            self.concepts.append(Concept(req.text, ids, max_instances, min_score))
            self._last_reground = time.monotonic()  # the next round waits a full period
        except ValueError as exc:
            resp.success, resp.message = False, str(exc)
            self.get_logger().warning(f"text_prompt {req.text!r} refused: {resp.message}")
            return resp
        except Exception as exc:  # noqa: BLE001 - a failing request must not take the node down
            resp.success, resp.message = False, f"grounding failed: {type(exc).__name__}: {exc}"
            self.get_logger().error(f"text_prompt {req.text!r}: {resp.message}")
            return resp
        resp.success = True
        resp.ids = ids
        resp.labels = [o.label for o in result.objects]
        resp.scores = [float(o.score) for o in result.objects]
        found = ", ".join(f"{i} {o.label} {o.score:.2f}" for i, o in zip(ids, result.objects, strict=True))
        resp.message = (f"{req.text!r}: {found}" if ids else f"{req.text!r}: nothing matches") + (
            f" (removed earlier ids {removed})" if removed else "")
        self.get_logger().info(resp.message)
        return resp


def prompt_parameter_specs() -> list[ParamSpec]:
    """The node's parameters (config/vos_prompt.yaml, described by PromptConfig's fields)."""
    return parameter_specs(PROMPT_CONFIG, {GROUP: PromptConfig})


def main(args: list[str] | None = None) -> None:
    if help_requested(args):
        print(help_text(__doc__, prompt_parameter_specs(), PROMPT_CONFIG))
        return
    with ros_main(args):
        node = PromptNode()
        executor = MultiThreadedExecutor(num_threads=4)
        try:
            executor.add_node(node)
            executor.spin()
        finally:
            executor.shutdown()
            node.release()
            node.destroy_node()


if __name__ == "__main__":
    main()
