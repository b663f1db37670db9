"""The one description of what launch/vos.launch.py starts.

launch and launch_ros are not installable from PyPI, so the launch file stays thin: it turns the
:class:`NodeSpec` list built here into ``launch_ros.actions.Node`` actions, and the tests start
exactly these processes with :meth:`NodeSpec.command` (the same executable module, parameter files,
inline parameters, remaps and namespace).
"""
from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vos_ros.core.config import CONFIG_DIR, SHARE_DIR, TRACKER_CONFIG, load_params, profile_path
from vos_ros.nodes.params import build_configs

PACKAGE = "vos_ros"
PROMPT_CONFIG = CONFIG_DIR / "vos_prompt.yaml"
RVIZ_CONFIG = SHARE_DIR / "rviz" / "vos.rviz"


@dataclass(frozen=True)
class NodeSpec:
    """One process of the launch: a ROS executable, and (for our nodes) the module it runs."""

    package: str
    executable: str
    name: str
    module: str | None = None           # python -m target; None for other packages' executables (rviz2)
    namespace: str = ""
    params_files: tuple[str, ...] = ()
    parameters: tuple[tuple[str, Any], ...] = ()   # inline overrides, applied after params_files
    remappings: tuple[tuple[str, str], ...] = ()
    arguments: tuple[str, ...] = ()

    def ros_args(self) -> list[str]:
        """``--ros-args`` part of the command line, as launch_ros would pass it."""
        args = ["--ros-args", "-r", f"__node:={self.name}"]
        if self.namespace:
            args += ["-r", f"__ns:={self.namespace}"]
        for path in self.params_files:
            args += ["--params-file", path]
        for name, value in self.parameters:  # the value is read as YAML: JSON keeps "cuda:0" a string
            args += ["-p", f"{name}:={json.dumps(value)}"]
        for src, dst in self.remappings:
            args += ["-r", f"{src}:={dst}"]
        return args

    def command(self, python: str = sys.executable) -> list[str]:
        """Command line that starts this node from the source tree (what the tests run)."""
        if self.module is None:
            raise ValueError(f"{self.package}/{self.executable} is not a Python module of ours")
        return [python, "-m", self.module, *self.arguments, *self.ros_args()]


def _namespace(ns: str) -> str:
    ns = ns.strip()
    if not ns:
        return ""
    if any(not part.replace("_", "").isalnum() or part[0].isdigit() for part in ns.strip("/").split("/")):
        raise ValueError(f"namespace '{ns}' is not a valid ROS name (letters, digits, '_', '/')")
    return "/" + ns.strip("/")


def _is_true(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    if value.lower() not in ("true", "false", "1", "0"):
        raise ValueError(f"expected true or false, got '{value}'")
    return value.lower() in ("true", "1")


def _optional_bool(value: str | bool, name: str) -> bool | None:
    """None for "" (the parameter files decide), else the boolean."""
    if value == "":
        return None
    try:
        return _is_true(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc} (or empty: as the parameter files say)") from None


def _topic(value: str, name: str) -> str:
    topic = value.strip()
    if any(c.isspace() for c in topic):
        raise ValueError(f"{name}: '{value}' is not a topic name")
    return topic


def prompt_node_available() -> bool:
    return importlib.util.find_spec("vos_ros.nodes.prompt") is not None


def describe(
    image: str = "",
    camera: str = "",
    depth: str = "",
    camera_info: str = "",
    use_depth: str | bool = "",
    compressed: str | bool = "",
    device: str = "",
    params_file: str | Path = TRACKER_CONFIG,
    profile: str = "",
    namespace: str = "",
    rviz: str | bool = False,
    fixed_frame: str = "",
    prompt: str | bool = False,
    prompt_params_file: str | Path = PROMPT_CONFIG,
) -> list[NodeSpec]:
    """Nodes of ``vos.launch.py`` for its launch arguments (strings as launch gives them, or bools).

    image (``camera`` is its older name): image topic remapped onto the nodes' relative ``image``;
    depth, camera_info: topics remapped onto ``depth`` and ``camera_info`` (empty = no remap);
    use_depth, compressed, device: node.use_depth (and prompt.use_depth), node.compressed_input (and
    prompt.compressed_input; ``image`` is then remapped onto ``<image>/compressed``), model.device,
    set inline after the parameter files (empty = as the parameter files say);
    params_file: tracker parameter YAML; profile: config/profiles/<profile>.yaml, layered over the
    defaults and under a params_file of one's own (ValueError naming the known profiles);
    namespace: pushed onto every node; rviz: start RViz with rviz/vos.rviz, its fixed frame set to
    ``fixed_frame`` (empty = the config's); prompt: also start the text-prompt node.
    """
    params_file = Path(params_file)
    if not params_file.is_file():
        raise FileNotFoundError(f"params_file '{params_file}' does not exist")
    image, camera = _topic(image, "image"), _topic(camera, "camera")
    if image and camera and image != camera:
        raise ValueError(f"image '{image}' and camera '{camera}' differ: camera is the older name of image, give one")
    image = image or camera
    depth, camera_info = _topic(depth, "depth"), _topic(camera_info, "camera_info")
    with_depth, with_compressed = _optional_bool(use_depth, "use_depth"), _optional_bool(compressed, "compressed")
    if with_depth is False and (depth or camera_info):
        raise ValueError("depth and camera_info are only read with use_depth:=true (here it is false)")
    if with_compressed and not image.endswith("/compressed"):
        image = f"{image or 'image'}/compressed"  # image_transport's name for the compressed topic
    remap = tuple((name, topic) for name, topic in
                  (("image", image), ("depth", depth), ("camera_info", camera_info)) if topic)

    tracker_params: dict[str, Any] = {"node.use_depth": with_depth, "node.compressed_input": with_compressed,
                                      "model.device": device.strip() or None}
    tracker_params = {k: v for k, v in tracker_params.items() if v is not None}
    build_configs({**load_params(TRACKER_CONFIG), **tracker_params})  # a bad device fails here, with its reason
    params_files = [str(params_file)]
    if profile.strip():  # defaults < profile < params_file, as `vos-ros track --profile` layers them
        is_defaults = params_file.resolve() == TRACKER_CONFIG.resolve()
        params_files.insert(1 if is_defaults else 0, str(profile_path(profile.strip())))
    ns = _namespace(namespace)
    specs = [
        NodeSpec(PACKAGE, "tracker_node", "vos_tracker", module="vos_ros.nodes.tracker", namespace=ns,
                 params_files=tuple(params_files), parameters=tuple(tracker_params.items()), remappings=remap),
    ]
    if _is_true(prompt):
        prompt_params = (str(prompt_params_file),) if Path(prompt_params_file).is_file() else ()
        inline = (("prompt.use_depth", with_depth), ("prompt.compressed_input", with_compressed))
        specs.append(NodeSpec(PACKAGE, "prompt_node", "vos_prompt", module="vos_ros.nodes.prompt",
                              namespace=ns, params_files=prompt_params,
                              parameters=tuple((k, v) for k, v in inline if v is not None), remappings=remap))
    if _is_true(rviz):
        frame = _topic(fixed_frame, "fixed_frame")
        # rviz2 -f sets the fixed frame after loading the config (rviz_common VisualizerApp, Humble on)
        args = ("-d", str(RVIZ_CONFIG)) + (("-f", frame) if frame else ())
        specs.append(NodeSpec("rviz2", "rviz2", "rviz2", namespace=ns, arguments=args))
    return specs
