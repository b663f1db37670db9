"""The point path (clicks -> mask) on real COCO val instances, and `vos-ros eval points`."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vos_ros.core.point_path import Point, as_points, candidate_boxes, without_negatives
from vos_ros.tools.davis_io import data_root
from vos_ros.tools.eval_points import center_click

REPO = Path(__file__).resolve().parents[1]
COCO = data_root() / "coco_subset"
needs_coco = pytest.mark.skipif(not COCO.is_dir(), reason=f"shared data not found at {data_root()}")


def test_center_click_is_the_deepest_point() -> None:
    mask = np.zeros((60, 100), bool)
    mask[10:50, 40:80] = True
    mask[:, 0:30] = True  # wider, but on the image border, which counts as boundary: 15 px deep at most
    click = center_click(mask)
    assert 59 <= click.x <= 60 and 29 <= click.y <= 30 and click.positive


def test_clicks_outside_the_frame_or_without_a_positive_are_refused() -> None:
    assert as_points([(3, 4), (5, 6, False)], 10, 10) == [Point(3.0, 4.0, True), Point(5.0, 6.0, False)]
    with pytest.raises(ValueError, match="outside the 10x8 frame"):
        as_points([(10, 2)], 8, 10)
    with pytest.raises(ValueError, match="outside"):
        as_points([(-1, 2)], 8, 10)
    with pytest.raises(ValueError, match="at least one positive click"):
        as_points([(1, 2, False)], 8, 10)
    with pytest.raises(ValueError, match="at least one positive click"):
        as_points([], 8, 10)


def test_candidate_boxes_are_squares_around_the_clicks_inside_the_frame() -> None:
    boxes = candidate_boxes([Point(99.0, 49.0)], 100, 200)
    assert len(boxes) > 3 and all(x >= 0 and y >= 0 and x + w <= 200 and y + h <= 100 for x, y, w, h in boxes)
    assert all(x < 99.5 < x + w and y < 49.5 < y + h for x, y, w, h in boxes)
    assert [w for _, _, w, _ in boxes] == sorted(w for _, _, w, _ in boxes)
    spread = candidate_boxes([Point(10.0, 50.0), Point(150.0, 50.0)], 100, 200)
    assert all(x <= 10 and x + w >= 151 for x, _, w, _ in spread)  # every candidate holds both clicks


def test_a_negative_click_cuts_its_side_of_the_mask() -> None:
    mask = np.zeros((20, 40), bool)
    mask[5:15, 2:38] = True
    cut = without_negatives(mask, [Point(5.0, 10.0), Point(35.0, 10.0, False)])
    assert cut[10, 5] and not cut[10, 35] and cut[:, :20].sum() == mask[:, :20].sum() and not cut[:, 21:].any()
    assert without_negatives(mask, [Point(5.0, 10.0)]) is mask


@pytest.fixture(scope="module")
def coco_clicks() -> dict:
    """The first val image's instances, their centre clicks, and the point path's masks for them."""
    from vos_ros.core.config import TrackerConfig
    from vos_ros.core.point_path import points_to_masks
    from vos_ros.core.weights import load_model
    from vos_ros.tools.eval_boxes import val_images

    config = TrackerConfig.load()
    model = load_model(config.model)
    settings = {"crop_side": config.model.box_crop_side, "threshold": config.model.box_threshold,
                "precision": config.model.precision}
    rgb, instances = next(val_images(data_root()))
    clicks = [center_click(gt) for _, _, gt in instances]
    masks = points_to_masks(model, rgb, [[c] for c in clicks], **settings)
    return {"model": model, "settings": settings, "rgb": rgb, "gts": [gt for _, _, gt in instances],
            "clicks": clicks, "masks": masks}


@needs_coco
def test_one_click_segments_coco_instances(coco_clicks: dict) -> None:
    from vos_ros.tools.eval_text import iou

    ious = [iou(m, gt) for m, gt in zip(coco_clicks["masks"], coco_clicks["gts"], strict=True)]
    print("point-path IoUs", np.round(ious, 3))
    assert len(ious) >= 5
    assert all(m[int(c.y), int(c.x)] for m, c in zip(coco_clicks["masks"], coco_clicks["clicks"], strict=True))
    assert np.mean(ious) > 0.35  # measured 0.407 on this image (8 instances); the fixed 0.4 box gets 0.245


@needs_coco
def test_a_negative_click_changes_the_mask_and_bad_clicks_are_refused(coco_clicks: dict) -> None:
    from vos_ros.core.point_path import points_to_masks

    k = int(np.argmax([m.sum() for m in coco_clicks["masks"]]))
    mask, click = coco_clicks["masks"][k], coco_clicks["clicks"][k]
    ys, xs = np.nonzero(mask)
    far = int(np.argmax((xs - click.x) ** 2 + (ys - click.y) ** 2))  # the mask's pixel farthest from the click
    negative = Point(float(xs[far]), float(ys[far]), False)
    [cut] = points_to_masks(coco_clicks["model"], coco_clicks["rgb"], [[click, negative]], **coco_clicks["settings"])
    assert cut[int(click.y), int(click.x)] and not cut[int(negative.y), int(negative.x)]
    assert cut.sum() < mask.sum()
    height, width = coco_clicks["rgb"].shape[:2]
    with pytest.raises(ValueError, match="outside"):
        points_to_masks(coco_clicks["model"], coco_clicks["rgb"], [[(width, 0)]], **coco_clicks["settings"])
    with pytest.raises(ValueError, match="positive"):
        points_to_masks(coco_clicks["model"], coco_clicks["rgb"], [[(1, 1, False)]], **coco_clicks["settings"])


@needs_coco
def test_eval_points_cli_on_one_image(tmp_path: Path) -> None:
    out = tmp_path / "points.json"
    proc = subprocess.run([sys.executable, "-m", "vos_ros.tools.cli", "eval", "points", "--limit", "1",
                           "--json", str(out)], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert "point IoU" in proc.stdout and "eval points (val)" in proc.stderr  # the table and the progress bar
    result = json.loads(out.read_text())
    summary = result["summary"]["all"]
    assert summary["instances"] == len(result["instances"]) >= 5
    assert summary["mask_iou"] > summary["fixed_box_iou"] + 0.05  # the chosen box beats the fixed one


def test_missing_data_is_a_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "vos_ros.tools.cli", "eval", "points", "--data", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "not found" in proc.stderr
