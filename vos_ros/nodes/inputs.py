"""The nodes' inputs: subscriptions whose reliability follows the publishers, a watch for lost
frames, and pairing of depth frames with images by stamp. Used by vos_tracker and vos_prompt.

Reliability (``auto``, the default): a best-effort subscription matches every publisher, but a
large frame (an 854x480 rgb8 Image is 1.2 MB) delivered best effort is lost whole when one of its
fragments is; a reliable subscription is lossless but does not match best-effort publishers at
all. ``auto`` looks at the topic's publishers and subscribes reliable while every known publisher
is reliable, best effort otherwise (none known: best effort, which matches whoever comes first),
and checks again every second; when the answer changes, the new subscription is made before the
old one is destroyed (a frame both deliver is passed on once), so no frame is lost to the switch.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSPolicyKind,
    QoSProfile,
    ReliabilityPolicy,
)
from rclpy.qos_overriding_options import QoSOverridingOptions

RELIABILITIES = ("auto", "reliable", "best_effort")
CHECK_PERIOD_S = 1.0      # how often ``auto`` looks at the publishers and the watch at the silence
STALL_AFTER_S = 3.0       # publishers known and nothing arrived for this long: warned once
RETIRE_AFTER_S = 3.0      # an old subscription is destroyed at the latest this long after a switch


def stamp_ns(msg: Any) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def input_qos(reliable: bool, depth: int = 5) -> QoSProfile:
    """Keep last ``depth``, volatile; reliable or best effort (the sensor-data profile)."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, durability=DurabilityPolicy.VOLATILE,
                      reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT)


def publisher_overrides() -> QoSOverridingOptions:
    """History, depth and reliability of a publisher, overridable from a parameter file
    (``qos_overrides./tracks.publisher.depth: 20``)."""
    return QoSOverridingOptions.with_default_policies()


def subscription_overrides() -> QoSOverridingOptions:
    """History and depth of an input subscription overridable; its reliability is the node's choice
    (``auto`` changes it at run time, which a declared read-only parameter would pin)."""
    return QoSOverridingOptions([QoSPolicyKind.HISTORY, QoSPolicyKind.DEPTH])


class StampBuffer:
    """The newest messages of a topic, shared between threads; the one nearest an image's stamp."""

    def __init__(self, size: int = 10) -> None:
        self._messages: deque = deque(maxlen=size)
        self._lock = threading.Lock()

    def append(self, msg: Any) -> None:
        with self._lock:
            self._messages.append(msg)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()

    def nearest(self, msg: Any, tolerance_s: float) -> Any | None:
        """The kept message whose stamp is nearest ``msg``'s, if within ``tolerance_s`` (else None)."""
        with self._lock:
            kept = list(self._messages)  # a snapshot: the executor appends while a worker reads
        if not kept:
            return None
        stamp = stamp_ns(msg)
        best = min(kept, key=lambda m: abs(stamp_ns(m) - stamp))
        return best if abs(stamp_ns(best) - stamp) <= tolerance_s * 1e9 else None


class InputWatch:
    """Arrivals on one topic: gaps in the header stamps and silence while publishers exist (no ROS).

    A gap is a stamp step over ``gap_factor`` (2.5) times the typical step (the median of the last
    ``history`` steps, once ``min_steps`` are known); it counts as ``round(step / typical) - 1``
    frames missed. A stamp going backwards (a restarted camera, a replayed bag) starts afresh.
    """

    def __init__(self, history: int = 16, min_steps: int = 4, gap_factor: float = 2.5) -> None:
        self._steps: deque[int] = deque(maxlen=history)
        self._min_steps, self._gap_factor = min_steps, gap_factor
        self._last_stamp: int | None = None
        self.gaps = 0
        self.missed = 0
        self.received = 0
        self.last_arrival: float | None = None

    def frame(self, stamp: int, now: float) -> int:
        """Record one message (stamp in ns); -> frames missed just before it (0: none seen)."""
        self.received += 1
        self.last_arrival = now
        last, self._last_stamp = self._last_stamp, stamp
        if last is None or stamp == last:
            return 0
        step = stamp - last
        if step < 0:
            self._steps.clear()
            return 0
        missed = 0
        if len(self._steps) >= self._min_steps:
            typical = sorted(self._steps)[len(self._steps) // 2]
            if step > self._gap_factor * typical:
                missed = max(1, round(step / typical) - 1)
                self.gaps += 1
                self.missed += missed
        if not missed:  # a gap's step is not a typical one
            self._steps.append(step)
        return missed


class InputSubscription:
    """A subscription to ``topic`` whose reliability follows ``reliability`` (auto, reliable,
    best_effort; see the module doc), with an InputWatch whose findings are logged (a stall once
    per stall, gaps at most every 10 s) and returned by ``values()`` for /diagnostics."""

    def __init__(self, node: Node, msg_type: type, topic: str, callback: Callable[[Any], None],
                 reliability: str = "auto", callback_group: Any = None, depth: int = 5) -> None:
        if reliability not in RELIABILITIES:
            raise ValueError(f"reliability must be one of {', '.join(RELIABILITIES)}, got '{reliability}'")
        self._node, self._type, self._topic, self._callback = node, msg_type, topic, callback
        self._mode, self._group, self._depth = reliability, callback_group, depth
        self._lock = threading.Lock()
        self.watch = InputWatch()
        self.publishers = 0
        self.reliable: bool | None = None
        self._sub: Any = None
        self._old: Any = None              # the subscription being replaced, until the new one matched
        self._retire_at = 0.0
        self._recent: deque[tuple[int, str]] = deque(maxlen=8)  # frames passed on while two subscriptions live
        self._quiet_since = time.monotonic()  # start of the current wait for a message
        self._stall_warned = False
        self.check()
        self._timer = node.create_timer(CHECK_PERIOD_S, self.check)  # the node's default group: one at a time

    @property
    def name(self) -> str:
        return self._sub.topic_name if self._sub is not None else self._topic

    def _want_reliable(self) -> bool:
        infos = self._node.get_publishers_info_by_topic(self._topic)
        with self._lock:
            if infos and not self.publishers:
                self._quiet_since = time.monotonic()  # the first publisher: the wait starts now
            self.publishers = len(infos)
        if self._mode != "auto":
            return self._mode == "reliable"
        return bool(infos) and all(i.qos_profile.reliability == ReliabilityPolicy.RELIABLE for i in infos)

    def check(self) -> None:
        """Follow the publishers' reliability (``auto``) and report a stall (timer, every second)."""
        reliable = self._want_reliable()
        now = time.monotonic()
        if self._old is not None and (self._sub.get_publisher_count() >= self.publishers or now >= self._retire_at):
            old, self._old = self._old, None
            self._node.destroy_subscription(old)
        if reliable != self.reliable:
            new = self._node.create_subscription(
                self._type, self._topic, self._on_message, input_qos(reliable, self._depth),
                callback_group=self._group, qos_overriding_options=subscription_overrides())
            with self._lock:
                if self._old is not None:  # switched again before the last switch completed
                    self._node.destroy_subscription(self._old)
                self._old, self._sub, self._retire_at = self._sub, new, now + RETIRE_AFTER_S
            previous, self.reliable = self.reliable, reliable
            if previous is not None or self._mode == "auto":
                kind = "reliable" if reliable else "best effort"
                self._node.get_logger().info(
                    f"{self.name}: subscribed {kind} ({self._mode}; {self.publishers} publisher(s) known)")
        self._check_silence(now)

    def _check_silence(self, now: float) -> None:
        with self._lock:
            silent = now - max(self._quiet_since, self.watch.last_arrival or 0.0)
            stalled = self.publishers > 0 and silent >= STALL_AFTER_S
            warn = stalled and not self._stall_warned
            self._stall_warned = self._stall_warned or stalled
        if warn:
            kind = "reliable" if self.reliable else "best effort"
            self._node.get_logger().warning(
                f"{self.name}: {self.publishers} publisher(s) but no message for {silent:.0f} s "
                f"(subscribed {kind}): a publisher that is idle, or messages lost on the way "
                "(large frames sent best effort; see docs/ros.md, QoS)")

    def _on_message(self, msg: Any) -> None:
        now = time.monotonic()
        with self._lock:
            if self._old is not None:  # two subscriptions live: pass each frame on once
                key = (stamp_ns(msg), msg.header.frame_id)
                if key in self._recent:
                    return
                self._recent.append(key)
            missed = self.watch.frame(stamp_ns(msg), now)
            self._stall_warned = False
        if missed:
            self._node.get_logger().warning(
                f"{self.name}: about {missed} frame(s) missing before stamp {msg.header.stamp.sec}."
                f"{msg.header.stamp.nanosec:09d} ({self.watch.gaps} gap(s) so far; lost on the way "
                "or not sent, see docs/ros.md, QoS)", throttle_duration_sec=10.0)
        self._callback(msg)

    def values(self, prefix: str) -> dict[str, Any]:
        """Diagnostics: ``<prefix>_publishers``, ``<prefix>_reliability``, input gaps, the silence."""
        with self._lock:
            silent = time.monotonic() - (self.watch.last_arrival or self._quiet_since)
            return {
                f"{prefix}_publishers": self.publishers,
                f"{prefix}_reliability": "reliable" if self.reliable else "best_effort",
                "input_gaps": self.watch.gaps,
                "input_frames_missed": self.watch.missed,
                f"seconds_since_last_{prefix}": round(silent, 2),
            }

    def destroy(self) -> None:
        self._node.destroy_timer(self._timer)
        for sub in (self._sub, self._old):
            if sub is not None:
                self._node.destroy_subscription(sub)
        self._sub = self._old = None
