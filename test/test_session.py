"""Session bookkeeping with random head weights: ids, prompts at any frame, removal, errors."""
import numpy as np
import pytest
import torch

from vos_ros.core.box_path import BoxCrop, boxes_to_masks
from vos_ros.core.config import TrackerConfig
from vos_ros.core.model import VOSModel
from vos_ros.core.session import Session
from vos_ros.core.types import Prompt, TrackState

H, W = 48, 80


@pytest.fixture(scope="module")
def model() -> VOSModel:
    torch.manual_seed(0)
    return VOSModel(pretrained_backbone=False).eval()


@pytest.fixture
def session(model) -> Session:
    return Session(model, TrackerConfig.load())


def frames(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (H, W, 3), dtype=np.uint8) for _ in range(n)]


def rect(y0, y1, x0, x1):
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


def test_mask_prompt_is_used_as_given_on_its_frame(session):
    m = rect(5, 30, 10, 40)
    res = session.step(frames(1)[0], [Prompt(mask=m, label="cup")])
    obj = res.by_id(1)
    assert np.array_equal(obj.mask, m) and obj.label == "cup" and obj.state == TrackState.NEW
    assert obj.box == (10.0, 5.0, 30.0, 25.0)
    assert res.label_image.dtype == np.uint16 and set(np.unique(res.label_image)) == {0, 1}


def test_object_first_appearing_at_frame_5_and_ids_never_reused(session):
    fs = frames(9)
    session.step(fs[0], [Prompt(mask=rect(5, 30, 10, 40))])
    for f in fs[1:5]:
        assert session.step(f).frame_index >= 1
    res = session.step(fs[5], [Prompt(box=(45, 10, 25, 30), label="late")])
    assert res.frame_index == 5 and session.object_ids == [1, 2]
    assert res.by_id(2).label == "late"
    assert res.by_id(2).mask[:, :40].sum() == 0  # a box prompt's mask stays inside its box
    session.remove_objects([1])
    res = session.step(fs[6])
    assert [o.id for o in res.objects] == [2]
    assert session.views[0].memory.num_objects == 1 and session.views[0].queries.shape[1] == 1
    ids = session.add_objects([Prompt(mask=rect(0, 10, 0, 10))])      # refers to the newest frame
    assert ids == [3]                                                  # id 1 is not reused
    session.reset()
    assert session.object_ids == []
    assert session.add_objects([Prompt(mask=rect(0, 10, 0, 10))], frame=fs[7]) == [4]
    res = session.step(fs[8])
    assert [o.id for o in res.objects] == [4]


def test_add_objects_on_a_separate_image_keeps_existing_tracks(session):
    fs = frames(3, seed=2)
    session.step(fs[0], [Prompt(mask=rect(5, 30, 10, 40))])
    assert session.add_objects([Prompt(mask=rect(30, 45, 50, 75))], frame=fs[1]) == [2]
    res = session.step(fs[2])
    assert [o.id for o in res.objects] == [1, 2]
    assert session.views[0].memory.num_objects == 2


def test_bad_inputs_give_clear_errors_and_keep_state(session):
    f = frames(1)[0]
    with pytest.raises(ValueError, match="no frame processed yet"):
        session.add_objects([Prompt(mask=rect(0, 5, 0, 5))])
    with pytest.raises(ValueError, match="uint8 RGB"):
        session.step(np.zeros((H, W), np.uint8))
    with pytest.raises(ValueError, match="too small"):
        session.step(np.zeros((0, 5, 3), np.uint8))
    session.step(f, [Prompt(mask=rect(5, 30, 10, 40))])
    with pytest.raises(ValueError, match="mask is 10x10, frame is 80x48"):
        session.add_objects([Prompt(mask=np.ones((10, 10), bool))])
    with pytest.raises(ValueError, match="empty"):
        session.add_objects([Prompt(mask=np.zeros((H, W), bool))])
    with pytest.raises(ValueError, match="outside"):
        session.add_objects([Prompt(box=(500, 500, 10, 10))])
    with pytest.raises(KeyError, match=r"unknown track ids \[7\]"):
        session.remove_objects([1, 7])
    with pytest.raises(ValueError, match="frame size changed"):
        session.step(np.zeros((H + 16, W, 3), np.uint8))
    with pytest.raises(ValueError, match="clicks .* lie outside the 80x48 frame"):
        session.step(f, [Prompt(clicks=[(5, 5), (90, 10)])])
    assert session.frame_index == 0                        # refused before the frame was taken in
    with pytest.raises(ValueError, match="exactly one of mask, box or clicks"):
        Prompt()
    with pytest.raises(ValueError, match="exactly one of mask, box or clicks"):
        Prompt(box=(0, 0, 5, 5), clicks=[(1, 1)])
    with pytest.raises(ValueError, match="at least one must be on the object"):
        Prompt(clicks=[(1, 1, False)])
    with pytest.raises(ValueError, match="positive"):
        Prompt(box=(0, 0, 0, 5))
    assert session.object_ids == [1]
    assert [o.id for o in session.step(f).objects] == [1]


def test_scaled_input_returns_input_resolution(model):
    cfg = TrackerConfig.load(model__input_short_side=32)
    s = Session(model, cfg)
    res = s.step(frames(1)[0], [Prompt(box=(10, 5, 30, 25))])
    assert res.label_image.shape == (H, W)
    assert res.objects[0].mask.shape == (H, W)
    masks = boxes_to_masks(model, frames(1)[0], [(10, 5, 30, 25), (50, 20, 20, 20)], crop_side=32, threshold=0.3,
                          precision="fp32")
    assert len(masks) == 2 and masks[0].shape == (H, W) and masks[1][:, :50].sum() == 0


def test_mirror_view_gives_mirrored_masks_on_a_mirrored_stream_and_counts_both_memories(model):
    """model.mirror_view: the session follows the mean of the frame's and its mirror image's
    predictions, so a mirrored stream gives exactly the mirrored masks; memory counts both views."""
    cfg = TrackerConfig.load(model__mirror_view=True, model__precision="fp32")
    plain, mirrored = Session(model, cfg), Session(model, cfg)
    m = rect(5, 30, 10, 47)
    for i, f in enumerate(frames(5, seed=3)):
        a = plain.step(f, [Prompt(mask=m)] if i == 0 else [])
        b = mirrored.step(np.ascontiguousarray(f[:, ::-1]), [Prompt(mask=m[:, ::-1].copy())] if i == 0 else [])
        assert np.array_equal(a.label_image[:, ::-1], b.label_image)
        assert a.objects[0].presence == pytest.approx(b.objects[0].presence, abs=1e-6)
    assert plain.add_objects([Prompt(box=(50, 20, 20, 20))]) == [2]
    assert [o.id for o in plain.step(frames(1, seed=4)[0]).objects] == [1, 2]
    single = Session(model, TrackerConfig.load(model__precision="fp32"))
    single.step(frames(1)[0], [Prompt(mask=m)])
    both, one = plain.memory_stats(), single.memory_stats()
    assert both["views"] == 2 and one["views"] == 1
    assert both["token_bound"] == 2 * one["token_bound"] and both["tokens"] <= both["token_bound"]


def test_extra_scale_views_scale_frames_up_and_return_input_resolution(model):
    cfg = TrackerConfig.load(model__extra_short_side=64, model__mirror_view=True, model__upscale=True,
                             model__input_short_side=32, model__precision="fp32")
    s = Session(model, cfg)
    fs = frames(2, seed=5)
    s.step(fs[0], [Prompt(box=(10, 5, 30, 25))])
    res = s.step(fs[1])
    assert [(v.short_side, v.mirrored, v.geometry.scaled_h, v.geometry.scaled_w) for v in s.views] == [
        (32, False, 32, 53), (32, True, 32, 53), (64, False, 64, 107), (64, True, 64, 107)]
    assert res.label_image.shape == (H, W) and [o.id for o in res.objects] == [1]
    assert s.memory_stats()["views"] == 4
    with pytest.raises(ValueError, match="model.extra_short_side must be 0 or >= 16"):
        TrackerConfig.load(model__extra_short_side=8)


def test_box_crop_is_twice_the_box_clipped_and_scaled_to_the_crop_side():
    crop = BoxCrop.around(100, 200, (50, 40, 20, 10), crop_side=40)
    assert (crop.x0, crop.y0, crop.x1, crop.y1) == (40, 35, 80, 55)  # 2x the box around its centre
    assert crop.size == (80, 40)                                     # short side 20 -> 40
    assert crop.box((50, 40, 20, 10)) == (20.0, 10.0, 40.0, 20.0)
    image = np.arange(100 * 200, dtype=np.float32).reshape(100, 200)
    assert crop.image(image).shape == (40, 80)
    back = crop.paste(np.ones((40, 80), np.float32), 100, 200)
    assert back.sum() == 40 * 20 and back[35:55, 40:80].all()
    corner = BoxCrop.around(100, 200, (0, 0, 20, 90), crop_side=40)   # clipped to the frame
    assert (corner.x0, corner.y0, corner.x1, corner.y1) == (0, 0, 30, 100)
    assert corner.size == (40, 133)
    thin = BoxCrop.around(100, 200, (0, 45, 200, 5), crop_side=40)    # long side capped at 4x
    assert max(thin.size) == 160


def test_bf16_tracks_like_fp32(checkpoint):
    """model.precision bf16 (autocast) gives the fp32 masks up to rounding, on a real photo with the
    real backbone; unknown precisions are refused by the config."""
    import dataclasses

    import skimage.data

    from vos_ros.core.model import resolve_precision
    from vos_ros.core.weights import load_model

    base = TrackerConfig.load()
    model_cfg = dataclasses.replace(base.model, checkpoint=checkpoint, input_short_side=160)
    model = load_model(model_cfg)
    image = skimage.data.coffee()                                         # 400 x 600, a cup in the middle
    shifted = np.roll(image, 12, axis=1)
    labels = {}
    for precision in ("fp32", "bf16"):
        cfg = dataclasses.replace(base, model=dataclasses.replace(model_cfg, precision=precision))
        session = Session(model, cfg)
        first = session.step(image, [Prompt(box=(150, 60, 300, 260), label="cup")])
        labels[precision] = [first.label_image, session.step(shifted).label_image]
    for fp32, bf16 in zip(labels["fp32"], labels["bf16"], strict=True):
        assert (fp32 > 0).sum() > 1000
        union = np.logical_or(fp32 > 0, bf16 > 0).sum()
        assert np.logical_and(fp32 > 0, bf16 > 0).sum() / union > 0.95
    assert resolve_precision("auto", "cpu") in ("fp32", "bf16") and resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(ValueError, match="model.precision"):
        dataclasses.replace(base.model, precision="fp16").validate()
