"""Text grounding: phrases to object candidates and masks (no ROS imports)."""
