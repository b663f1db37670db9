"""Shared test set-up: ROS isolation, a test-side ROS peer, node processes, a small-frame config.

ROS isolation (shared/docs/ros2_pypi.md section 4): DDS discovery confined to localhost, rcl logs
in a temporary folder, and a ROS domain per test process, plus a fresh one for every module that
starts nodes. Domains are claimed with a lock file, so concurrent pytest runs on one machine (two
engineers, or CI jobs) never share a domain.
"""
from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from vos_ros.nodes.peer import NodeProcess, RosPeer, claim_domain, confine_to_localhost, release_domain

REPO_ROOT = Path(__file__).resolve().parents[1]

# Set before anything calls rclpy.init() or starts a node process (children inherit the environment).
os.environ["ROS_DOMAIN_ID"] = str(claim_domain())
confine_to_localhost(force=True)
os.environ["ROS_LOG_DIR"] = tempfile.mkdtemp(prefix="vos_ros_test_log_")


@pytest.fixture(scope="module")
def ros_domain() -> Iterator[int]:
    """A fresh domain for one module's nodes; node processes started afterwards inherit it."""
    previous = os.environ["ROS_DOMAIN_ID"]
    domain = claim_domain()
    os.environ["ROS_DOMAIN_ID"] = str(domain)
    yield domain
    os.environ["ROS_DOMAIN_ID"] = previous
    release_domain(domain)


@pytest.fixture(scope="module")
def ros_peer(ros_domain: int) -> Iterator[RosPeer]:
    peer = RosPeer(ros_domain)
    yield peer
    peer.close()


@pytest.fixture(scope="module")
def start_node(ros_domain: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., NodeProcess]]:
    """Factory: start_node(cmd) -> NodeProcess; every node still running is stopped after the module."""
    started: list[NodeProcess] = []
    logs = tmp_path_factory.mktemp("node_logs")

    def start(cmd: list[str]) -> NodeProcess:
        node = NodeProcess(cmd, logs / f"node_{len(started)}.log", cwd=REPO_ROOT)
        started.append(node)
        return node

    yield start
    for node in started:
        node.stop()


@pytest.fixture(scope="session")
def checkpoint() -> str:
    """The shipped checkpoint ("" = the configured default, models/vos_lite0.pt), which must exist.

    The node, track and accuracy tests check what the shipped weights do; a missing file is a test
    failure, never a skip or a fall-back to untrained weights.
    """
    require_shipped_checkpoint()
    return ""


def require_shipped_checkpoint() -> Path:
    """models/vos_lite0.pt, or a test failure naming it."""
    from vos_ros.core.weights import DEFAULT_CHECKPOINT

    if not DEFAULT_CHECKPOINT.is_file():
        pytest.fail(f"the shipped checkpoint {DEFAULT_CHECKPOINT} is missing: it is part of the repository "
                    "(restore it with `git checkout -- models/vos_lite0.pt`)", pytrace=False)
    return DEFAULT_CHECKPOINT


def write_params(path: Path, values: dict[str, Any], node: str = "vos_tracker") -> Path:
    """A ROS parameter file overriding ``values`` for ``node`` (the rest from config/vos_tracker.yaml)."""
    import yaml

    path.write_text(yaml.safe_dump({f"/**/{node}": {"ros__parameters": values}}))
    return path


def small_frame_params(checkpoint: str) -> dict[str, Any]:
    """Fast settings for 160x240 test frames on 2 CPU cores."""
    return {"model.checkpoint": checkpoint, "model.input_short_side": 96, "model.threads": 1,
            "node.diagnostics_period": 0.5}


def python_node(module: str, *ros_args: str) -> list[str]:
    return [sys.executable, "-m", module, "--ros-args", *ros_args]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """VOS_ROS_TEST_SHUFFLE=SEED runs the modules in a shuffled order and each module's tests in a
    shuffled order (as pytest-randomly does): every test must pass in any order, not only the file's."""
    seed = os.environ.get("VOS_ROS_TEST_SHUFFLE")
    if not seed:
        return
    import random

    rng = random.Random(seed)
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item)
    order = list(modules.values())
    rng.shuffle(order)
    for module_items in order:
        rng.shuffle(module_items)
    items[:] = [item for module_items in order for item in module_items]
    print(f"\nVOS_ROS_TEST_SHUFFLE={seed}: modules and tests in a shuffled order")
