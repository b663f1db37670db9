"""vos-ros bench speed: steady state (moving frames, memory at its bound), interleaved rounds, JSON fields."""
import json

import numpy as np
import pytest

from vos_ros.tools.bench_speed import DEMO_VIDEO, MovingFrames
from vos_ros.tools.cli import main
from vos_ros.tools.davis_io import data_root

SMALL_MEMORY = """/**/vos_tracker:
  ros__parameters:
    memory.working_frames: 2
    memory.long_term_tokens: 16
    memory.prototypes_per_frame: 8
"""


def tiny_bench(tmp_path, *args: str) -> dict:
    """`vos-ros bench speed` at 96x64 with a small memory and ``args`` -> its JSON."""
    config, out = tmp_path / "small_memory.yaml", tmp_path / "bench.json"
    config.write_text(SMALL_MEMORY)
    assert main(["bench", "speed", "--sizes", "64x96", "--frames", "2", "--config", str(config), "--json", str(out),
                 *args]) == 0
    return json.loads(out.read_text())


def test_a_tiny_run_writes_sane_medians_and_spreads(tmp_path, capsys):
    result = tiny_bench(tmp_path, "--objects", "1,2", "--rounds", "2", "--device", "cpu")
    assert result["device"] == "cpu" and result["runtime"] == "torch" and result["rounds"] == 2
    assert [(r["input"], r["network_input"], r["objects"]) for r in result["rows"]] == [
        ("96x64", "96x64", 1), ("96x64", "96x64", 2)]
    for row in result["rows"]:
        for key in ("step_ms", "backbone_ms", "ratio", "vs_one_object"):
            d = row[key]
            assert 0 < d["min"] <= d["median"] <= d["max"], (key, d)
        assert row["fps"] == pytest.approx(1e3 / row["step_ms"]["median"])
        assert 0 <= row["visible"] <= row["objects"]
        memory = row["memory"]   # at its bound before the first timed frame
        assert memory["working_frames"] == 2 and memory["long_term_tokens"] == 16 and memory["prompt_frames"] == 1
        assert row["warmup_frames"] >= 1 + 2 + 16 // 8
    assert result["rows"][0]["vs_one_object"]["median"] == 1.0
    table = capsys.readouterr().out
    assert "step/backbone" in table and "vs 1 object" in table and "2 interleaved rounds x 2 timed frames" in table


def test_the_onnxruntime_graphs_are_timed_against_the_frame_encoder_graph(tmp_path, capsys):
    """The same table for model.runtime onnxruntime (graphs from the export cache: exported on first use)."""
    for module in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(module)
    result = tiny_bench(tmp_path, "--objects", "1", "--rounds", "1", "--runtime", "onnxruntime")
    assert (result["runtime"], result["reference"], result["precision"]) == ("onnxruntime", "frame-encoder graph",
                                                                             "fp32")
    assert [(r["objects"], r["step_ms"]["median"] > r["backbone_ms"]["median"] > 0) for r in result["rows"]] == [
        (1, True)]
    assert "runtime onnxruntime (backbone column: the frame-encoder graph)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["bench", "speed", "--runtime", "tensorrt"])
    assert "invalid choice: 'tensorrt'" in capsys.readouterr().err


@pytest.mark.parametrize("source", ["photo", "video"])
def test_the_frames_move(source):
    video = data_root() / DEMO_VIDEO
    if source == "video" and not video.is_file():
        pytest.skip(f"{video} absent")
    frames = MovingFrames(video if source == "video" else None, 48)
    clip = [frames.frame(k, 48, 80) for k in range(0, 60, 5)]
    assert all(f.shape == (48, 80, 3) for f in clip)
    assert all(not np.array_equal(a, b) for a, b in zip(clip, clip[1:], strict=False))


def test_churn_removes_every_other_object_keeps_the_rest_and_reports_memory(tmp_path, capsys):
    out, png = tmp_path / "churn.json", tmp_path / "churn.png"
    assert main(["bench", "churn", "--objects", "3", "--frames-each", "4", "--visible", "2", "--remove",
                 "alternate", "--size", "64x96", "--json", str(out), "--plot", str(png)]) == 0
    result = json.loads(out.read_text())
    assert len(result["per_scene_ms"]) == len(result["memory"]) == len(result["resident_bytes"]) == 3
    assert [m["objects"] for m in result["memory"]] == [0, 1, 1]   # objects 0 and 2 removed, object 1 kept
    assert all(0 < m["tokens"] <= m["token_bound"] for m in result["memory"])
    assert result["ratio"] == pytest.approx(result["last_ms"] / result["first_ms"])
    assert png.stat().st_size > 0
    assert "12 frames: step" in capsys.readouterr().out
