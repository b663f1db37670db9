"""vos_ros: memory-based multi-object video segmentation and tracking for ROS 2."""
from pkgutil import extend_path

# The generated vos_ros.msg / vos_ros.srv live in the installed copy of this package
# (site-packages/vos_ros); keep both on the package path when the repo root comes first.
__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"
