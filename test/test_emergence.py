"""Emergence without ROS: objects given again on a later frame (an active phrase grounded again) are
matched to the tracks they are, and only new instances become new tracks; a track does not jump onto
a look-alike that comes into view beside it."""
from __future__ import annotations

import cv2
import numpy as np
import skimage.data
import torch

from vos_ros.core.config import TrackerConfig
from vos_ros.core.emergence import match_to_tracks
from vos_ros.core.motion import BoxPrior, gate_weights
from vos_ros.core.session import Session
from vos_ros.core.types import Prompt
from vos_ros.core.weights import load_model

TRACKED = (10, 10, 40, 40)


def test_boxes_overlapping_a_track_are_that_track_one_to_one() -> None:
    same = (12, 8, 40, 44)        # the tracked cup, boxed a little differently
    part = (20, 20, 15, 15)       # inside the tracked cup (its handle)
    new = (60, 10, 30, 40)        # elsewhere
    touching = (45, 10, 30, 40)   # overlapping the tracked box a little
    assert match_to_tracks([same, new, touching], [TRACKED]) == [0, None, None]
    assert match_to_tracks([part, new], [TRACKED]) == [0, None]
    assert match_to_tracks([same, part], [TRACKED]) == [0, None]    # one object per track: the closer one
    assert match_to_tracks([same, new], []) == [None, None]
    assert match_to_tracks([new, same], [(60, 12, 30, 38), TRACKED]) == [0, 1]


def test_any_object_s_mask_jumping_to_twice_its_size_is_cut_to_its_predicted_box() -> None:
    """Not a look-alike, so not gated: it may grow steadily, but not jump onto a neighbour in one frame."""
    track = TrackerConfig.load().track
    probs = torch.zeros(1, 1, 40, 60)
    probs[0, 0, 10:20, 10:20] = 0.9
    prior = BoxPrior()
    prior.observe((10, 10, 19, 19), 100, frame=0, max_growth=track.max_growth)
    prior.recent_area = 100
    probs[0, 0, 10:20, 20:24] = 0.9          # 1.4x: grown, kept
    weights, reliable = gate_weights(probs, [prior], [False], 1, track)
    assert bool(weights.all()) and reliable == [True]
    probs[0, 0, 10:20, 24:40] = 0.9          # 3x in one frame: jumped onto something beside it
    weights, reliable = gate_weights(probs, [prior], [False], 1, track)
    kept = (probs * weights)[0, 0] > 0.5
    assert kept[10:20, 10:20].all() and int(kept.sum()) == 100 and reliable == [False]
    prior.recent_area = 250                  # ... but grown to 2.5x over earlier frames: kept
    weights, reliable = gate_weights(probs, [prior], [False], 1, track)
    assert bool(weights.all()) and reliable == [True]


def test_a_look_alike_put_down_beside_a_tracked_cup_becomes_a_new_track() -> None:
    """A cup (with its saucer) is tracked; a second, bluish cup appears beside it. Before the jump check
    the first cup's mask spread over both within a frame (22,321 px against 13,335; measured at this
    size) and went on to cover the table; given again in the order (right, left), the left cup is matched
    to its track by where the track reliably is, and the right one becomes track 2."""
    photo = cv2.resize(skimage.data.coffee(), (150, 100), interpolation=cv2.INTER_AREA)
    one = np.full((200, 300, 3), 90, np.uint8)
    one[50:150, :150] = photo
    two = one.copy()
    two[50:150, 150:] = photo[:, ::-1, ::-1]
    left = np.zeros((200, 300), np.uint8)
    cv2.ellipse(left, (70, 100), (62, 48), 0, 0, 360, 1, -1)
    left, right = left > 0, left[:, ::-1] > 0
    config = TrackerConfig.load(model__input_short_side=200)
    session = Session(load_model(config.model), config)
    session.step(one, [Prompt(mask=left, label="cup")])
    for _ in range(8):
        area = session.step(one).by_id(1).area
    for _ in range(3):
        result = session.step(two)
        assert result.by_id(1).area < 1.3 * area and not result.by_id(1).mask[:, 160:].any()
    ids, existing = session.add_new_objects([Prompt(mask=right, label="cup"), Prompt(mask=left, label="cup")],
                                            two.copy())
    assert ids == [2] and existing == [0, 1]
    for _ in range(4):
        result = session.step(two)
    first, second = result.by_id(1).mask, result.by_id(2).mask
    assert (first & left).sum() >= 0.5 * left.sum() and not first[:, 160:].any()
    assert (second & right).sum() >= 0.5 * right.sum() and not second[:, :140].any()
    assert session.add_new_objects([Prompt(mask=left), Prompt(mask=right)]) == ([], [1, 2])  # nothing new
