"""launch/vos.launch.py and the description it is built from.

launch/launch_ros are not on PyPI: here the processes the description names are started exactly as
described (module, parameter files, remaps, namespace) and checked over DDS; the launch file itself
is loaded only where launch_ros is importable, and otherwise checked against the description.
"""
from __future__ import annotations

import ast
import importlib.util
import inspect
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT, small_frame_params, write_params
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vos_ros.msg import TrackArray

from vos_ros.core.config import TRACKER_CONFIG
from vos_ros.nodes import convert
from vos_ros.nodes.launch_description import RVIZ_CONFIG, describe, prompt_node_available

LAUNCH_FILE = REPO_ROOT / "launch" / "vos.launch.py"


def test_default_description_is_one_tracker_with_the_default_config() -> None:
    (spec,) = describe()
    assert (spec.package, spec.executable, spec.name, spec.module) == (
        "vos_ros", "tracker_node", "vos_tracker", "vos_ros.nodes.tracker")
    assert spec.params_files == (str(TRACKER_CONFIG),) and spec.remappings == () and spec.namespace == ""
    assert spec.command("py") == ["py", "-m", "vos_ros.nodes.tracker", "--ros-args", "-r", "__node:=vos_tracker",
                                  "--params-file", str(TRACKER_CONFIG)]


def test_arguments_shape_the_description(tmp_path: Path) -> None:
    params = write_params(tmp_path / "p.yaml", {"model.input_short_side": 240})
    specs = describe(camera="/cam/image_raw", params_file=params, namespace="robot1/", rviz="true", prompt="true")
    by_name = {s.name: s for s in specs}
    assert set(by_name) == {"vos_tracker", "vos_prompt", "rviz2"}
    tracker, prompt, rviz = by_name["vos_tracker"], by_name["vos_prompt"], by_name["rviz2"]
    assert tracker.namespace == prompt.namespace == rviz.namespace == "/robot1"
    assert tracker.remappings == prompt.remappings == (("image", "/cam/image_raw"),)
    assert tracker.params_files == (str(params),)
    assert (prompt.executable, prompt.module) == ("prompt_node", "vos_ros.nodes.prompt")
    assert rviz.arguments == ("-d", str(RVIZ_CONFIG)) and RVIZ_CONFIG.is_file() and rviz.module is None
    assert "-r" in tracker.command() and "image:=/cam/image_raw" in tracker.command()
    assert "__ns:=/robot1" in tracker.command()
    with pytest.raises(ValueError, match="not a Python module of ours"):
        rviz.command()
    assert [s.name for s in describe(rviz="false", prompt=False)] == ["vos_tracker"]


def test_bad_arguments_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="params_file"):
        describe(params_file=tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="not a valid ROS name"):
        describe(namespace="robot-1")
    with pytest.raises(ValueError, match="expected true or false"):
        describe(rviz="yes please")


def test_launch_file_declares_exactly_the_description_arguments() -> None:
    """Checked from the source, so it also runs where launch is not installed."""
    tree = ast.parse(LAUNCH_FILE.read_text())
    assign = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "ARGUMENTS")
    declared = {k.value for k in assign.value.keys}
    described = set(inspect.signature(describe).parameters) - {"prompt_params_file"}
    assert declared == described
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert {"describe", "Node", "DeclareLaunchArgument", "OpaqueFunction", "LaunchDescription"} <= calls


def test_launch_file_loads_where_launch_ros_is_installed() -> None:
    pytest.importorskip("launch_ros", reason="launch_ros is not installable from PyPI")
    spec = importlib.util.spec_from_file_location("vos_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    names = {a.name for a in description.entities if type(a).__name__ == "DeclareLaunchArgument"}
    assert names == set(module.ARGUMENTS)


def test_described_processes_run_with_their_remaps_and_namespace(start_node, ros_peer, checkpoint,
                                                                 tmp_path_factory) -> None:
    params = write_params(tmp_path_factory.mktemp("launch") / "p.yaml", small_frame_params(checkpoint))
    specs = describe(camera="/cam/image_raw", params_file=params, namespace="robot1",
                     prompt=prompt_node_available())
    nodes = [start_node(s.command()) for s in specs if s.module is not None]
    assert len(nodes) == len(specs)
    nodes[0].wait_for_log("active: model loaded", 120)

    peer = ros_peer.node
    deadline = time.monotonic() + 30
    expected = {("vos_tracker", "/robot1")} | ({("vos_prompt", "/robot1")} if len(specs) > 1 else set())
    while not expected <= set(peer.get_node_names_and_namespaces()):
        assert time.monotonic() < deadline, f"nodes seen: {peer.get_node_names_and_namespaces()}"
        time.sleep(0.2)
    def graph_check() -> None:
        subs = dict(peer.get_subscriber_names_and_types_by_node("vos_tracker", "/robot1"))
        pubs = dict(peer.get_publisher_names_and_types_by_node("vos_tracker", "/robot1"))
        assert subs.get("/cam/image_raw") == ["sensor_msgs/msg/Image"] and "/robot1/image" not in subs
        assert {"/robot1/tracks", "/robot1/label_image", "/robot1/overlay", "/robot1/markers"} <= set(pubs)
        services = dict(peer.get_service_names_and_types_by_node("vos_tracker", "/robot1"))
        assert {"/robot1/add_objects", "/robot1/remove_objects", "/robot1/reset"} <= set(services)
        if len(specs) > 1:  # the text-prompt node reads the same remapped camera and serves text_prompt
            assert "/cam/image_raw" in dict(peer.get_subscriber_names_and_types_by_node("vos_prompt", "/robot1"))
            assert "/robot1/text_prompt" in dict(peer.get_service_names_and_types_by_node("vos_prompt", "/robot1"))

    deadline = time.monotonic() + 20
    while True:  # graph information arrives asynchronously
        try:
            graph_check()
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)

    pub = peer.create_publisher(Image, "/cam/image_raw", 10)
    tracks = ros_peer.collect(TrackArray, "/robot1/tracks")
    h = Header(frame_id="cam")
    h.stamp.sec = 42
    image = convert.array_to_image(np.full((160, 240, 3), 128, np.uint8), "rgb8", h)
    got = ros_peer.publish_until(pub, image, tracks, lambda m: m.header.stamp.sec == 42, timeout=60)
    assert got.header.frame_id == "cam"
    assert all(n.alive() for n in nodes)


def test_docs_name_every_parameter_topic_service_and_launch_argument() -> None:
    from vos_ros.nodes.params import parameter_specs

    text = (REPO_ROOT / "docs" / "ros.md").read_text()
    tree = ast.parse(LAUNCH_FILE.read_text())
    assign = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "ARGUMENTS")
    names = [s.name for s in parameter_specs()] + [k.value for k in assign.value.keys] + [
        "image", "depth", "camera_info", "tracks", "label_image", "overlay", "markers", "/diagnostics",
        "add_objects", "remove_objects", "reset"]
    missing = [n for n in names if f"`{n}`" not in text]
    assert not missing, f"docs/ros.md does not document {missing}"
