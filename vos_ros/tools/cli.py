"""``vos-ros`` command line: one entry point, sub-commands implemented in vos_ros/tools/*.

Each sub-command module defines ``add_arguments(parser)`` and ``run(args) -> int``; modules are
imported only when their command runs, so ``vos-ros --help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from vos_ros.core.allocator import retain_freed_memory

# command path -> (module, one-line help)
COMMANDS: dict[tuple[str, ...], tuple[str, str]] = {
    ("train",): ("vos_ros.tools.train", "train the tracker (synthetic COCO clips, then DAVIS-2016 train)"),
    ("eval", "davis"): ("vos_ros.tools.eval_davis", "run the tracker on a DAVIS-layout root and score it"),
    ("eval", "score"): ("vos_ros.tools.eval_score", "score existing predictions (official J, F, J&F)"),
    ("eval", "boxes"): ("vos_ros.tools.eval_boxes", "box-prompt benchmark: masks from COCO boxes (coco_subset)"),
    ("eval", "points"): ("vos_ros.tools.eval_points", "point-prompt benchmark: masks from one click (coco_subset)"),
    ("eval", "shuffle"): ("vos_ros.tools.eval_shuffle", "identity criteria on a cup-shuffle run (02_cups.mp4)"),
    ("eval", "text"): ("vos_ros.tools.eval_text", "text-grounding benchmark (YCB-Video and COCO queries)"),
    ("eval", "lifecycle"): ("vos_ros.tools.eval_lifecycle",
                            "identity through swaps, covers and exits on `make-lifecycle` clips"),
    ("make-lifecycle",): ("vos_ros.tools.make_lifecycle",
                          "write look-alike clips (swaps, a covering hand, exits) with ground truth"),
    ("fit", "grounding"): ("vos_ros.tools.fit_grounding",
                           "fit the text-grounding score's calibration on COCO train2017 prompts"),
    ("bench", "churn"): ("vos_ros.tools.bench_churn", "step time while objects come and leave for good"),
    ("bench", "speed"): ("vos_ros.tools.bench_speed", "Session.step speed against the backbone alone"),
    ("export", "onnx"): ("vos_ros.tools.export",
                         "export the network as ONNX graphs, with a parity check against torch"),
    ("track",): ("vos_ros.tools.track", "track objects in a video file or rosbag2 image topic"),
    ("ground",): ("vos_ros.tools.ground", "ground a phrase on an image and write its mask"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vos-ros", description=__doc__.splitlines()[0])
    groups: dict[tuple[str, ...], argparse._SubParsersAction] = {(): parser.add_subparsers(dest="cmd0")}
    for path, (module, help_text) in COMMANDS.items():
        for depth in range(1, len(path)):
            prefix = path[:depth]
            if prefix not in groups:
                sub = groups[prefix[:-1]].add_parser(prefix[-1], help=f"{prefix[-1]} commands")
                groups[prefix] = sub.add_subparsers(dest=f"cmd{depth}", required=True)
        leaf = groups[path[:-1]].add_parser(path[-1], help=help_text, description=help_text, add_help=False)
        leaf.set_defaults(_module=module)
        leaf.set_defaults(_path=path)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    retain_freed_memory()  # fewer page faults per tracked frame (vos_ros/core/allocator.py)
    parser = build_parser()
    # Parse once to find the command, then let its module add its own arguments.
    known, _ = parser.parse_known_args(argv)
    module_name = getattr(known, "_module", None)
    if module_name is None:
        parser.print_help()
        return 2
    module = importlib.import_module(module_name)
    leaf = argparse.ArgumentParser(prog="vos-ros " + " ".join(known._path), description=module.__doc__)
    module.add_arguments(leaf)
    args = leaf.parse_args(argv[len(known._path):])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
