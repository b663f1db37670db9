"""The one description of what launch/vos.launch.py starts.

launch and launch_ros are not installable from PyPI, so the launch file stays thin: it turns the
:class:`NodeSpec` list built here into ``launch_ros.actions.Node`` actions, and the tests start
exactly these processes with :meth:`NodeSpec.command` (the same executable module, parameter files,
remaps and namespace).
"""
from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

from vos_ros.core.config import CONFIG_DIR, SHARE_DIR, TRACKER_CONFIG

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
    remappings: tuple[tuple[str, str], ...] = ()
    arguments: tuple[str, ...] = ()

    def ros_args(self) -> list[str]:
        """``--ros-args`` part of the command line, as launch_ros would pass it."""
        args = ["--ros-args", "-r", f"__node:={self.name}"]
        if self.namespace:
            args += ["-r", f"__ns:={self.namespace}"]
        for path in self.params_files:
            args += ["--params-file", path]
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


def prompt_node_available() -> bool:
    return importlib.util.find_spec("vos_ros.nodes.prompt") is not None


def describe(
    camera: str = "",
    params_file: str | Path = TRACKER_CONFIG,
    namespace: str = "",
    rviz: str | bool = False,
    prompt: str | bool = False,
    prompt_params_file: str | Path = PROMPT_CONFIG,
) -> list[NodeSpec]:
    """Nodes of ``vos.launch.py`` for its launch arguments (strings as launch gives them, or bools).

    camera: image topic remapped onto the nodes' relative ``image`` (empty = no remap);
    params_file: tracker parameter YAML; namespace: pushed onto every node; rviz: start RViz with
    rviz/vos.rviz; prompt: also start the text-prompt node (``vos_prompt``).
    """
    params_file = Path(params_file)
    if not params_file.is_file():
        raise FileNotFoundError(f"params_file '{params_file}' does not exist")
    ns = _namespace(namespace)
    remap = (("image", camera),) if camera else ()
    specs = [
        NodeSpec(PACKAGE, "tracker_node", "vos_tracker", module="vos_ros.nodes.tracker", namespace=ns,
                 params_files=(str(params_file),), remappings=remap),
    ]
    if _is_true(prompt):
        prompt_params = (str(prompt_params_file),) if Path(prompt_params_file).is_file() else ()
        specs.append(NodeSpec(PACKAGE, "prompt_node", "vos_prompt", module="vos_ros.nodes.prompt",
                              namespace=ns, params_files=prompt_params, remappings=remap))
    if _is_true(rviz):
        specs.append(NodeSpec("rviz2", "rviz2", "rviz2", namespace=ns, arguments=("-d", str(RVIZ_CONFIG))))
    return specs
