"""launch/vos.launch.py under launch_testing, where ROS 2 is installed (colcon test); skipped here.

launch, launch_ros and launch_testing are not on PyPI, so this module only runs on a ROS 2 install
with the package built (the launch file starts the installed tracker_node).
"""
import unittest
from pathlib import Path

import pytest

pytest.importorskip("launch_testing", reason="launch_testing is not installable from PyPI")
pytest.importorskip("launch_ros", reason="launch_ros is not installable from PyPI")

import launch_testing.actions  # noqa: E402, I001 - `launch` is ROS launch, not the launch/ folder
import launch_testing.asserts  # noqa: E402
from launch import LaunchDescription  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

LAUNCH_FILE = Path(__file__).resolve().parents[1] / "launch" / "vos.launch.py"


@pytest.mark.launch_test
def generate_test_description() -> LaunchDescription:
    include = IncludeLaunchDescription(PythonLaunchDescriptionSource(str(LAUNCH_FILE)),
                                       launch_arguments={"image": "/cam/image_raw", "namespace": "lt",
                                                         "use_depth": "true", "device": "cpu"}.items())
    return LaunchDescription([include, launch_testing.actions.ReadyToTest()])


class TestTrackerComesUp(unittest.TestCase):
    def test_tracker_is_configured_and_activated(self, proc_output) -> None:
        proc_output.assertWaitFor("configured: image as Image", timeout=60)
        proc_output.assertWaitFor("depth on", timeout=60)  # use_depth:=true reached the node
        proc_output.assertWaitFor("(device cpu)", timeout=120)  # active, on the device:=cpu


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_exit_codes(self, proc_info) -> None:
        launch_testing.asserts.assertExitCodes(proc_info)
