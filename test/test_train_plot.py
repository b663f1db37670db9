"""The training log's loss plot (no training data needed)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from vos_ros.tools.train import plot_log


def test_a_run_shorter_than_the_plot_window_still_gets_its_loss_curve(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps({"step": s, "loss": 1.0 / s, "track": 0.5, "box": 0.2}) + "\n"
                           for s in range(1, 6)))
    png = plot_log(log, tmp_path / "loss.png", window=50)
    rgb = np.asarray(Image.open(png).convert("RGB")).astype(int)
    first_curve = np.abs(rgb - [0x1F, 0x77, 0xB4]).sum(-1) < 30  # matplotlib's first colour
    assert first_curve.sum() > 50, "no loss curve drawn for a 5-step run"
