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


def test_a_non_finite_step_is_skipped_and_the_weights_stay_finite(tmp_path: Path, monkeypatch) -> None:
    """A NaN loss (here injected on the second step; bf16 runs met one after ~600 steps) must not
    reach the weights or the checkpoint; the run goes on and logs the skipped step."""
    from vos_ros.tools import train

    real_clip_loss, calls = train.clip_loss, []

    def nan_on_second_call(*args, **kwargs):
        loss, stats = real_clip_loss(*args, **kwargs)
        calls.append(1)
        return (loss * float("nan") if len(calls) == 2 else loss), stats

    monkeypatch.setattr(train, "clip_loss", nan_on_second_call)
    assert main(["train", "--name", "nan", "--runs", str(tmp_path), "--steps", "3", "--precision", "bf16",
                 *TINY]) == 0
    log = log_of(tmp_path / "nan")
    assert [log[s]["skipped"] for s in (1, 2, 3)] == [0, 1, 1] and math.isnan(log[2]["loss"])
    assert math.isfinite(log[3]["loss"])
    weights = torch.load(tmp_path / "nan" / "last.pt", weights_only=False)["model"]
    assert all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())


def test_a_stage_from_shipped_weights_exports_the_mean_of_its_steps(tmp_path: Path) -> None:
    assert main(["train", "--name", "base", "--runs", str(tmp_path), "--steps", "2", *TINY]) == 0
    shipped = torch.load(tmp_path / "base" / "weights.pt", weights_only=False)["state_dict"]

    def trained(steps: int, *extra: str) -> dict[str, torch.Tensor]:
        assert main(["train", "--name", "swa", "--runs", str(tmp_path), "--steps", str(steps), "--lr", "1e-3",
                     "--init", str(tmp_path / "base" / "weights.pt"), "--average-from", "2", *extra, *TINY]) == 0
        return torch.load(tmp_path / "swa" / "last.pt", weights_only=False)["model"]

    # at learning rate 0 the run keeps the weights it started from
    assert main(["train", "--name", "lr0", "--runs", str(tmp_path), "--steps", "1", "--lr", "0",
                 "--init", str(tmp_path / "base" / "weights.pt"), *TINY]) == 0
    kept = torch.load(tmp_path / "lr0" / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(kept[k].half(), v) for k, v in shipped.items())

    first = trained(1)
    second = trained(2, "--resume")
    third = trained(3, "--resume")
    moved = [k for k in shipped if not torch.equal(second[k], third[k])]
    assert moved and any(not torch.equal(first[k], second[k]) for k in moved)
    exported = torch.load(tmp_path / "swa" / "weights.pt", weights_only=False)
    assert exported["meta"]["averaged_steps"] == 2  # steps 2 and 3, not step 1
    for k in shipped:
        if shipped[k].is_floating_point():
            mean = ((second[k].float() + third[k].float()) / 2).half()
            assert torch.allclose(exported["state_dict"][k].float(), mean.float(), atol=1e-3), k
