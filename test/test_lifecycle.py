"""`vos-ros make-lifecycle` clips (look-alikes swapping, a covering hand, exits) and their identity score."""
from __future__ import annotations

import json

import numpy as np
import pytest

from vos_ros.tools.davis_io import data_root
from vos_ros.tools.eval_lifecycle import RETURN_FRAMES, score_clip

needs_data = pytest.mark.skipif(not (data_root() / "coco_subset").is_dir(), reason="../shared/data absent")


def two_squares(frames: int, hide: range = range(0)) -> list[np.ndarray]:
    """Two 20x20 objects (ids 1, 2) side by side; object 2 is gone during ``hide``."""
    out = []
    for t in range(frames):
        lab = np.zeros((60, 100), np.uint8)
        lab[20:40, 10:30] = 1
        if t not in hide:
            lab[20:40, 60:80] = 2
        out.append(lab)
    return out


def test_a_perfect_prediction_keeps_every_id_and_is_absent_while_hidden() -> None:
    gt = two_squares(40, hide=range(10, 20))
    rates = score_clip(gt, gt, [{"kind": "cover", "objects": [2], "frames": [10, 20]}]).rates()
    assert rates["kept"]["rate"] == 1 and rates["stolen"]["rate"] == 0 and rates["on_other"]["rate"] == 0
    assert rates["absent"] == {"rate": 1.0, "count": 10}
    assert rates["back"] == {"rate": 1.0, "count": 1}
    assert rates["cover_kept"] == {"rate": 1.0, "count": RETURN_FRAMES}


def test_swapped_ids_a_ghost_and_a_spread_are_counted() -> None:
    gt = two_squares(40, hide=range(10, 20))
    pred = [lab.copy() for lab in gt]
    for t in range(10, 20):
        pred[t][20:40, 60:80] = 2                    # a ghost: id 2 stays where its object was covered
    for t in range(25, 40):
        pred[t] = np.where(gt[t] == 1, 2, np.where(gt[t] == 2, 1, 0)).astype(np.uint8)  # ids swapped
    rates = score_clip(gt, pred, []).rates()
    assert rates["absent"]["rate"] == 0
    assert rates["stolen"]["rate"] == pytest.approx(2 * 14 / (2 * 38 - 10))  # frames 25..38, both objects
    assert rates["on_other"]["rate"] > 0.3
    spread = [lab.copy() for lab in gt]
    for t in range(1, 40):
        spread[t][gt[t] == 2] = 1                    # id 1 over both objects
    assert score_clip(gt, spread, []).rates()["on_other"]["rate"] > 0.5


@needs_data
def test_make_lifecycle_writes_a_davis_root_whose_events_happen_in_the_ground_truth(tmp_path) -> None:
    from vos_ros.tools.davis_io import DavisSequence
    from vos_ros.tools.make_lifecycle import write_clips

    described = write_clips(tmp_path, "val", clips=3, frames=70, size=(144, 256), seed=3)
    events = json.loads((tmp_path / "events.json").read_text())["clips"]
    assert events == json.loads(json.dumps(described)) and len(events) == 3
    kinds = set()
    for name, clip in events.items():
        gt = DavisSequence.open(tmp_path, name).all_labels()
        ids = sorted(int(k) for k in np.unique(gt[0]) if k)
        assert ids == [int(k) for k in clip["objects"]] and 3 <= len(ids) <= 4
        assert sum(o["lookalike"] for o in clip["objects"].values()) == len(ids) - 1
        area0 = {k: (gt[0] == k).sum() for k in ids}
        for event in clip["events"]:
            kinds.add(event["kind"])
            start, end = event["frames"]
            assert 0 < start < end < len(gt)
            k = event["objects"][0]
            middle = (start + end) // 2
            if event["kind"] in ("cover", "exit"):   # hidden in the middle, back at the end
                assert (gt[middle] == k).sum() < 0.05 * area0[k], (name, event)
                assert (gt[end] == k).sum() > 0.5 * area0[k], (name, event)
            else:                                    # the two look-alikes traded places
                j = event["objects"][1]
                centre = {o: np.argwhere(gt[t] == o).mean(0) for o, t in ((k, end), (j, 0))}
                assert np.abs(centre[k] - centre[j]).max() < 0.2 * np.sqrt(area0[j]), (name, event)
    assert kinds == {"swap", "cover", "exit"}


@needs_data
def test_carry_hides_a_lookalike_under_the_hand_while_it_trades_places_with_another(tmp_path) -> None:
    """The shell game's move: the carried look-alike is hidden mid-way and ends where the other one started,
    which ends where the carried one started; the default events never include it."""
    from vos_ros.tools.davis_io import DavisSequence
    from vos_ros.tools.make_lifecycle import EVENTS, write_clips

    assert "carry" not in EVENTS
    described = write_clips(tmp_path, "val", clips=2, frames=70, size=(144, 256), seed=3, events=("carry",))
    for name, clip in described.items():
        assert [e["kind"] for e in clip["events"]] == ["carry"]
        (start, end), (i, j) = clip["events"][0]["frames"], clip["events"][0]["objects"]
        gt = DavisSequence.open(tmp_path, name).all_labels()
        area0 = {k: (gt[0] == k).sum() for k in (i, j)}
        assert (gt[(start + end) // 2] == i).sum() < 0.05 * area0[i], name        # under the hand
        assert (gt[end] == i).sum() > 0.5 * area0[i], name                          # the hand went up
        for a, b in ((i, j), (j, i)):
            moved_to, started_at = np.argwhere(gt[end] == a).mean(0), np.argwhere(gt[0] == b).mean(0)
            assert np.abs(moved_to - started_at).max() < 0.2 * np.sqrt(area0[b]), (name, a)
