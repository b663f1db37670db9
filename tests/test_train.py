"""`vos-ros train` end to end on tiny clips: a run, then a resumed fine-tuning stage with its own
learning-rate schedule and real-scene box crops (skipped without the shared training data)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from vos_ros.tools import train_data as td
from vos_ros.tools.cli import main
from vos_ros.tools.davis_io import data_root

DATA = data_root()
pytestmark = pytest.mark.skipif(not ((DATA / td.COCO_DIR).is_dir() and (DATA / td.DAVIS_TRAIN_DIR).is_dir()),
                                reason=f"shared training data not found under {DATA}")
TINY = ["--davis-from", "0", "--batch", "1", "--frames", "2", "--size", "64x96", "--threads", "1",
        "--workers", "0", "--save-every", "1"]


def log_of(run: Path) -> dict[int, dict]:
    return {e["step"]: e for e in map(json.loads, (run / "log.jsonl").read_text().splitlines())}


def test_a_new_stage_restarts_the_schedule_and_trains_real_boxes(tmp_path: Path) -> None:
    run = tmp_path / "tiny"
    assert main(["train", "--name", "tiny", "--runs", str(tmp_path), "--steps", "2", *TINY]) == 0
    first = log_of(run)
    assert sorted(first) == [1, 2] and first[2]["lr"] == 0.0 and "real_box" not in first[2]
    assert main(["train", "--name", "tiny", "--runs", str(tmp_path), "--steps", "5", "--resume", "--new-stage",
                 "--lr", "5e-4", "--real-boxes", "2", *TINY]) == 0
    stage = log_of(run)
    # Logged after each step: the rate of the next one, on a cosine over the stage's 3 steps at --lr
    # (not the old run's tail, which had reached 0).
    assert stage[3]["lr"] == pytest.approx(5e-4 * 0.5 * (1 + math.cos(math.pi / 3)))
    assert stage[4]["lr"] < stage[3]["lr"] and stage[5]["lr"] == 0.0
    assert all(stage[s]["real_box"] > 0 for s in (3, 4, 5))
    ckpt = torch.load(run / "last.pt", weights_only=False)
    assert ckpt["step"] == 5 and ckpt["stage_start"] == 2
    assert (run / "weights.pt").is_file() and (run / "loss.png").is_file()
