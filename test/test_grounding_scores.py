"""The grounding score's calibration: the logistic fit, its file, the cues, and the fitting command."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vos_ros.prompts.candidates import Candidate
from vos_ros.prompts.detector import model_dir
from vos_ros.prompts.phrase import parse_phrase
from vos_ros.prompts.scoring import (
    CALIBRATION_FILE,
    CATEGORY_FEATURES,
    ScoreCalibration,
    category_features,
    score_candidates,
)
from vos_ros.prompts.vocabulary import coco_vocabulary, imagenet_vocabulary
from vos_ros.tools.davis_io import data_root
from vos_ros.tools.fit_grounding import SYNONYMS, TRAIN_FOLDER, fit_logistic, proxy_success, with_synonyms

REPO = Path(__file__).resolve().parents[1]


def test_fit_logistic_recovers_the_model_that_made_the_labels() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(40000, 3)) * [1.0, 2.0, 0.5] + [0.0, 0.5, 1.0]
    true_w, true_b = np.array([1.5, -0.7, 2.0]), -1.5
    p = 1.0 / (1.0 + np.exp(-(features @ true_w + true_b)))
    labels = (rng.random(len(p)) < p).astype(float)
    weights, bias = fit_logistic(features, labels)
    assert np.allclose(weights, true_w, atol=0.1) and abs(bias - true_b) < 0.15
    fitted = ScoreCalibration(weights=weights.astype(np.float32), bias=bias)(features.astype(np.float32))
    for lo in (0.1, 0.3, 0.5, 0.7):  # calibrated: in each score bin, the share of positives is the score
        sel = (fitted >= lo) & (fitted < lo + 0.2)
        assert abs(labels[sel].mean() - fitted[sel].mean()) < 0.03


def test_calibration_file_is_strict_about_its_features(tmp_path: Path) -> None:
    shipped = ScoreCalibration.load()
    assert shipped.weights.shape == (len(CATEGORY_FEATURES),)
    data = json.loads(CALIBRATION_FILE.read_text())
    assert data["fitted"]["data"] == TRAIN_FOLDER  # fitted on train2017, never on the benchmark's val images
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**data, "features": ["detector", "colour"]}))
    with pytest.raises(ValueError, match="colour"):
        ScoreCalibration.load(bad)


def test_category_cues_and_calibrated_scores() -> None:
    shape = (200, 300)
    onehot = np.zeros(1000, np.float32)
    onehot[imagenet_vocabulary().names.index("cup")] = 1.0
    cup = Candidate(box=(20, 20, 80, 100), source="detector", label="cup", detector_score=0.5, imagenet=onehot)
    weak = Candidate(box=(200, 20, 230, 60), source="detector", label="cup", detector_score=0.25)
    other = Candidate(box=(100, 140, 200, 190), source="detector", label="banana", detector_score=0.9)
    cands = [cup, weak, other]
    features = category_features(parse_phrase("the cup"), cands, coco_vocabulary(), imagenet_vocabulary(),
                                 float(shape[0] * shape[1]))
    assert features.shape == (3, len(CATEGORY_FEATURES))
    detector, imagenet, raw, related, log_area, relative = features.T
    assert detector[0] == pytest.approx(1.0) and 0 < detector[1] < 0.3 and detector[2] == 0  # a banana is no cup
    assert imagenet[0] > 0.9 and imagenet[1] == 0  # the crop of the first reads "cup"; the second has none
    assert raw[0] == pytest.approx(0.5) and related[1] == pytest.approx(0.25) and related[2] == 0
    assert log_area[0] == pytest.approx(np.log(60 * 80 / 60000), rel=1e-5)
    assert relative[0] == pytest.approx(1.0) and relative[1] < 0.3
    scores = score_candidates(parse_phrase("the cup"), cands, coco_vocabulary(), imagenet_vocabulary(), shape)
    assert scores.total[0] > 0.7 > scores.total[1] > scores.total[2]
    assert np.all((scores.total > 0) & (scores.total < 1))


def test_proxy_success_of_a_prompt() -> None:
    prompt = {"type": "category", "instances": 2, "match": np.array([0, 1, -1, -1, 0])}
    assert proxy_success(prompt, [0, 1]) and proxy_success(prompt, [0])   # half the instances is enough
    assert proxy_success(prompt, [0, 2])                                  # half the choice right is enough
    assert not proxy_success(prompt, [0, 2, 3]) and not proxy_success(prompt, [2]) and not proxy_success(prompt, [])
    assert proxy_success({"type": "negative", "instances": 0, "match": np.array([-1])}, [])
    assert not proxy_success({"type": "negative", "instances": 0, "match": np.array([-1])}, [0])


def test_training_prompts_also_use_the_other_name_of_a_class() -> None:
    prompts = [("the cup", "category", "cup"), ("all the cups", "category", "cup"), ("the cat", "category", "cat"),
               ("the dog", "negative", "")]
    assert with_synonyms(prompts) == [*prompts, ("the mug", "category", "cup"), ("all the mugs", "category", "cup")]
    for one, many in SYNONYMS.values():  # the phrase parser reads each plural back as the name
        assert parse_phrase(f"all the {many}").noun == one and parse_phrase(f"the {one}").noun == one


@pytest.mark.skipif(not (data_root() / TRAIN_FOLDER / "objects.json").is_file() or not (
    model_dir() / "nanodet.json").is_file(), reason="needs ../shared/data/train_extra and the detector files")
def test_fit_command_on_a_few_training_images(tmp_path: Path) -> None:
    out = tmp_path / "scores.json"
    proc = subprocess.run([sys.executable, "-m", "vos_ros.tools.cli", "fit", "grounding", "--limit", "4",
                           "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "log loss" in proc.stdout and "threshold" in proc.stdout
    data = json.loads(out.read_text())
    assert data["fitted"]["images"] == 4 and data["fitted"]["candidates"] > data["fitted"]["right"] > 0
    ScoreCalibration.load(out)  # what the command writes, grounding reads
