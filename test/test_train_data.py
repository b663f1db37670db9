"""Training clips (vos_ros/tools/train_data.py) on the real shared data; skipped when it is absent."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vos_ros.tools import train_data as td
from vos_ros.tools.davis_io import data_root

DATA = data_root()
pytestmark = pytest.mark.skipif(not ((DATA / td.COCO_DIR).is_dir() and (DATA / td.DAVIS_TRAIN_DIR).is_dir()),
                                reason=f"shared training data not found under {DATA}")
T, SIZE, K = 3, (120, 216), 3  # small clips keep the tests fast; the generators scale with size


@pytest.fixture(scope="module")
def synthetic() -> td.SyntheticClips:
    return td.SyntheticClips(length=200, frames=T, size=SIZE, max_objects=K, seed=0)


@pytest.fixture(scope="module")
def davis() -> td.DavisClips:
    return td.DavisClips(length=200, frames=T, size=SIZE, max_objects=K, seed=0)


@pytest.fixture(scope="module")
def synthetic_items(synthetic: td.SyntheticClips) -> list[dict[str, torch.Tensor]]:
    return [synthetic[i] for i in range(60)]


def check_format(item: dict[str, torch.Tensor]) -> None:
    h, w = SIZE
    assert set(item) == {"frames", "masks", "valid", "times", "instance"}
    assert item["frames"].shape == (T, 3, h, w) and item["frames"].dtype == torch.uint8
    assert item["masks"].shape == (T, K, h, w) and item["masks"].dtype == torch.bool
    assert item["valid"].shape == (K,) and item["valid"].dtype == torch.bool
    assert item["times"].shape == (T,) and item["times"].dtype == torch.int64
    assert item["instance"].shape == (K,) and item["instance"].dtype == torch.int64
    valid = item["valid"]
    assert valid.any()
    # Used slots come first, unused slots hold no pixels.
    assert valid.tolist() == sorted(valid.tolist(), reverse=True)
    assert not item["masks"][:, ~valid].any()
    # Each pixel belongs to at most one object.
    assert int(item["masks"].sum(1).max()) <= 1
    assert (item["times"][1:] > item["times"][:-1]).all()


def test_synthetic_format_and_first_frame(synthetic: td.SyntheticClips,
                                          synthetic_items: list[dict[str, torch.Tensor]]) -> None:
    for item in synthetic_items:
        check_format(item)
        first = item["masks"][0].flatten(1).sum(1)
        assert (first[item["valid"]] >= synthetic.min_first_px).all(), first
        gaps = item["times"].diff()
        assert (gaps == gaps[0]).all() and 1 <= int(gaps[0]) <= synthetic.max_gap
        assert int(item["times"][0]) == 0
    counts = [int(it["valid"].sum()) for it in synthetic_items]
    assert set(counts) == {1, 2, 3}  # every object count from 1 to K occurs


def test_synthetic_events(synthetic_items: list[dict[str, torch.Tensor]]) -> None:
    """Over a sample: objects that leave, objects that leave and return, look-alike twins, varied gaps."""
    exits = returns = twins = 0
    for item in synthetic_items:
        present = item["masks"].flatten(2).any(2)[:, item["valid"]]  # T x n
        exits += int((~present[1:]).any(0).sum())
        returns += int((~present[1] & present[2]).sum())
        used = item["instance"][item["valid"]].tolist()
        twins += len(used) - len(set(used))
    assert exits >= 3 and returns >= 1 and twins >= 1, (exits, returns, twins)
    assert len({int(it["times"][1]) for it in synthetic_items}) >= 4


def test_davis_format(davis: td.DavisClips) -> None:
    for i in range(20):
        item = davis[i]
        check_format(item)
        assert item["valid"].tolist() == [True] + [False] * (K - 1)
        assert int(item["masks"][0, 0].sum()) >= davis.min_first_px
        gaps = item["times"].diff()
        # Stored DAVIS train frames are every 3rd real frame.
        assert ((gaps % 3 == 0) & (gaps >= 3) & (gaps <= 3 * davis.max_skip)).all(), gaps
        assert (item["instance"] == -1).all()


def test_davis_masks_follow_the_frames(tmp_path) -> None:
    """A DAVIS-layout root whose frames are white exactly on the object: after crop, zoom, pan and flip
    the clip's masks still cover the white pixels and only them."""
    seq = tmp_path / td.DAVIS_TRAIN_DIR
    (seq / "ImageSets").mkdir(parents=True)
    (seq / "ImageSets" / "all.txt").write_text("blob\n")
    for d in ("JPEGImages", "Annotations"):
        (seq / d / "480p" / "blob").mkdir(parents=True)
    yy, xx = np.mgrid[:240, :427]
    for i in range(6):  # an ellipse moving right, every 3rd real frame stored
        mask = ((xx - 120 - 20 * i) / 60) ** 2 + ((yy - 110) / 40) ** 2 <= 1
        Image.fromarray(np.repeat(mask[..., None] * np.uint8(255), 3, 2)).save(
            seq / "JPEGImages" / "480p" / "blob" / f"{3 * i:05d}.jpg", quality=95)
        Image.fromarray(mask.astype(np.uint8) * 255).save(seq / "Annotations" / "480p" / "blob" / f"{3 * i:05d}.png")
    data = td.DavisClips(length=12, frames=T, size=SIZE, max_objects=K, root=tmp_path)
    for i in range(12):
        item = data[i]
        grey = item["frames"].float().mean(1)  # T x H x W
        mask = item["masks"][:, 0]
        assert (grey[mask] > 100).float().mean() > 0.97
        assert (grey[~mask] < 100).float().mean() > 0.99
    # Both flips occur in the sample: the ellipse's centre moves right in some clips and left in others.
    def drift(item: dict[str, torch.Tensor]) -> float:
        cols = [torch.nonzero(m)[:, 1].float().mean() for m in item["masks"][:, 0]]
        return float(cols[-1] - cols[0])
    assert {np.sign(drift(data[i])) for i in range(12)} == {-1.0, 1.0}


def test_masks_align_with_pasted_pixels(synthetic: td.SyntheticClips) -> None:
    """Paste pure-magenta instances: mask pixels are magenta, and magenta pixels are mask pixels."""
    square = np.zeros((60, 40), np.uint8)
    square[5:55, 5:35] = 255
    magenta = np.zeros((60, 40, 3), np.uint8)
    magenta[..., 0] = magenta[..., 2] = 255
    data = td.SyntheticClips(length=20, frames=T, size=SIZE, max_objects=K, seed=5, max_clutter=0)
    data.instances = tuple(td.Instance(magenta, square, int((square > 0).sum()), str(i), "box") for i in range(8))
    for i in range(20):
        item = data[i]
        rgb = item["frames"].permute(0, 2, 3, 1).numpy().astype(int)
        is_magenta = (rgb[..., 0] > 150) & (rgb[..., 1] < 70) & (rgb[..., 2] > 150)
        union = item["masks"].any(1).numpy()
        assert is_magenta[union].mean() > 0.95
        if is_magenta.any():
            assert union[is_magenta].mean() > 0.9


def test_deterministic_per_seed_and_index(synthetic: td.SyntheticClips, davis: td.DavisClips) -> None:
    for data in (synthetic, davis):
        a, b = data[7], data[7]
        assert all(torch.equal(a[k], b[k]) for k in a)
        assert not torch.equal(a["frames"], data[8]["frames"])
    other = td.SyntheticClips(length=200, frames=T, size=SIZE, max_objects=K, seed=1)
    assert not torch.equal(other[7]["frames"], synthetic[7]["frames"])
    first = synthetic[7]
    synthetic.set_epoch(1)
    try:
        assert not torch.equal(synthetic[7]["frames"], first["frames"])
    finally:
        synthetic.set_epoch(0)
    assert torch.equal(synthetic[7]["frames"], first["frames"])


def test_mixed_ratio_and_loader(synthetic: td.SyntheticClips, davis: td.DavisClips) -> None:
    mixed = td.MixedClips(synthetic, davis, synthetic_fraction=0.7, length=100)
    from_davis = sum(int((mixed[i]["instance"] == -1).all()) for i in range(100))
    assert 15 <= from_davis <= 45, from_davis
    batches = [next(iter(td.make_loader(mixed, batch_size=2, num_workers=n, seed=3))) for n in (0, 1)]
    assert batches[0]["frames"].shape == (2, T, 3, *SIZE)
    assert batches[0]["masks"].dtype == torch.bool
    # Same seed: the same batch whether clips are made in the main process or in a worker.
    assert all(torch.equal(batches[0][k], batches[1][k]) for k in batches[0])


def test_contact_sheet(tmp_path, synthetic_items: list[dict[str, torch.Tensor]]) -> None:
    path = td.save_contact_sheet(synthetic_items[:3], tmp_path / "sheet.png")
    sheet = np.asarray(Image.open(path))
    assert sheet.shape == (3 * (SIZE[0] + 4), T * (SIZE[1] + 4), 3)
    with pytest.raises(ValueError, match="at least one item"):
        td.save_contact_sheet([], tmp_path / "empty.png")


def test_main_writes_sheet(tmp_path, capsys) -> None:
    out = tmp_path / "s.png"
    assert td.main(["--out", str(out), "--source", "mixed", "--clips", "2", "--size", "96", "160", "--time", "2"]) == 0
    assert out.is_file() and "ms per clip" in capsys.readouterr().out


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"frames": 1}, "frames must be >= 2"),
    ({"size": (16, 100)}, "size must be"),
    ({"max_objects": 0}, "max_objects must be >= 1"),
    ({"p_exit": 0.8, "p_out_and_back": 0.5}, "p_exit \\+ p_out_and_back"),
    ({"max_gap": 0}, "max_gap must be >= 1"),
])
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        td.SyntheticClips(**kwargs)


def test_bad_mix_and_missing_data(tmp_path, synthetic: td.SyntheticClips) -> None:
    small = td.DavisClips(length=4, frames=T, size=(96, 160), max_objects=K)
    with pytest.raises(ValueError, match="differ in size"):
        td.MixedClips(synthetic, small)
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        td.SyntheticClips(root=tmp_path)
    with pytest.raises(IndexError, match="out of range"):
        synthetic[len(synthetic)]


def test_real_box_crops_are_cut_like_run_time_box_prompts() -> None:
    crops = td.CocoBoxCrops(crop_side=64, seed=0)
    assert len(crops) > 1000  # instances with >= 500 visible px in the 230 non-tuning images
    tuning = set(td.box_tuning_images())
    assert len(tuning) == td.BOX_TUNING_IMAGES and not tuning & {image for image, _ in crops.targets}
    for index in range(12):
        item = crops[index]
        frame, mask, (x, y, w, h) = item["frame"], item["mask"], item["box"]
        assert frame.dtype == np.uint8 and frame.shape[:2] == mask.shape and frame.shape[2] == 3
        assert min(mask.shape) == 64 or max(mask.shape) == 4 * 64  # short side scaled, long side capped
        assert 0 <= x and 0 <= y and x + w <= mask.shape[1] + 1 and y + h <= mask.shape[0] + 1
        assert mask.any()
        # The box was moved a little from the mask's own box: most of the mask is still inside it.
        inside = mask[int(y):int(np.ceil(y + h)), int(x):int(np.ceil(x + w))].sum()
        assert inside >= 0.6 * mask.sum()
    again = td.CocoBoxCrops(crop_side=64, seed=0)[3]
    assert np.array_equal(again["frame"], crops[3]["frame"]) and again["box"] == crops[3]["box"]
    with pytest.raises(ValueError, match="crop_side >= 32"):
        td.CocoBoxCrops(crop_side=16)
