"""Launch the vos_ros tracker (and optionally the text-prompt node and RViz).

    ros2 launch vos_ros vos.launch.py image:=/camera/color/image_raw namespace:=cam1 rviz:=true prompt:=true
    ros2 launch vos_ros vos.launch.py image:=/cam/color/image_raw depth:=/cam/depth/image_raw use_depth:=true ...

(arguments: ARGUMENTS below; docs/ros.md, "Launch")

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
    "image": ("", "image topic remapped onto the nodes' `image` (empty = `image`)"),
    "camera": ("", "older name of `image`"),
    "depth": ("", "depth topic (16UC1 mm or 32FC1 m, registered to the image) remapped onto `depth`"),
    "camera_info": ("", "camera_info topic of the colour camera remapped onto `camera_info`"),
    "use_depth": ("", "true: subscribe depth + camera_info for 3-D centroids (empty = as the parameter files say)"),
    "compressed": ("", "true: subscribe sensor_msgs/CompressedImage on `<image>/compressed` (empty = as the "
                       "parameter files say)"),
    "device": ("", "model.device: auto, cpu, cuda or cuda:N (empty = as the parameter files say)"),
    "params_file": (str(TRACKER_CONFIG), "tracker parameter YAML"),
    "profile": ("", "config/profiles/<profile>.yaml over the defaults, under a params_file of one's own "
                    "(e.g. cpu, desktop_gpu, jetson_orin; empty = none)"),
    "namespace": ("", "namespace for all nodes (one tracker per camera)"),
    "rviz": ("false", "start RViz with rviz/vos.rviz"),
    "fixed_frame": ("", "RViz fixed frame (empty = the config's camera_color_optical_frame)"),
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
            parameters=[*spec.params_files, *([dict(spec.parameters)] if spec.parameters else [])],
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
