"""Launch the vos_ros tracker (and optionally the text-prompt node and RViz).

    ros2 launch vos_ros vos.launch.py camera:=/camera/color/image_raw namespace:=cam1 rviz:=true prompt:=true

What starts is described once in vos_ros/nodes/launch_description.py; this file only turns that
description into launch_ros Node actions.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from vos_ros.core.config import TRACKER_CONFIG
from vos_ros.nodes.launch_description import describe

ARGUMENTS = {
    "camera": ("", "image topic to track (remapped onto the tracker's `image`); empty = `image`"),
    "params_file": (str(TRACKER_CONFIG), "tracker parameter YAML"),
    "namespace": ("", "namespace for all nodes (one tracker per camera)"),
    "rviz": ("false", "start RViz with rviz/vos.rviz"),
    "prompt": ("false", "also start the text-prompt node vos_prompt"),
}


def _nodes(context, *args, **kwargs):
    values = {name: LaunchConfiguration(name).perform(context) for name in ARGUMENTS}
    return [
        Node(
            package=spec.package,
            executable=spec.executable,
            name=spec.name,
            namespace=spec.namespace,
            parameters=list(spec.params_files),
            remappings=list(spec.remappings),
            arguments=list(spec.arguments),
            output="screen",
        )
        for spec in describe(**values)
    ]


def generate_launch_description() -> LaunchDescription:
    declared = [DeclareLaunchArgument(name, default_value=default, description=text)
                for name, (default, text) in ARGUMENTS.items()]
    return LaunchDescription([*declared, OpaqueFunction(function=_nodes)])
