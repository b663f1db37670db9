"""Overlay drawing and contact sheets on a real photograph."""
from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from vos_ros.core import visualize


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.ascontiguousarray(skimage.data.astronaut()[::2, ::2])  # 256 x 256 RGB


def test_colours_are_stable_distinct_and_black_for_background() -> None:
    assert visualize.colour_for(0) == (0, 0, 0)
    assert visualize.colour_for(3) == visualize.colour_for(3)
    colours = [np.array(visualize.colour_for(i)) for i in range(1, 21)]
    closest = min(np.abs(a - b).sum() for k, a in enumerate(colours) for b in colours[k + 1:])
    assert closest > 20


def test_overlay_tints_only_masks_and_draws_text(photo: np.ndarray) -> None:
    labels = np.zeros(photo.shape[:2], np.uint16)
    labels[40:120, 30:110] = 4
    labels[150:230, 140:240] = 9
    out = visualize.draw_overlay(photo, labels, {4: "cup", 9: "ball"})
    assert out.shape == photo.shape and out.dtype == np.uint8
    assert photo is not out and not np.shares_memory(out, photo)
    changed = np.any(out != photo, axis=2)
    # background far from masks and text is untouched; inside each mask the tint pulls towards its colour
    assert not changed[:30, 130:].any() and not changed[240:, :100].any()
    for i, (ys, xs) in ((4, (slice(45, 60), slice(35, 50))), (9, (slice(155, 170), slice(145, 160)))):
        colour = np.array(visualize.colour_for(i), float)
        before = np.abs(photo[ys, xs].astype(float) - colour).mean()
        after = np.abs(out[ys, xs].astype(float) - colour).mean()
        assert after < 0.7 * before
    # text at the box centre: dark outline pixels appear where the tint alone would not put them
    centre = out[75:85, 55:85].astype(int)
    tinted = (photo[75:85, 55:85] * 0.5 + np.array(visualize.colour_for(4)) * 0.5).astype(int)
    assert (np.abs(centre - tinted).sum(axis=2) > 60).mean() > 0.05


def test_text_sits_on_the_largest_part_of_a_mask(photo: np.ndarray) -> None:
    labels = np.zeros(photo.shape[:2], np.uint16)
    labels[150:230, 140:240] = 2
    labels[5:7, 5:7] = 2  # a stray speck far away
    out = visualize.draw_overlay(photo, labels, {2: "ball"}, alpha=0.0)
    changed = np.any(out != photo, axis=2)
    assert changed[185:197, 160:220].any()          # text at the centre of the big part
    assert not changed[30:140, 30:140].any()        # not between the speck and the big part


def test_overlay_without_objects_is_a_copy(photo: np.ndarray) -> None:
    out = visualize.draw_overlay(photo, np.zeros(photo.shape[:2], np.uint16))
    np.testing.assert_array_equal(out, photo)


def test_overlay_rejects_mismatched_inputs(photo: np.ndarray) -> None:
    with pytest.raises(ValueError, match="does not match the frame"):
        visualize.draw_overlay(photo, np.zeros((10, 10), np.uint16))
    with pytest.raises(ValueError, match="H x W x 3 uint8"):
        visualize.draw_overlay(photo[..., 0], np.zeros(photo.shape[:2], np.uint16))


def test_contact_sheet_layout(photo: np.ndarray) -> None:
    frames = [photo, photo[:, ::-1].copy(), photo[::-1].copy(), photo, photo]
    strip = visualize.CAPTION_HEIGHT
    sheet = visualize.contact_sheet(frames, columns=2, tile_width=100, captions=list("abcde"))
    assert sheet.shape == (3 * (100 + strip), 2 * 100, 3)
    assert (sheet[2 * (100 + strip):, 100:] == 255).all()  # the unused sixth cell stays white
    # Captions are written in the strip above each tile and leave the tile itself untouched.
    small = visualize.contact_sheet([frames[2]], columns=1, tile_width=100)
    assert small.shape == (100, 100, 3)
    row1 = 100 + strip
    np.testing.assert_array_equal(sheet[row1 + strip:row1 + strip + 100, 0:100], small)
    caption = sheet[row1:row1 + strip, 0:100]
    assert (caption < 128).any() and (caption == 255).mean() > 0.7  # dark text on white
    with pytest.raises(ValueError, match="2 captions for 5 frames"):
        visualize.contact_sheet(frames, captions=["a", "b"])
    with pytest.raises(ValueError, match="at least one frame"):
        visualize.contact_sheet([])


def test_pick_evenly() -> None:
    assert visualize.pick_evenly(10, 4) == [0, 3, 6, 9]
    assert visualize.pick_evenly(3, 8) == [0, 1, 2]
    assert visualize.pick_evenly(0, 3) == []
