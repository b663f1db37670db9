"""ROS-agnostic tracker: network, memory bank, session and track states."""
