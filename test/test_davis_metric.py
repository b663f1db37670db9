"""DAVIS J / F / J&F: hand-made masks with known values, and the official golden files."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from vos_ros.tools import davis_io
from vos_ros.tools.cli import main as cli_main
from vos_ros.tools.davis_metric import (
    ObjectScore,
    aggregate,
    boundary_measure,
    boundary_radius,
    decay_bins,
    evaluate_sequence,
    region_similarity,
    seg2bmap,
    statistics,
)

DATA = davis_io.data_root()
GENERATOR = DATA / "davis2016" / "golden" / "make_synthetic_pred.py"


def square(size: int = 200, top: int = 50, left: int = 50, side: int = 20) -> np.ndarray:
    m = np.zeros((size, size), dtype=bool)
    m[top:top + side, left:left + side] = True
    return m


def test_both_empty_scores_one_and_one_empty_scores_zero():
    empty = np.zeros((30, 40), dtype=bool)
    obj = square(40, 5, 5, 10)[:30]
    assert region_similarity(empty, empty) == 1.0
    assert boundary_measure(empty, empty) == 1.0
    for pred, gt in ((empty, obj), (obj, empty)):
        assert region_similarity(pred, gt) == 0.0
        assert boundary_measure(pred, gt) == 0.0


def test_shifted_square_has_known_j_and_f():
    # 200 x 200 -> r = ceil(0.008 * 282.8) = 3. The boundary of a 20 px square is the outline of a 21 x 21
    # rectangle (80 px). Shifted 5 px, 44 of 80 outline pixels of each lie within 3 px of the other's.
    gt = square()
    pred = square(left=55)
    assert boundary_radius(200, 200) == 3
    assert region_similarity(pred, gt) == pytest.approx(300 / 500)
    assert boundary_measure(pred, gt) == pytest.approx(44 / 80)
    # a shift within the tolerance leaves F at 1 while J drops
    near = square(left=52)
    assert boundary_measure(near, gt) == 1.0
    assert region_similarity(near, gt) == pytest.approx(360 / 440)


def test_radius_for_davis_frames_is_8():
    assert boundary_radius(480, 854) == 8
    assert boundary_radius(480, 854, bound_th=5) == 5


def test_seg2bmap_matches_its_definition_and_ignores_the_image_border():
    rng = np.random.default_rng(0)
    m = rng.random((13, 17)) > 0.6
    h, w = m.shape
    ref = np.zeros_like(m)
    for y in range(h):
        for x in range(w):
            if y < h - 1 and x < w - 1:
                ref[y, x] = m[y, x] != m[y, x + 1] or m[y, x] != m[y + 1, x] or m[y, x] != m[y + 1, x + 1]
            elif y == h - 1 and x < w - 1:
                ref[y, x] = m[y, x] != m[y, x + 1]
            elif x == w - 1 and y < h - 1:
                ref[y, x] = m[y, x] != m[y + 1, x]
    np.testing.assert_array_equal(seg2bmap(m), ref)
    np.testing.assert_array_equal(seg2bmap(np.stack([m, ~m])), np.stack([ref, seg2bmap(~m)]))
    assert not seg2bmap(np.ones((5, 6), dtype=bool)).any()
    assert boundary_measure(np.ones((5, 6), dtype=bool), np.ones((5, 6), dtype=bool)) == 1.0


def test_boundary_measure_equals_full_frame_dilation():
    # the implementation dilates only the boundaries' bounding box; compare with the whole frame
    from skimage.morphology import disk

    rng = np.random.default_rng(1)
    kernel = disk(boundary_radius(120, 160)).astype(np.uint8)
    preds, gts, expected = [], [], []
    for _ in range(6):
        g = cv2.GaussianBlur(rng.random((120, 160)), (0, 0), 6) > 0.5
        p = np.roll(g, rng.integers(-6, 7, size=2), axis=(0, 1)) & (rng.random((120, 160)) > 0.02)
        pb, gb = seg2bmap(p).astype(np.uint8), seg2bmap(g).astype(np.uint8)
        prec = (pb & cv2.dilate(gb, kernel)).sum() / pb.sum()
        rec = (gb & cv2.dilate(pb, kernel)).sum() / gb.sum()
        preds.append(p)
        gts.append(g)
        expected.append(2 * prec * rec / (prec + rec))
    np.testing.assert_allclose(boundary_measure(np.stack(preds), np.stack(gts)), expected, rtol=1e-12)


def test_decay_bins_for_48_frames_share_edges():
    assert decay_bins(48) == [(0, 12), (12, 24), (24, 35), (35, 47)]
    v = np.zeros(48)
    v[:13] = 1.0
    mean, recall, decay = statistics(v)
    assert mean == pytest.approx(13 / 48)
    assert recall == pytest.approx(13 / 48)
    assert decay == pytest.approx(1.0)
    v[12] = 0.0  # frame 12 belongs to bins 0 and 1 only
    assert statistics(v)[2] == pytest.approx(12 / 13)


def test_recall_counts_values_strictly_above_half():
    assert statistics(np.array([0.5, 0.51, 0.2, 1.0]))[1] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="non-empty"):
        statistics(np.array([]))


def labels_with(*squares: tuple[int, int, int], size: tuple[int, int] = (60, 80)) -> np.ndarray:
    lab = np.zeros(size, dtype=np.uint8)
    for obj, top, left in squares:
        lab[top:top + 10, left:left + 10] = obj
    return lab


def test_sequence_scores_frames_one_to_n_minus_2_with_k_from_the_first_frame():
    gt = [labels_with((1, 5, 5), (2, 30, 40)) for _ in range(5)]
    gt.append(labels_with((1, 5, 5), (2, 30, 40), (3, 40, 5)))  # id 3 appears later: not a DAVIS object
    pred = {i: gt[i].copy() for i in range(1, 5)}
    pred[2] = labels_with((1, 5, 5))  # object 2 missed in frame 2
    scores = evaluate_sequence("s", gt, pred)
    assert [s.name for s in scores] == ["s_1", "s_2"]
    np.testing.assert_array_equal(scores[0].j, [1, 1, 1, 1])
    np.testing.assert_array_equal(scores[1].j, [1, 0, 1, 1])
    np.testing.assert_array_equal(scores[1].f, [1, 0, 1, 1])
    with pytest.raises(ValueError, match="object id 3 but the first GT frame has only 2"):
        evaluate_sequence("s", gt, {**pred, 3: gt[5]})
    with pytest.raises(ValueError, match="4 scored frames"):
        evaluate_sequence("s", gt, list(pred.values())[:3])
    with pytest.raises(ValueError, match="at least 3 frames"):
        evaluate_sequence("s", gt[:2], [])


def test_global_numbers_average_over_objects_not_sequences():
    ones, zeros = np.ones(4), np.zeros(4)
    result = aggregate({"a": [ObjectScore("a_1", ones, ones), ObjectScore("a_2", ones, ones)],
                        "b": [ObjectScore("b_1", zeros, zeros)]})
    assert result["global"]["J-Mean"] == pytest.approx(2 / 3)
    assert result["global"]["J&F-Mean"] == pytest.approx(2 / 3)
    assert result["per_sequence"]["a"]["J-Mean"] == 1.0
    assert result["per_sequence"]["b"]["objects"]["b_1"]["F-Mean"] == 0.0


def test_label_io_roundtrip_and_davis_2016_masks(tmp_path):
    lab = labels_with((1, 5, 5), (2, 30, 40), (7, 40, 60))
    davis_io.write_labels(tmp_path / "p.png", lab)
    with Image.open(tmp_path / "p.png") as im:
        assert im.mode == "P"
        assert im.getpalette()[:9] == [0, 0, 0, 128, 0, 0, 0, 128, 0]
    np.testing.assert_array_equal(davis_io.read_labels(tmp_path / "p.png"), lab)
    Image.fromarray((lab > 0).astype(np.uint8) * 255, mode="L").save(tmp_path / "l.png")
    np.testing.assert_array_equal(davis_io.read_labels(tmp_path / "l.png"), (lab > 0).astype(np.uint8))
    with pytest.raises(ValueError, match="ids must be in 0..254"):
        davis_io.write_labels(tmp_path / "bad.png", np.full((4, 4), 300))


def synthetic_prediction(tmp_path, annotations, out_name: str, sequences: list[str] = ()) -> str:
    """Run the golden generator as a subprocess (it is the reference, so it is not copied)."""
    out = tmp_path / out_name
    subprocess.run([sys.executable, str(GENERATOR), str(annotations), str(out), *sequences],
                   check=True, capture_output=True)
    return out


def check_hashes(pred_dir, golden: dict) -> None:
    for seq, entry in golden["per_sequence"].items():
        h = hashlib.sha256()
        for png in sorted((pred_dir / seq).glob("*.png")):
            h.update(np.ascontiguousarray(np.array(Image.open(png), dtype=np.uint8)).tobytes())
        assert h.hexdigest() == entry["pred_sha256"], f"generator output differs for {seq}"


def compare_with_golden(result: dict, golden: dict, tol: float = 1e-3) -> None:
    for key, value in golden["global"].items():
        assert result["global"][key] == pytest.approx(value, abs=tol), key
    for seq, entry in golden["per_sequence"].items():
        mine = result["per_sequence"][seq]
        assert mine["n_frames"] == entry["n_frames"] and mine["n_frames_scored"] == entry["n_frames_scored"]
        objects = entry.get("objects", {f"{seq}_1": entry})  # the 2016 file lists its one object flat
        assert sorted(mine["objects"]) == sorted(objects)
        for name, values in objects.items():
            for key in ("J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay", "J&F-Mean"):
                assert mine["objects"][name][key] == pytest.approx(values[key], abs=tol), (name, key)
                assert mine[key] == pytest.approx(np.mean([o[key] for o in objects.values()]), abs=tol)


GOLDEN_SETS = [
    ("davis2016/val", "davis2016/golden/val_synthetic.json"),
    ("davis2017_multiobject_check", "davis2017_multiobject_check/golden.json"),
]


@pytest.mark.parametrize("root_rel,golden_rel", GOLDEN_SETS, ids=["davis2016", "multiobject"])
def test_eval_score_reproduces_the_official_golden_numbers(tmp_path, capsys, root_rel, golden_rel):
    root, golden_path = DATA / root_rel, DATA / golden_rel
    if not (golden_path.is_file() and GENERATOR.is_file()):
        pytest.skip(f"shared data absent ({golden_path})")
    golden = json.loads(golden_path.read_text())
    pred = synthetic_prediction(tmp_path, root / "Annotations" / "480p", "pred")
    check_hashes(pred, golden)
    out_json = tmp_path / "score.json"
    assert cli_main(["eval", "score", "--root", str(root), "--pred", str(pred), "--json", str(out_json)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == f"J&F-Mean: {golden['global']['J&F-Mean']:.3f}"
    compare_with_golden(json.loads(out_json.read_text()), golden)


def test_eval_score_names_a_missing_prediction(tmp_path):
    root = DATA / "davis2017_multiobject_check"
    if not root.is_dir():
        pytest.skip("shared data absent")
    pred = synthetic_prediction(tmp_path, root / "Annotations" / "480p", "pred", ["motocross-jump"])
    (pred / "motocross-jump" / "00005.png").unlink()
    with pytest.raises(FileNotFoundError, match="motocross-jump/00005.png"):
        cli_main(["eval", "score", "--root", str(root), "--pred", str(pred), "--sequences", "motocross-jump"])
    with pytest.raises(FileNotFoundError, match="unknown sequence"):
        cli_main(["eval", "score", "--root", str(root), "--pred", str(pred), "--sequences", "nope"])
