"""The shared frame of the nodes' ``main``: rclpy up, the node's work, a quiet exit on Ctrl-C."""
from __future__ import annotations

import faulthandler
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import rclpy
from rclpy.executors import ExternalShutdownException

from vos_ros.core.allocator import retain_freed_memory


@contextmanager
def ros_main(args: list[str] | None = None) -> Iterator[None]:
    """``rclpy.init``, then the block; rclpy is shut down after it.

    Ctrl-C, an external shutdown, and any error raised once SIGINT has shut the context down (an
    RCLError from a wait in progress) end the block quietly; other errors propagate.
    """
    # `kill -USR1 <pid>` prints every thread's stack to stderr: how a hung shutdown is diagnosed
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    retain_freed_memory()  # fewer page faults per tracked frame (vos_ros/core/allocator.py)
    rclpy.init(args=args)
    try:
        yield
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:  # noqa: BLE001 - re-raised unless the context is already shut down
        if rclpy.ok():
            raise
    finally:
        if rclpy.ok():
            rclpy.shutdown()
