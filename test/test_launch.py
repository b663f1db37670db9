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
from rcl_interfaces.srv import GetParameters
from rclpy.node import NodeNameNonExistentError
from rclpy.parameter import parameter_value_to_python
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray
from vos_ros.msg import TrackArray

from vos_ros.core.config import TRACKER_CONFIG, load_params, profile_names, profile_path
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


def test_topic_arguments_remap_and_node_arguments_become_inline_parameters() -> None:
    tracker, prompt = describe(image="/cam/color", depth="/cam/depth", camera_info="/cam/info", use_depth="true",
                               device="cuda:1", prompt="true")
    remaps = (("image", "/cam/color"), ("depth", "/cam/depth"), ("camera_info", "/cam/info"))
    assert tracker.remappings == prompt.remappings == remaps
    assert dict(tracker.parameters) == {"node.use_depth": True, "model.device": "cuda:1"}
    assert dict(prompt.parameters) == {"prompt.use_depth": True}
    cmd = tracker.command("py")
    # inline parameters come after the parameter files, so they win; values are YAML (JSON) on the command line
    assert cmd.index("-p") > cmd.index("--params-file")
    assert cmd[cmd.index("-p"):cmd.index("-p") + 4] == ["-p", "node.use_depth:=true", "-p", 'model.device:="cuda:1"']
    # empty = as the parameter files say: nothing inline
    (plain,) = describe(image="/cam/color", use_depth="", compressed="", device="")
    assert plain.parameters == () and "-p" not in plain.command("py")
    (off,) = describe(use_depth="false", compressed=False)
    assert dict(off.parameters) == {"node.use_depth": False, "node.compressed_input": False}


def test_camera_is_the_older_name_of_image_and_compressed_subscribes_image_compressed() -> None:
    assert describe(camera="/a")[0].remappings == describe(image="/a")[0].remappings == (("image", "/a"),)
    assert describe(camera="/a", image="/a")[0].remappings == (("image", "/a"),)
    with pytest.raises(ValueError, match="camera is the older name of image"):
        describe(camera="/a", image="/b")
    tracker, prompt = describe(image="/cam/color", compressed="true", prompt="true")
    assert tracker.remappings == prompt.remappings == (("image", "/cam/color/compressed"),)
    assert dict(tracker.parameters) == {"node.compressed_input": True}
    assert dict(prompt.parameters) == {"prompt.compressed_input": True}
    assert describe(image="/c/compressed", compressed="true")[0].remappings == (("image", "/c/compressed"),)
    assert describe(compressed="true")[0].remappings == (("image", "image/compressed"),)  # relative


def test_profile_is_layered_over_the_defaults_and_under_an_own_params_file(tmp_path: Path) -> None:
    assert profile_names(), "config/profiles has no profile"
    name = profile_names()[0]
    (tracker,) = describe(profile=name)
    assert tracker.params_files == (str(TRACKER_CONFIG), str(profile_path(name)))
    own = write_params(tmp_path / "own.yaml", {"model.input_short_side": 240})
    (tracker,) = describe(profile=name, params_file=own)
    assert tracker.params_files == (str(profile_path(name)), str(own))
    assert describe(profile="")[0].params_files == (str(TRACKER_CONFIG),)
    with pytest.raises(ValueError, match=f"unknown profile 'nope'; known: {', '.join(profile_names())}"):
        describe(profile="nope")


def test_fixed_frame_goes_to_rviz() -> None:
    rviz = describe(rviz="true", fixed_frame="base_link")[-1]
    assert rviz.name == "rviz2" and rviz.arguments == ("-d", str(RVIZ_CONFIG), "-f", "base_link")
    assert describe(rviz="true")[-1].arguments == ("-d", str(RVIZ_CONFIG))
    # the config's own fixed frame is what fixed_frame's default stands for
    assert "Fixed Frame: camera_color_optical_frame" in RVIZ_CONFIG.read_text()


def test_bad_arguments_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="params_file"):
        describe(params_file=tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="not a valid ROS name"):
        describe(namespace="robot-1")
    with pytest.raises(ValueError, match="expected true or false"):
        describe(rviz="yes please")
    with pytest.raises(ValueError, match="use_depth: expected true or false, got 'maybe'"):
        describe(use_depth="maybe")
    with pytest.raises(ValueError, match="model.device must be auto, cpu or cuda"):
        describe(device="tpu")
    with pytest.raises(ValueError, match="only read with use_depth:=true"):
        describe(depth="/cam/depth", use_depth="false")
    with pytest.raises(ValueError, match="not a topic name"):
        describe(image="/cam image")


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


def _wait_for(check, timeout: float = 20.0) -> None:
    """Retry ``check`` (it asserts) until it passes: graph information arrives asynchronously (a node
    not yet in the peer's graph is an error of its own)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except (AssertionError, NodeNameNonExistentError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_depth_compressed_device_and_profile_arguments_reach_the_node(start_node, ros_peer, checkpoint,
                                                                       tmp_path_factory) -> None:
    """Every new argument through a real process: remaps in the graph, parameters read back from the node."""
    profile = "desktop_gpu"  # model.precision bf16 and model.device cuda; device:=cpu must win over the file
    assert load_params(profile_path(profile))["model.precision"] == "bf16"
    params = write_params(tmp_path_factory.mktemp("launch") / "p.yaml", small_frame_params(checkpoint))
    (spec,) = describe(image="/cam2/color", depth="/cam2/depth", camera_info="/cam2/info", use_depth="true",
                       compressed="true", device="cpu", params_file=params, profile=profile, namespace="robot2")
    node = start_node(spec.command())
    node.wait_for_log("active: model loaded", 120)
    peer = ros_peer.node

    def graph_check() -> None:
        subs = dict(peer.get_subscriber_names_and_types_by_node("vos_tracker", "/robot2"))
        assert subs.get("/cam2/color/compressed") == ["sensor_msgs/msg/CompressedImage"], subs
        assert subs.get("/cam2/depth") == ["sensor_msgs/msg/Image"] and "/robot2/image" not in subs
        assert subs.get("/cam2/info") == ["sensor_msgs/msg/CameraInfo"]
        pubs = dict(peer.get_publisher_names_and_types_by_node("vos_tracker", "/robot2"))
        assert pubs.get("/robot2/detections") == ["vision_msgs/msg/Detection2DArray"]

    _wait_for(graph_check)
    names = ["model.device", "model.precision", "node.use_depth", "node.compressed_input", "model.input_short_side"]
    reply = ros_peer.call(GetParameters, "/robot2/vos_tracker/get_parameters", GetParameters.Request(names=names))
    got = dict(zip(names, (parameter_value_to_python(v) for v in reply.values), strict=True))
    assert got == {"model.device": "cpu", "model.precision": "bf16", "node.use_depth": True,
                   "node.compressed_input": True, "model.input_short_side": 96}  # own params_file over the profile

    pub = peer.create_publisher(CompressedImage, "/cam2/color/compressed", 10)
    peer.create_publisher(CameraInfo, "/cam2/info", 10)
    detections = ros_peer.collect(Detection2DArray, "/robot2/detections")
    h = Header(frame_id="cam2")
    h.stamp.sec = 43
    frame = convert.rgb_to_compressed(np.full((160, 240, 3), 90, np.uint8), "jpeg", h)
    got = ros_peer.publish_until(pub, frame, detections, lambda m: m.header.stamp.sec == 43, timeout=60)
    assert got.header.frame_id == "cam2" and got.detections == []  # no prompt yet: nothing detected
    assert node.alive()


def test_docs_name_every_parameter_topic_service_and_launch_argument() -> None:
    from vos_ros.nodes.params import parameter_specs

    text = (REPO_ROOT / "docs" / "ros.md").read_text()
    tree = ast.parse(LAUNCH_FILE.read_text())
    assign = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "ARGUMENTS")
    names = [s.name for s in parameter_specs()] + [k.value for k in assign.value.keys] + [
        "image", "depth", "camera_info", "tracks", "detections", "label_image", "overlay", "markers", "/diagnostics",
        "add_objects", "remove_objects", "reset"]
    missing = [n for n in names if f"`{n}`" not in text]
    assert not missing, f"docs/ros.md does not document {missing}"
