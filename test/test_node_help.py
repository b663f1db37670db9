"""`--help` of the two nodes: usage and every parameter with its default, without starting ROS."""
from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO_ROOT

from vos_ros.nodes.params import help_requested, help_text, parameter_specs


def test_help_is_asked_only_among_the_nodes_own_arguments() -> None:
    assert help_requested(["prog", "--help"]) and help_requested(["prog", "-h", "--ros-args", "-p", "a:=1"])
    assert not help_requested(["prog"]) and not help_requested(["prog", "--ros-args", "--help"])


def test_help_text_lists_every_parameter_with_its_default() -> None:
    specs = parameter_specs()
    text = help_text("vos_tracker: a node.", specs, "config/vos_tracker.yaml")
    assert text.startswith("vos_tracker: a node.")
    for spec in specs:
        assert f"  {spec.name} = {spec.default!r}\n      {spec.description}" in text


@pytest.mark.parametrize("module, parameter", [("tracker", "memory.top_k"), ("prompt", "prompt.min_score")])
def test_node_help_prints_and_exits_without_starting(module: str, parameter: str) -> None:
    proc = subprocess.run([sys.executable, "-m", f"vos_ros.nodes.{module}", "--help"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and f"  {parameter} = " in proc.stdout and "ros2 run vos_ros" in proc.stdout
