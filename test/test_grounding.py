"""Grounding: TFJS evaluator, proposals, scoring of synthetic candidates, selection, and the CLI on
real photographs (scikit-image's coffee cup, cat and astronaut)."""
from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
import torch.nn.functional as F
from conftest import require_shipped_checkpoint
from PIL import Image

from vos_ros.core.types import mask_box
from vos_ros.prompts.box_masks import grabcut_masks, make_segmenter, segmenter_kind
from vos_ros.prompts.candidates import Candidate, depth_candidates, merge_candidates
from vos_ros.prompts.colour import colour_fractions, colour_names
from vos_ros.prompts.detector import CenterNet, Detection, DetectorEnsemble, NanoDet, model_dir
from vos_ros.prompts.ground import Grounder
from vos_ros.prompts.phrase import COLOURS, parse_phrase
from vos_ros.prompts.scoring import boxiness, score_candidates
from vos_ros.prompts.selection import select
from vos_ros.prompts.tfjs_graph import TfjsGraph
from vos_ros.prompts.vocabulary import coco_vocabulary, imagenet_vocabulary
from vos_ros.tools.synthetic_scene import Scene, Sprite

REPO = Path(__file__).resolve().parents[1]
needs_detectors = pytest.mark.skipif(
    not all((model_dir() / f).is_file() for f in ("nanodet.json", "centernet.json")),
    reason=f"detector files missing in {model_dir()} (run `make detectors`)")


# -- TFJS graph evaluator ---------------------------------------------------------------------------
def _write_graph(folder: Path, nodes: list[dict], weights: dict[str, np.ndarray]) -> Path:
    manifest, blob = [], b""
    for name, value in weights.items():
        stored = value.astype(np.float16) if value.dtype == np.float32 else value
        entry = {"name": name, "shape": list(value.shape), "dtype": str(value.dtype)}
        if value.dtype == np.float32:
            entry["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
        manifest.append(entry)
        blob += stored.tobytes()
    (folder / "w.bin").write_bytes(blob)
    doc = {"format": "graph-model", "modelTopology": {"node": nodes},
           "weightsManifest": [{"paths": ["w.bin"], "weights": manifest}]}
    (folder / "model.json").write_text(json.dumps(doc))
    return folder / "model.json"


def _s(text: str) -> dict:
    return {"s": base64.b64encode(text.encode()).decode()}


def test_tfjs_graph_matches_torch_conv_bias_leaky_relu(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 3, 4, 8)).astype(np.float32)  # HWIO
    b = rng.normal(size=(8,)).astype(np.float32)
    nodes = [
        {"name": "x", "op": "Placeholder"},
        {"name": "perm", "op": "Const"}, {"name": "w", "op": "Const"}, {"name": "b", "op": "Const"},
        {"name": "nhwc", "op": "Transpose", "input": ["x", "perm"]},
        {"name": "conv", "op": "Conv2D", "input": ["nhwc", "w"],
         "attr": {"padding": _s("VALID"), "strides": {"list": {"i": ["1", "2", "2", "1"]}},
                  "dilations": {"list": {"i": ["1", "1", "1", "1"]}}, "data_format": _s("NHWC")}},
        {"name": "add", "op": "AddV2", "input": ["conv", "b"]},
        {"name": "out", "op": "LeakyRelu", "input": ["add"], "attr": {"alpha": {"f": 0.1}}},
    ]
    path = _write_graph(tmp_path, nodes, {"perm": np.array([0, 2, 3, 1], np.int32), "w": w, "b": b})
    x = torch.randn(1, 4, 9, 11)
    (out,) = TfjsGraph(path)({"x": x}, ["out"])
    w16 = torch.from_numpy(w.astype(np.float16).astype(np.float32)).permute(3, 2, 0, 1)
    b16 = torch.from_numpy(b.astype(np.float16).astype(np.float32))
    expected = F.leaky_relu(F.conv2d(x, w16, b16, stride=2), 0.1).permute(0, 2, 3, 1)
    assert out.shape == (1, 4, 5, 8)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_tfjs_graph_names_unsupported_ops_and_missing_inputs(tmp_path: Path) -> None:
    nodes = [{"name": "x", "op": "Placeholder"}, {"name": "y", "op": "Softplus", "input": ["x"]}]
    with pytest.raises(NotImplementedError, match="Softplus"):
        TfjsGraph(_write_graph(tmp_path, nodes, {}))
    ok = _write_graph(tmp_path, [{"name": "x", "op": "Placeholder"},
                                 {"name": "y", "op": "Sigmoid", "input": ["x"]}], {})
    with pytest.raises(ValueError, match="missing graph inputs"):
        TfjsGraph(ok)({}, ["y"])


def _ints_attr(*values: int) -> dict:
    return {"list": {"i": [str(v) for v in values]}}


def test_tfjs_graph_same_padding_fused_depthwise_and_squeeze_excite(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    dw = rng.normal(size=(3, 3, 4, 1)).astype(np.float32)    # H x W x C x multiplier
    dw_b = rng.normal(size=(4,)).astype(np.float32)
    pw = rng.normal(size=(1, 1, 4, 6)).astype(np.float32)
    pw_b = rng.normal(size=(6,)).astype(np.float32)
    fused = lambda *ops: {"list": {"s": [_s(o)["s"] for o in ops]}}  # noqa: E731
    nodes = [
        {"name": "x", "op": "Placeholder"},
        *({"name": n, "op": "Const"} for n in ("dw", "dw_b", "pw", "pw_b", "axes")),
        {"name": "dwc", "op": "FusedDepthwiseConv2dNative", "input": ["x", "dw", "dw_b"],
         "attr": {"padding": _s("SAME"), "strides": _ints_attr(1, 2, 2, 1), "data_format": _s("NHWC"),
                  "dilations": _ints_attr(1, 1, 1, 1), "fused_ops": fused("BiasAdd", "Relu6")}},
        {"name": "pwc", "op": "_FusedConv2D", "input": ["dwc", "pw", "pw_b"],
         "attr": {"padding": _s("SAME"), "strides": _ints_attr(1, 1, 1, 1), "fused_ops": fused("BiasAdd")}},
        {"name": "mean", "op": "Mean", "input": ["pwc", "axes"], "attr": {"keep_dims": {"b": True}}},
        {"name": "out", "op": "Mul", "input": ["pwc", "mean"]},
    ]
    weights = {"dw": dw, "dw_b": dw_b, "pw": pw, "pw_b": pw_b, "axes": np.array([1, 2], np.int32)}
    path = _write_graph(tmp_path, nodes, weights)
    x = torch.randn(1, 8, 7, 4)                               # NHWC
    (out,) = TfjsGraph(path)({"x": x}, ["out"])
    f16 = {k: torch.from_numpy(v.astype(np.float16).astype(np.float32)) for k, v in weights.items() if k != "axes"}
    # TF SAME with stride 2 and a 3 x 3 kernel: 8 rows pad (0, 1), 7 columns pad (1, 1)
    padded = F.pad(x.permute(0, 3, 1, 2), (1, 1, 0, 1))
    y = F.conv2d(padded, f16["dw"].permute(2, 3, 0, 1), f16["dw_b"], stride=2, groups=4).clamp(0, 6)
    y = F.conv2d(y, f16["pw"].permute(3, 2, 0, 1), f16["pw_b"])
    expected = (y * y.mean((2, 3), keepdim=True)).permute(0, 2, 3, 1)
    assert out.shape == (1, 4, 4, 6)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)


def test_tfjs_graph_legacy_bilinear_resize_and_output_restricted_check(tmp_path: Path) -> None:
    nodes = [{"name": "x", "op": "Placeholder"}, {"name": "size", "op": "Const"},
             {"name": "up", "op": "ResizeBilinear", "input": ["x", "size"],
              "attr": {"align_corners": {"b": False}, "half_pixel_centers": {"b": False}}},
             {"name": "other", "op": "Softplus", "input": ["x"]}]
    path = _write_graph(tmp_path, nodes, {"size": np.array([4, 4], np.int32)})
    with pytest.raises(NotImplementedError, match="Softplus"):
        TfjsGraph(path)                      # every node checked
    graph = TfjsGraph(path, outputs=["up"])  # only what "up" needs
    (up,) = graph({"x": torch.tensor([[0.0, 1.0], [2.0, 3.0]]).reshape(1, 2, 2, 1)}, ["up"])
    # TF legacy coordinates: source = destination / 2, clamped at the last pixel
    expected = torch.tensor([[0, 0.5, 1, 1], [1, 1.5, 2, 2], [2, 2.5, 3, 3], [2, 2.5, 3, 3]])
    torch.testing.assert_close(up[0, ..., 0], expected)


class _FixedDetector:
    def __init__(self, detections: list[Detection]) -> None:
        self.detections = detections

    def __call__(self, rgb, score_threshold=0.3, iou_threshold=0.5, tta=False) -> list[Detection]:
        return [Detection(d.label, d.score, d.box) for d in self.detections if d.score >= score_threshold]


def test_ensemble_fuses_agreeing_detections_and_keeps_the_others() -> None:
    first = _FixedDetector([Detection("cup", 0.5, (10, 10, 50, 60)), Detection("cup", 0.35, (100, 10, 140, 60))])
    second = _FixedDetector([Detection("cup", 0.4, (12, 8, 52, 58)), Detection("dog", 0.6, (0, 70, 90, 120)),
                             Detection("bowl", 0.45, (10, 10, 50, 60))])
    found = DetectorEnsemble([first, second])(np.zeros((128, 160, 3), np.uint8), score_threshold=0.3)
    by_label = sorted((d.label, round(d.score, 3), d.box[0]) for d in found)
    # the two cups at x=10 are one object (0.5 and 0.4 -> 1 - 0.5 * 0.6); other classes stay apart
    assert by_label == [("bowl", 0.45, 10), ("cup", 0.35, 100), ("cup", 0.7, 10), ("dog", 0.6, 0)]
    assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)
    # two weak opinions below the threshold make one above it (0.2, 0.2 -> 0.36); one alone does not
    weak = [_FixedDetector([Detection("cup", 0.2, (10, 10, 50, 60)), Detection("dog", 0.25, (0, 70, 90, 120))]),
            _FixedDetector([Detection("cup", 0.2, (11, 10, 51, 60))])]
    found = DetectorEnsemble(weak)(np.zeros((128, 160, 3), np.uint8), score_threshold=0.3)
    assert [(d.label, round(d.score, 3)) for d in found] == [("cup", 0.36)]
    with pytest.raises(ValueError, match="at least one"):
        DetectorEnsemble([])


@needs_detectors
def test_centernet_finds_the_cup_on_coffee() -> None:
    image = skimage.data.coffee()
    cups = [d for d in CenterNet()(image, score_threshold=0.3) if d.label == "cup"]
    assert cups
    x1, y1, x2, y2 = cups[0].box
    assert x1 < image.shape[1] / 2 < x2 and y1 < image.shape[0] / 2 < y2
    with pytest.raises(ValueError, match="uint8 RGB"):
        CenterNet()(image[..., 0])


@needs_detectors
def test_nanodet_finds_the_cup_on_coffee() -> None:
    image = skimage.data.coffee()
    dets = NanoDet()(image, score_threshold=0.3)
    cups = [d for d in dets if d.label == "cup"]
    assert cups, dets
    x1, y1, x2, y2 = cups[0].box
    assert 0 <= x1 < x2 <= image.shape[1] and 0 <= y1 < y2 <= image.shape[0]
    assert x1 < image.shape[1] / 2 < x2 and y1 < image.shape[0] / 2 < y2  # the cup fills the middle
    # Extra views (mirror + tiles) keep the detections of the plain pass that survive NMS.
    with_views = NanoDet()(image, score_threshold=0.3, tta=True)
    assert any(d.label == "cup" and abs(d.box[0] - x1) < 20 for d in with_views)
    with pytest.raises(ValueError, match="uint8 RGB"):
        NanoDet()(image.astype(np.float32))


# -- proposals, colour, shape -------------------------------------------------------------------------
def test_depth_proposals_find_two_boxes_standing_on_a_tilted_table() -> None:
    h, w = 240, 320
    vv, uu = np.mgrid[0:h, 0:w]
    depth = (1.0 / (0.8 + 0.0015 * vv + 0.0002 * uu)).astype(np.float32)  # a plane seen at an angle
    depth[60:120, 40:100] -= 0.08
    depth[150:200, 200:290] -= 0.05
    depth[5:15, 5:15] = 0.0  # missing depth is ignored
    found = sorted(depth_candidates(depth), key=lambda c: c.box[0])
    assert len(found) == 2
    truth = [(40, 60, 100, 120), (200, 150, 290, 200)]
    for cand, (x1, y1, x2, y2) in zip(found, truth, strict=True):
        gt = np.zeros((h, w), bool)
        gt[y1:y2, x1:x2] = True
        assert (cand.mask & gt).sum() / (cand.mask | gt).sum() > 0.85
    with pytest.raises(ValueError, match="H x W"):
        depth_candidates(np.zeros((4, 4, 3), np.float32))


def test_colour_names_and_boxiness() -> None:
    image = np.zeros((100, 100, 3), np.uint8)
    image[:50] = (200, 20, 20)    # red
    image[50:] = (30, 60, 200)    # blue
    image[90:] = (250, 250, 250)  # white
    names = colour_names(image)
    top = np.zeros((100, 100), bool)
    top[:50] = True
    fractions = colour_fractions(names, top)
    assert fractions[COLOURS.index("red")] == 1.0
    assert colour_fractions(names, ~top)[COLOURS.index("white")] == pytest.approx(0.2)
    square = np.zeros((100, 100), bool)
    square[20:70, 30:80] = True
    yy, xx = np.mgrid[0:100, 0:100]
    disc = (yy - 50) ** 2 + (xx - 50) ** 2 < 30**2
    assert boxiness(square) == 1.0 and boxiness(disc) == 0.0
    touching = np.zeros((100, 100), bool)
    touching[0:40, 30:80] = True
    assert boxiness(touching) == 0.0  # cut by the border: shape unknown


# -- scoring and selection on synthetic candidates ------------------------------------------------------
def _imagenet_onehot(name: str) -> np.ndarray:
    p = np.zeros(1000, np.float32)
    p[imagenet_vocabulary().names.index(name)] = 1.0
    return p


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, list[Candidate]]:
    """A 200 x 300 image with a red mug (left), a blue mug (right) and a yellow banana (bottom)."""
    image = np.full((200, 300, 3), 128, np.uint8)
    cands = []
    for (x1, y1, x2, y2), colour, det, imagenet in [
        ((20, 20, 80, 100), (200, 20, 20), ("cup", 0.5), "coffee mug"),
        ((200, 20, 260, 100), (30, 60, 200), ("cup", 0.45), "coffee mug"),
        ((100, 140, 200, 190), (230, 210, 30), ("banana", 0.6), "banana"),
    ]:
        image[y1:y2, x1:x2] = colour
        mask = np.zeros(image.shape[:2], bool)
        mask[y1:y2, x1:x2] = True
        cands.append(Candidate(box=(x1, y1, x2, y2), source="detector", mask=mask, label=det[0],
                               detector_score=det[1], imagenet=_imagenet_onehot(imagenet)))
    return image, cands


def _chosen(scene, text: str, **kwargs) -> list[int]:
    image, cands = scene
    phrase = parse_phrase(text)
    scores = score_candidates(phrase, cands, coco_vocabulary(), imagenet_vocabulary(), image.shape[:2],
                              colour_names(image)).total
    return select(phrase, cands, scores, 0.3, image.shape[:2], **kwargs)


@pytest.mark.parametrize("text, expected", [
    ("the mug", [0]),                 # best-scoring mug
    ("the blue mug", [1]),
    ("the red cup", [0]),
    ("the mug on the right", [1]),
    ("all mugs", [0, 1]),
    ("the cups", [0, 1]),
    ("the banana", [2]),
    ("the yellow object", [2]),
    ("the largest object", [2]),
    ("the objects on the left", [0]),
    ("the bottom object", [2]),
    ("the green mug", []),            # colour rules it out
    ("the bicycle", []),              # nothing of the kind
    ("the laptop on the left", []),
])
def test_scoring_and_selection(scene, text: str, expected: list[int]) -> None:
    assert sorted(_chosen(scene, text)) == sorted(expected)


def test_counts_and_max_instances(scene) -> None:
    assert len(_chosen(scene, "two objects")) == 2
    assert _chosen(scene, "all objects", max_instances=1) == [_chosen(scene, "the object")[0]]
    assert sorted(_chosen(scene, "the two mugs on the left")) == [0, 1]


def test_scores_are_probabilities_and_category_needs_evidence(scene) -> None:
    image, cands = scene
    scores = score_candidates(parse_phrase("the mug"), cands, coco_vocabulary(), imagenet_vocabulary(),
                              image.shape[:2], colour_names(image))
    assert np.all((scores.total >= 0) & (scores.total <= 1))
    assert scores.total[0] > 0.5 and scores.total[2] < 0.1
    bare = [Candidate(box=c.box, source="region", mask=c.mask) for c in cands]  # no label, no crop class
    assert score_candidates(parse_phrase("the mug"), bare, coco_vocabulary(), imagenet_vocabulary(),
                            image.shape[:2]).total.max() < 0.1


def test_merge_gives_a_detection_the_mask_of_its_proposal() -> None:
    mask = np.zeros((50, 50), bool)
    mask[10:30, 10:30] = True
    det = Candidate(box=(9, 9, 31, 31), source="detector", label="cup", detector_score=0.5)
    prop = Candidate(box=(10, 10, 30, 30), source="depth", mask=mask)
    other = Candidate(box=(35, 35, 45, 45), source="depth", mask=np.zeros((50, 50), bool))
    merged = merge_candidates([prop, det, other])
    assert len(merged) == 2 and merged[0].mask is mask and merged[0].sources == ["detector", "depth"]


def test_grounder_checks_its_inputs() -> None:
    grounder = Grounder(detector=None, segment=lambda image, boxes: [])
    with pytest.raises(ValueError, match="H x W x 3 uint8"):
        grounder(np.zeros((10, 10), np.uint8), "the cup")
    with pytest.raises(ValueError, match="depth"):
        grounder(np.zeros((10, 10, 3), np.uint8), "the cup", depth=np.zeros((5, 5), np.float32))
    with pytest.raises(ValueError, match="no words"):
        grounder(np.zeros((10, 10, 3), np.uint8), "  ")
    with pytest.raises(ValueError, match="min_score"):
        Grounder(detector=None, min_score=2.0)


# -- box -> mask: the default is the tracker's box path with the shipped weights ---------------------------
def test_the_default_segmenter_is_the_tracker_s_box_path_with_the_shipped_weights(caplog) -> None:
    """``make_segmenter()`` and the Grounder's default use the shipped weights' box path (no GrabCut
    fall-back), which segments a face sprite pasted on the coffee photo from its box."""
    require_shipped_checkpoint()
    with caplog.at_level(logging.WARNING, logger="vos_ros.prompts.box_masks"):
        segment = make_segmenter()
        default = Grounder(detector=None).segment
    assert segmenter_kind(segment) == "tracker" and segmenter_kind(default) == "tracker"
    assert "GrabCut" not in caplog.text, caplog.text
    scene = Scene("coffee", (320, 240), [Sprite("face", "astronaut", (150, 20, 170, 190), (90, 90), (40, 60), (0, 0)),
                                         Sprite("coins", "coins", (0, 0, 160, 160), (80, 80), (200, 120), (0, 0))])
    image, truths = scene.render(0)
    boxes = []
    for truth in truths:
        x, y, w, h = mask_box(truth)
        boxes.append((x - 3, y - 3, w + 6, h + 6))
    masks = segment(image, boxes)
    assert len(masks) == 2
    for mask, truth in zip(masks, truths, strict=True):
        assert mask.shape == truth.shape and mask.dtype == bool
        assert (mask & truth).sum() / (mask | truth).sum() >= 0.9  # measured 0.97 (face), 0.99 (coins)


def test_auto_segmenter_falls_back_to_grabcut_loudly_without_weights(monkeypatch, caplog) -> None:
    import vos_ros.core.weights as weights

    monkeypatch.setattr(weights, "DEFAULT_CHECKPOINT", Path("/nonexistent/vos_lite0.pt"))
    with caplog.at_level(logging.WARNING, logger="vos_ros.prompts.box_masks"):
        segment = make_segmenter("auto")
    assert segment is grabcut_masks and segmenter_kind(segment) == "grabcut"
    assert "falls back to GrabCut" in caplog.text and "/nonexistent/vos_lite0.pt" in caplog.text
    with pytest.raises(RuntimeError, match="segmenter 'tracker' requested.*nonexistent"):
        make_segmenter("tracker")


# -- the CLI on real photographs --------------------------------------------------------------------------
def _cli(tmp_path: Path, image: np.ndarray, text: str, segmenter: str = "grabcut"
         ) -> tuple[subprocess.CompletedProcess, np.ndarray, dict]:
    src = tmp_path / "image.png"
    Image.fromarray(image).save(src)
    out, js = tmp_path / "mask.png", tmp_path / "result.json"
    choice = [] if segmenter == "default" else ["--segmenter", segmenter]
    proc = subprocess.run([sys.executable, "-m", "vos_ros.tools.cli", "ground", str(src), text, "--out", str(out),
                           "--json", str(js), *choice], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    mask = np.asarray(Image.open(out))
    assert mask.dtype == np.uint8 and mask.shape == image.shape[:2] and set(np.unique(mask)) <= {0, 255}
    return proc, mask > 0, json.loads(js.read_text())


@needs_detectors
@pytest.mark.parametrize("name, text, label, segmenter", [
    ("coffee", "the cup", "cup", "grabcut"), ("chelsea", "a cat", "cat", "grabcut"),
    ("coffee", "the cup", "cup", "default"),  # the shipped weights' box path, no GrabCut fall-back
])
def test_cli_grounds_the_object_of_a_photo(tmp_path: Path, name: str, text: str, label: str, segmenter: str) -> None:
    if segmenter == "default":
        require_shipped_checkpoint()
    image = getattr(skimage.data, name)()
    proc, mask, result = _cli(tmp_path, image, text, segmenter)
    assert "GrabCut" not in proc.stderr, proc.stderr
    assert [o["label"] for o in result["objects"]] == [label]
    h, w = mask.shape
    # The cup and the cat fill the middle of their photographs: most of the mask lies there.
    assert 0.1 * h * w < mask.sum() < 0.8 * h * w
    ys, xs = np.nonzero(mask)
    assert 0.25 * w < xs.mean() < 0.75 * w and 0.2 * h < ys.mean() < 0.8 * h


@needs_detectors
def test_cli_writes_an_empty_mask_when_nothing_matches(tmp_path: Path) -> None:
    proc, mask, result = _cli(tmp_path, skimage.data.astronaut(), "the banana")
    assert not mask.any() and result["objects"] == [] and "nothing matches" in proc.stdout


def test_cli_reports_unreadable_images(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "vos_ros.tools.cli", "ground", str(tmp_path / "missing.png"),
                           "the cup", "--out", str(tmp_path / "m.png")], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "missing.png" in proc.stderr


def test_groups_parts_and_duplicates_are_not_separate_objects() -> None:
    image = np.full((200, 300, 3), 128, np.uint8)
    image[20:180, 10:290] = (200, 30, 30)             # a red table top ...
    image[40:100, 30:90] = (210, 20, 20)              # ... with two red boxes on it
    image[40:100, 200:260] = (210, 20, 20)

    def cand(box, source, label="", score=0.0, mask=True):
        m = np.zeros(image.shape[:2], bool)
        m[box[1]:box[3], box[0]:box[2]] = True
        return Candidate(box=box, source=source, mask=m if mask else None, label=label, detector_score=score)

    cands = [cand((10, 20, 290, 180), "detector", "dining table", 0.5, mask=False),
             cand((30, 40, 90, 100), "depth"), cand((200, 40, 260, 100), "depth"),
             cand((31, 41, 90, 100), "detector", "book", 0.4, mask=False),   # the left box again
             cand((35, 45, 60, 70), "colour")]                               # a part of the left box
    phrase = parse_phrase("all the red objects")
    scores = score_candidates(phrase, cands, coco_vocabulary(), imagenet_vocabulary(), image.shape[:2],
                              colour_names(image)).total
    assert np.all(scores >= 0.3)  # everything is red ...
    chosen = select(phrase, cands, scores, 0.3, image.shape[:2])
    assert sorted(chosen) in ([1, 2], [2, 3])  # ... but only the two boxes are objects
    # a second detector's box over most of the table (a group itself) does not make the table whole
    with_bed = [*cands, cand((20, 30, 280, 170), "detector", "bed", 0.3, mask=False)]
    scores = score_candidates(phrase, with_bed, coco_vocabulary(), imagenet_vocabulary(), image.shape[:2],
                              colour_names(image)).total
    assert np.all(scores >= 0.3)
    assert sorted(select(phrase, with_bed, scores, 0.3, image.shape[:2])) in ([1, 2], [2, 3])


def test_a_detection_is_a_part_only_of_a_larger_detection_of_the_same_object() -> None:
    """A pizza on a table whose crop the ImageNet head calls pizza: the pizza detection is the pizza,
    not a part of the table; a region inside the pizza is still a part of it. Two people, one in
    front of the other (boxes overlapping little), are two people."""
    image = np.zeros((200, 300, 3), np.uint8)
    table = Candidate(box=(0, 40, 300, 200), source="detector", label="dining table", detector_score=0.7,
                      imagenet=_imagenet_onehot("pizza"))
    pizza = Candidate(box=(20, 50, 280, 195), source="detector", label="pizza", detector_score=0.9,
                      imagenet=_imagenet_onehot("pizza"))
    slice_mask = np.zeros(image.shape[:2], bool)
    slice_mask[80:120, 60:120] = True
    slice_ = Candidate(box=(60, 80, 120, 120), source="region", mask=slice_mask, imagenet=_imagenet_onehot("pizza"))
    cands = [table, pizza, slice_]
    phrase = parse_phrase("the pizza")
    scored = score_candidates(phrase, cands, coco_vocabulary(), imagenet_vocabulary(), image.shape[:2])
    assert scored.detector[1] > 0.9 and scored.detector[0] == 0 and np.all(scored.total > 0.2)
    assert select(phrase, cands, scored.total, 0.2, image.shape[:2], detector_evidence=scored.detector) == [1]
    # without knowing which boxes the detector named, the larger match wins
    assert select(phrase, cands, scored.total, 0.2, image.shape[:2]) == [0]
    adult = Candidate(box=(100, 10, 220, 200), source="detector", label="person", detector_score=0.8)
    child = Candidate(box=(130, 100, 190, 200), source="detector", label="person", detector_score=0.9)
    phrase = parse_phrase("all the people")
    scored = score_candidates(phrase, [adult, child], coco_vocabulary(), imagenet_vocabulary(), image.shape[:2])
    assert sorted(select(phrase, [adult, child], scored.total, 0.3, image.shape[:2],
                         detector_evidence=scored.detector)) == [0, 1]
