"""ROS 2 nodes and message conversions (the only place that imports rclpy)."""
