"""`vos-ros eval text`: queries built from the shared data, ground truth, summary, and a short run."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vos_ros.prompts.detector import model_dir
from vos_ros.tools.davis_io import data_root
from vos_ros.tools.eval_text import (
    TYPES,
    coco_queries,
    crowd_regions,
    detector_recall,
    ground_truth,
    iou,
    score_reliability,
    summarise,
    ycb_queries,
)

REPO = Path(__file__).resolve().parents[1]
YCB, COCO = data_root() / "ycb_video", data_root() / "coco_subset"
needs_data = pytest.mark.skipif(not (YCB.is_dir() and COCO.is_dir()), reason=f"shared data not found at {data_root()}")


@needs_data
def test_ycb_queries_cover_every_type_with_consistent_ground_truth() -> None:
    queries = ycb_queries(YCB)
    assert set(Counter(q.type for q in queries)) == set(TYPES)
    first = [q for q in queries if q.image.endswith("000001-color.png")]
    texts = {q.text: q for q in first}
    assert texts["the mug"].gt == "ycb:14" and texts["the red mug"].type == "colour"
    assert texts["all the red objects"].gt == "ycb:8,14,21"
    assert texts["the red object on the left"].gt == "ycb:8"      # the gelatin box stands leftmost
    assert texts["all the boxes"].gt == "ycb:8,21"
    gt = ground_truth(texts["the mug"], COCO, (480, 640))
    assert 5000 < gt.sum() < 60000
    for q in first:
        if q.type == "negative":
            assert q.gt == "" and not ground_truth(q, COCO, (480, 640)).any()


@needs_data
def test_coco_queries_name_present_categories_and_absent_negatives() -> None:
    queries = coco_queries(COCO)
    kinds = Counter(q.type for q in queries)
    assert kinds["category"] > 100 and kinds["negative"] > 50
    for q in queries[:30]:
        present = {t.text for t in queries if t.image == q.image and t.type == "category"}
        if q.type == "negative":
            assert q.text not in present
        else:
            width, height = Image.open(q.image).size
            gt = ground_truth(q, COCO, (height, width))
            assert q.text.startswith(("the ", "all the ")) and gt.sum() >= 0.01 * width * height


def test_summary_and_reliability() -> None:
    rows = [
        {"dataset": "ycb", "type": "category", "iou": 0.8, "success": True,
         "returned": [{"score": 0.95, "on_target": True}]},
        {"dataset": "ycb", "type": "category", "iou": 0.2, "success": False,
         "returned": [{"score": 0.4, "on_target": False}]},
        {"dataset": "ycb", "type": "negative", "iou": 1.0, "success": True, "returned": []},
    ]
    s = summarise(rows)["ycb"]
    assert s["category"] == {"queries": 2, "success": 0.5, "mean_iou": pytest.approx(0.5)}
    assert s["all"]["queries"] == 3 and s["all"]["success"] == pytest.approx(2 / 3)
    bins = score_reliability(rows)
    assert [b["objects"] for b in bins] == [1, 1] and [b["on_target"] for b in bins] == [0.0, 1.0]
    a = np.zeros((4, 4), bool)
    a[:2] = True
    assert iou(a, a) == 1.0 and iou(a, ~a) == 0.0 and iou(np.zeros_like(a), np.zeros_like(a)) == 1.0
    assert iou(np.ones_like(a), a) == 0.5 and iou(np.ones_like(a), a, ignore=~a) == 1.0


@needs_data
def test_crowd_regions_are_those_of_the_named_category() -> None:
    queries = [q for q in coco_queries(COCO) if q.image.endswith("000000553664.jpg")]
    books = next(q for q in queries if q.text == "all the books")
    width, height = Image.open(books.image).size
    crowd, gt = crowd_regions(books, COCO, (height, width)), ground_truth(books, COCO, (height, width))
    assert crowd.sum() > 20000 and (crowd & gt).sum() < 0.5 * gt.sum()  # one crowd of books, not the books
    for q in queries:  # no crowd region of any other category in this image; none for negatives
        if q.text != "all the books":
            assert not crowd_regions(q, COCO, (height, width)).any()


@needs_data
def test_a_short_run_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "text.json"
    proc = subprocess.run([sys.executable, "-m", "vos_ros.tools.cli", "eval", "text", "--datasets", "ycb",
                           "--limit", "4", "--segmenter", "grabcut", "--json", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "success@0.5" in proc.stdout
    result = json.loads(out.read_text())
    assert len(result["queries"]) == 4 and result["summary"]["ycb"]["all"]["queries"] == 4
    # The first frame's first queries are "the gelatin box", "the red gelatin box", a wrong colour.
    assert [q["type"] for q in result["queries"]][:3] == ["category", "colour", "negative"]


def test_missing_data_is_a_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "vos_ros.tools.cli", "eval", "text", "--data", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "not found" in proc.stderr


@needs_data
@pytest.mark.skipif(not (model_dir() / "centernet.json").is_file(), reason="detector files missing (make detectors)")
def test_detector_recall_of_each_detector_and_of_both() -> None:
    from vos_ros.prompts.detector import CenterNet, DetectorEnsemble, NanoDet

    result = detector_recall(COCO, {"NanoDet": NanoDet(), "CenterNet": CenterNet()}, images=4)
    assert result["instances"] > 0
    recall = {name: np.array(values) for name, values in result["recall"].items()}
    for values in recall.values():
        assert np.all((values >= 0) & (values <= 1)) and np.all(np.diff(values) <= 0)  # stricter = fewer
    assert np.all(recall["any"] >= np.maximum(recall["NanoDet"], recall["CenterNet"]))
    assert np.all(recall["any"] <= recall["NanoDet"] + recall["CenterNet"] + 1e-9)
    # The ensemble row fuses the members' own runs; running the ensemble itself finds the same.
    members = [NanoDet(), CenterNet()]
    alone = detector_recall(COCO, {"both": DetectorEnsemble(members)}, images=4)["recall"]["both"]
    assert recall["ensemble"] == pytest.approx(alone)
    assert recall["any"][0] > 0.3  # real detectors find a good share of these household objects
