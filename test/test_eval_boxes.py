"""`vos-ros eval boxes`: box prompts on COCO val images against their masks (skipped without the data)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vos_ros.tools.davis_io import data_root
from vos_ros.tools.eval_boxes import summarise
from vos_ros.tools.train_data import jittered

REPO = Path(__file__).resolve().parents[1]
COCO, TRAIN = data_root() / "coco_subset", data_root() / "train_extra"


def test_jitter_moves_sides_and_stays_in_the_image() -> None:
    box = (10.0, 20.0, 50.0, 40.0)
    assert jittered(box, np.random.default_rng(0), 0.0, 100, 100) == box
    rng = np.random.default_rng(0)
    moved = [jittered(box, rng, 0.2, 100, 100) for _ in range(50)]
    assert len(set(moved)) == 50
    assert all(x >= 0 and y >= 0 and x + w <= 100 and y + h <= 100 for x, y, w, h in moved)


def test_summary_bins_by_box_size() -> None:
    rows = [{"box_share": 0.01, "mask@0.3": 0.9, "box": 0.4}, {"box_share": 0.5, "mask@0.3": 0.3, "box": 0.7}]
    s = summarise(rows, "mask@0.3")
    assert s["all"]["instances"] == 2 and s["all"]["mask_iou"] == pytest.approx(0.6)
    assert s["all"]["mask_success"] == 0.5 and s["box >= 30 %"]["box_success"] == 1.0
    assert "box 5-30 %" not in s


@pytest.mark.skipif(not (COCO.is_dir() and TRAIN.is_dir()), reason=f"shared data not found at {data_root()}")
@pytest.mark.parametrize("which", ["val", "tuning"])
def test_a_short_run_beats_the_filled_box(tmp_path: Path, which: str) -> None:
    out = tmp_path / "boxes.json"
    proc = subprocess.run([sys.executable, "-m", "vos_ros.tools.cli", "eval", "boxes", "--set", which,
                           "--limit", "6", "--thresholds", "0.3,0.5", "--json", str(out),
                           "--sheet", str(tmp_path / "worst.png")],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "mask IoU" in proc.stdout
    result = json.loads(out.read_text())
    assert set(result["summary"]) == {"0.3", "0.5"}
    summary = result["summary"]["0.3"]["all"]
    assert summary["instances"] == len(result["instances"]) > 5
    assert summary["mask_iou"] > summary["box_iou"]  # the box path refines the box, it does not copy it
    sheet = np.asarray(Image.open(tmp_path / "worst.png"))
    assert sheet.shape[1] == 4 * 200 and sheet.shape[0] >= 150


def test_missing_data_is_a_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "vos_ros.tools.cli", "eval", "boxes", "--data", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "not found" in proc.stderr
