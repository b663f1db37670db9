"""`vos-ros track` prompts: masks and boxes on later frames, a per-frame tracks log, clear refusals."""
from __future__ import annotations

import argparse
import json

import cv2
import numpy as np
import pytest
import yaml

from vos_ros.tools import cli
from vos_ros.tools.media import VideoWriter
from vos_ros.tools.synthetic_scene import Scene, Sprite
from vos_ros.tools.track import parse_box

FRAMES = 8


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple:
    sprites = [Sprite("face", "astronaut", (150, 20, 170, 190), (60, 60), (20, 30), (3, 1)),
               Sprite("coins", "coins", (0, 0, 160, 160), (50, 50), (150, 60), (-2, 1))]
    scene = Scene("coffee", (240, 160), sprites)
    rendered = [scene.render(k) for k in range(FRAMES)]
    folder = tmp_path_factory.mktemp("clip")
    with VideoWriter(folder / "clip.mp4", 10) as writer:
        for frame, _ in rendered:
            writer.write(frame)
    return folder, rendered


def test_mask_and_later_box_prompts_are_tracked_and_logged(clip, tmp_path, checkpoint):
    folder, rendered = clip
    face0 = rendered[0][1][0]                                   # the face's true mask on frame 0
    cv2.imwrite(str(tmp_path / "face.png"), face0.astype(np.uint8) * 255)
    config = tmp_path / "cfg.yaml"   # the frames' own size: scaled to 96 the toy sprites are lost by frame 7
    config.write_text(yaml.safe_dump({"/**/vos_tracker": {"ros__parameters": {
        "model.checkpoint": checkpoint, "model.input_short_side": 0, "model.threads": 1}}}))
    code = cli.main(["track", str(folder / "clip.mp4"), "--config", str(config), "--mask", str(tmp_path / "face.png"),
                     "--box", "150,60,50,50@3", "--label", "coins", "--out", str(tmp_path / "o.mp4"),
                     "--masks", str(tmp_path / "masks"), "--tracks", str(tmp_path / "tracks.jsonl"), "--fps", "10"])
    assert code == 0
    lines = [json.loads(s) for s in (tmp_path / "tracks.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in lines] == list(range(FRAMES)) and lines[5]["stamp"] == pytest.approx(0.5)
    assert [t["label"] for t in lines[2]["tracks"]] == ["face"]              # the coins enter on frame 3
    assert [t["label"] for t in lines[3]["tracks"]] == ["face", "coins"]
    labels = [cv2.imread(str(tmp_path / "masks" / f"{k:05d}.png"), cv2.IMREAD_UNCHANGED) for k in range(FRAMES)]
    for k in (FRAMES - 1, 4):                                    # later frames follow the objects
        face, coins = rendered[k][1][0], rendered[k][1][1]
        for track_id, truth in ((1, face), (2, coins)):
            found = labels[k] == track_id
            assert (found & truth).sum() / (found | truth).sum() > 0.5, (k, track_id)


def test_bad_prompts_are_refused_clearly(clip, tmp_path):
    folder, _ = clip
    with pytest.raises(argparse.ArgumentTypeError, match="frame after '@'"):
        parse_box("1,2,3,4@x")
    with pytest.raises(SystemExit, match="at least one"):
        cli.main(["track", str(folder / "clip.mp4"), "--out", str(tmp_path / "o.mp4")])
    code = cli.main(["track", str(folder / "clip.mp4"), "--box", "10,10,20,20@50", "--out", str(tmp_path / "o.mp4")])
    assert code == 2                                             # a prompt after the last frame
