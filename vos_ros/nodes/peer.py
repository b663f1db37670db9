"""Talking to node processes: start and stop them, and a client node (own rclpy context) spun on a thread.

Used by the demo (player + recorder) and the tests, which talk to node processes over DDS.
"""
from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

_DOMAIN_LOCKS: dict[int, Any] = {}


def claim_domain() -> int:
    """A ROS domain id (1..101) no other process of this machine holds; held until released."""
    start = os.getpid() % 101
    for k in range(101):
        domain = (start + k) % 101 + 1
        if domain in _DOMAIN_LOCKS:
            continue
        f = open(Path(tempfile.gettempdir()) / f"vos_ros_domain_{domain}.lock", "w")  # noqa: SIM115
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            continue
        _DOMAIN_LOCKS[domain] = f
        return domain
    raise RuntimeError("all ROS domains 1..101 are taken by other processes")


def release_domain(domain: int) -> None:
    f = _DOMAIN_LOCKS.pop(domain, None)
    if f is not None:
        f.close()



def confine_to_localhost(force: bool = False) -> None:
    """Keep DDS discovery on this machine (Iron+: ROS_AUTOMATIC_DISCOVERY_RANGE; Humble: ROS_LOCALHOST_ONLY).

    Without ``force`` an explicit choice of the caller's environment is kept.
    """
    if os.environ.get("ROS_DISTRO") == "humble":
        if force or "ROS_LOCALHOST_ONLY" not in os.environ:
            os.environ["ROS_LOCALHOST_ONLY"] = "1"
        return
    if force:
        os.environ.pop("ROS_LOCALHOST_ONLY", None)
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    else:
        os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


class RosPeer:
    """A client node in its own rclpy context (own domain), spun on a background thread."""

    def __init__(self, domain: int, name: str = "vos_peer") -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            while self.context.ok():
                self.executor.spin_once(timeout_sec=0.05)
        except (ExternalShutdownException, RuntimeError):
            pass

    def collect(self, msg_type: type, topic: str, qos: Any = 10) -> Collector:
        c = Collector()
        c.subscription = self.node.create_subscription(msg_type, topic, c.append, qos)
        return c

    def call(self, srv_type: type, name: str, request: Any, timeout: float = 60.0) -> Any:
        client = self.node.create_client(srv_type, name)
        try:
            if not client.wait_for_service(timeout_sec=timeout):
                raise TimeoutError(f"service {name} did not appear within {timeout} s")
            future = client.call_async(request)
            done = threading.Event()
            future.add_done_callback(lambda _: done.set())
            if not done.wait(timeout):
                raise TimeoutError(f"service {name} did not answer within {timeout} s")
            return future.result()
        finally:
            self.node.destroy_client(client)

    @staticmethod
    def publish_until(publisher: Any, msg: Any, reply: Collector, predicate: Callable[[Any], bool],
                      timeout: float = 60.0, every: float = 2.0) -> Any:
        """Publish ``msg`` every ``every`` s until ``reply`` has a message satisfying ``predicate``.

        A new subscription may match on our side before the other side has matched us, and a
        best-effort subscriber never gets what was sent before; repeating covers that window.
        """
        deadline = time.monotonic() + timeout
        while True:
            publisher.publish(msg)
            try:
                return reply.wait_for(predicate, min(every, max(0.0, deadline - time.monotonic())))
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"no reply to {type(msg).__name__} within {timeout} s") from None

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        self.context.try_shutdown()
        self._thread.join(timeout=5)


class Collector:
    """Messages of one subscription, with waiting helpers."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.received: list[float] = []   # time.monotonic() of each message's arrival
        self._cv = threading.Condition()
        self.subscription = None

    def append(self, msg: Any) -> None:
        with self._cv:
            self.messages.append(msg)
            self.received.append(time.monotonic())
            self._cv.notify_all()

    def wait_for(self, predicate: Callable[[Any], bool], timeout: float = 30.0) -> Any:
        """First message (old or new) satisfying ``predicate``; TimeoutError naming what was seen."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for m in self.messages:
                    if predicate(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching message within {timeout} s ({len(self.messages)} seen)")
                self._cv.wait(left)

    def clear(self) -> None:
        with self._cv:
            self.messages.clear()
            self.received.clear()


class NodeProcess:
    """A node started as its own process (environment inherited), its output kept in a log file."""

    def __init__(self, cmd: list[str], log_path: Path, cwd: Path | None = None) -> None:
        self.cmd = cmd
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, PYTHONUNBUFFERED="1"))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_for_log(self, text: str, timeout: float = 60.0, fail_on: str | None = None) -> None:
        """Wait until the node logs ``text``; RuntimeError if it exits or logs ``fail_on`` first."""
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if fail_on is not None and fail_on in self.log():
                raise RuntimeError(f"the node logged '{fail_on}':\n{self.log()}")
            if not self.alive():
                raise RuntimeError(f"{self.cmd} exited ({self.proc.returncode}) before logging '{text}':\n"
                                   + self.log())
            if time.monotonic() > deadline:
                raise TimeoutError(f"'{text}' not logged within {timeout} s:\n{self.log()}")
            time.sleep(0.1)

    def stop(self) -> int:
        """SIGINT, and SIGKILL when the node has not exited 15 s later (returns -9 then).

        Before the kill, the node's threads dump their stacks into its log (SIGUSR1, see
        ``nodes.run.ros_main``) and the log's end is printed, so a hung shutdown can be read.
        """
        if self.alive():
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGUSR1)
                time.sleep(1.0)
                self.proc.kill()
                self.proc.wait()
                print(f"{self.cmd} did not exit 15 s after SIGINT; end of its log:\n{self.log()[-6000:]}")
        self._log.close()
        return self.proc.returncode
