"""One id per physical object: box priors, look-alike gating, LOST tracks out of the per-frame work,
the object limit, and the cup shuffle's first three seconds with the shipped weights."""
from pathlib import Path

import numpy as np
import pytest
import torch

from vos_ros.core.config import TrackerConfig
from vos_ros.core.model import VOSModel
from vos_ros.core.motion import BoxPrior, areas_and_boxes, crossed_order, gate_weights
from vos_ros.core.redetect import appearance_order, free_spot, lookalikes, search_spot, similar_spot
from vos_ros.core.session import Session
from vos_ros.core.track_state import Track
from vos_ros.core.types import Prompt, TrackState

CUPS = Path(__file__).resolve().parents[2] / "shared" / "data" / "demo_videos" / "02_cups.mp4"
TRACK = TrackerConfig.load().track


def test_box_prior_moves_with_its_velocity_and_widens_while_unseen():
    prior = BoxPrior()
    prior.observe((10, 10, 19, 19), 100, frame=0, max_growth=1.5)
    prior.observe((12, 10, 21, 19), 100, frame=1, max_growth=1.5)
    x0, _, x1, _ = prior.predicted(2)
    assert x0 > 12 and x1 > 21                                  # moving right
    g1, g5 = prior.gate(2, 0.25), prior.gate(6, 0.25)
    assert g5[0] < g1[0] and g5[2] > g1[2]                      # unseen longer: larger gate
    assert prior.predicted(100) == prior.predicted(50)          # extrapolation stops


def test_areas_and_boxes_of_masks_match_their_pixels():
    masks = torch.zeros(3, 20, 30, dtype=torch.bool)
    masks[0, 4:9, 10:25] = True
    masks[0, 15, 2] = True                   # a stray cell widens the box
    masks[2, 0, 29] = True
    areas, boxes = areas_and_boxes(masks)
    assert areas == [76.0, 0.0, 1.0]
    assert boxes == [(2.0, 4.0, 24.0, 15.0), None, (29.0, 0.0, 29.0, 0.0)]   # x0, y0, x1, y1 inclusive


def test_box_prior_ignores_partly_hidden_and_spreading_masks():
    prior = BoxPrior()
    prior.observe((10, 10, 19, 19), 100, frame=0, max_growth=1.5)
    prior.observe((10, 10, 12, 12), 9, frame=1, max_growth=1.5)      # a sliver under a hand
    prior.observe((10, 10, 39, 19), 300, frame=2, max_growth=1.5)    # spread over a neighbour
    assert prior.box == (10, 10, 19, 19) and prior.area == 100 and prior.last_frame == 0


def test_a_lookalike_spreading_onto_another_place_is_cut_to_its_predicted_box():
    probs = torch.zeros(1, 2, 40, 60)
    probs[0, 0, 10:20, 10:20] = 0.9          # its own place
    probs[0, 0, 10:20, 22:32] = 0.8          # a neighbour's place, right next to it
    probs[0, 1, 10:20, 45:55] = 0.9
    priors = [BoxPrior(), BoxPrior()]
    priors[0].observe((10, 10, 19, 19), 100, frame=0, max_growth=1.5)
    priors[1].observe((45, 10, 54, 19), 100, frame=0, max_growth=1.5)
    weights, reliable = gate_weights(probs, priors, [True, True], 1, TRACK)
    kept = (probs * weights)[0, 0] > 0.5
    assert kept[10:20, 10:20].all() and not kept[:, 23:].any()     # the gate: its box + a quarter of its size
    assert reliable == [True, True]
    probs[0, 0, 6:24, 6:24] = 0.9            # spread all around it, inside the gate
    weights, reliable = gate_weights(probs, priors, [True, True], 1, TRACK)
    kept = (probs * weights)[0, 0] > 0.5
    assert kept[10:20, 10:20].all() and int(kept.sum()) == 100     # cut to the predicted box
    assert reliable == [False, True]         # and not remembered as seen
    priors[0].recent_area = 300              # grown to this over earlier frames, not in one (test_emergence.py)
    weights, reliable = gate_weights(probs, priors, [False, True], 1, TRACK)
    assert bool(weights[0, 0].all()) and reliable == [True, True]   # not a look-alike: free to grow


def test_touching_lookalikes_keep_to_where_each_is_heading():
    """One look-alike's mask takes part of the neighbour touching it (the readout cannot tell them apart):
    while the neighbour is robbed (under its reference area), the cells deeper in the neighbour's
    predicted box are cut from the taker."""
    probs = torch.zeros(1, 2, 40, 60)
    probs[0, 0, 10:20, 10:23] = 0.9          # object 0 over itself and the neighbour's left edge
    probs[0, 1, 10:20, 23:30] = 0.9          # the neighbour keeps 70 of its 90 cells: robbed
    priors = [BoxPrior(), BoxPrior()]
    priors[0].observe((10, 10, 19, 19), 90, frame=0, max_growth=1.5)
    priors[1].observe((20, 10, 29, 19), 90, frame=0, max_growth=1.5)
    weights, _ = gate_weights(probs, priors, [True, True], 1, TRACK)
    kept = (probs * weights)[0, 0] > 0.5
    assert kept[10:20, 10:20].all() and not kept[:, 20:].any()     # its own box stays, the neighbour's goes
    assert bool(weights[0, 1, 10:20, 20:30].all())                 # the neighbour is not cut where it is
    probs[0, 1, 10:20, 21:23] = 0.9          # the neighbour has its 90 cells: nobody is robbed, no cut
    weights, _ = gate_weights(probs, priors, [True, True], 1, TRACK)
    assert ((probs * weights)[0, 0] > 0.5)[10:20, 20].all()
    probs[0, 1, 10:20, 21:23] = 0
    weights, _ = gate_weights(probs, priors, [False, False], 1, TRACK)
    assert bool(weights.all())                                     # objects unlike each other: no split


def test_a_lookalike_mask_on_another_lookalikes_place_is_not_its_own():
    """Crossing look-alikes: the readout puts an id on whichever of the two shows. A mask that overlaps
    the other's predicted box more than its own is cut to its own box, while its own box is recent."""
    probs = torch.zeros(1, 2, 40, 60)
    probs[0, 0, 10:20, 18:27] = 0.9          # object 0's id, mostly where object 1 should be
    probs[0, 1, 10:20, 20:30] = 0.9          # (object 1 shows too: neither is robbed of its cells)
    priors = [BoxPrior(), BoxPrior()]
    priors[0].observe((10, 10, 19, 19), 100, frame=0, max_growth=1.5)
    priors[1].observe((20, 10, 29, 19), 100, frame=0, max_growth=1.5)
    weights, reliable = gate_weights(probs, priors, [True, True], 3, TRACK)
    assert reliable == [False, True]
    assert not ((probs * weights)[0, 0] > 0.5)[:, 20:].any()       # cut to its own predicted box
    probs[0, 0] = 0
    probs[0, 0, 10:20, 11:20] = 0.9          # on its own place: kept
    weights, reliable = gate_weights(probs, priors, [True, True], 3, TRACK)
    assert reliable == [True, True] and bool(weights[0, 0, 10:20, 11:20].all())
    probs[0, 0] = 0
    probs[0, 0, 10:20, 18:27] = 0.9          # unseen for long, its old box says little: not cut
    weights, reliable = gate_weights(probs, priors, [True, True], 8, TRACK)
    assert reliable == [True, True]
    weights, reliable = gate_weights(probs, priors, [False, False], 3, TRACK)
    assert reliable == [True, True]          # objects unlike each other are never cut for it


def test_lookalikes_out_of_a_crossing_with_exchanged_ids_are_exchanged_back():
    priors = [BoxPrior(), BoxPrior(), BoxPrior()]
    for prior, x in zip(priors, (10, 30, 50), strict=True):
        prior.observe((x, 10, x + 9, 19), 100, frame=0, max_growth=1.5)
    probs = torch.zeros(1, 3, 40, 70)
    probs[0, 0, 10:20, 30:40] = 0.9          # object 0's id on object 1's predicted place
    probs[0, 1, 10:20, 10:20] = 0.9          # and object 1's on object 0's
    probs[0, 2, 10:20, 50:60] = 0.9
    assert crossed_order(probs, priors, [True, True, True], 4) == [1, 0, 2]
    assert crossed_order(probs, priors, [False, False, True], 4) is None     # unlike objects: never
    assert crossed_order(probs, priors, [True, True, True], 40) is None      # boxes too old to say
    probs[0, 1] = 0
    probs[0, 1, 10:20, 50:53] = 0.9          # not both ways: left to the place check
    assert crossed_order(probs, priors, [True, True, True], 4) is None


def test_a_lookalike_last_seen_touching_another_moves_on_behind_it():
    def moving(x: int) -> BoxPrior:
        prior = BoxPrior()
        prior.observe((x, 10, x + 9, 19), 100, frame=0, max_growth=1.5)
        prior.observe((x + 2, 10, x + 11, 19), 100, frame=1, max_growth=1.5)   # 1 cell per frame to the right
        return prior
    crossing = [moving(10), BoxPrior()]
    crossing[1].observe((20, 10, 29, 19), 100, frame=1, max_growth=1.5)       # right in its path
    alone = [moving(10), BoxPrior()]
    alone[1].observe((50, 25, 59, 34), 100, frame=1, max_growth=1.5)
    probs = torch.zeros(1, 2, 40, 80)
    for priors in (crossing, alone):
        gate_weights(probs, priors, [True, True], 2, TRACK)                  # object 0 vanishes on frame 2
    assert crossing[0].coasting and not alone[0].coasting
    assert alone[0].predicted(20) == alone[0].predicted(6)                  # stops after MAX_EXTRAPOLATION
    assert crossing[0].predicted(20)[0] > crossing[0].predicted(6)[0] + 2   # goes on behind the other
    gate_weights(probs, [crossing[0], crossing[1]], [False, False], 2, TRACK)
    assert crossing[0].coasting                                              # decided once, on that frame


def test_lookalikes_are_objects_that_look_alike():
    red, red2, yellow = (torch.nn.functional.normalize(torch.tensor(v), dim=0)
                         for v in ([1.0, 0.1, 0.0], [0.95, 0.15, 0.05], [0.0, 0.2, 1.0]))
    assert lookalikes([red, red2, yellow, None], 0.7) == [True, True, False, False]


@pytest.fixture(scope="module")
def model() -> VOSModel:
    torch.manual_seed(0)
    return VOSModel(pretrained_backbone=False).eval()


def rect(y0, y1, x0, x1, shape=(48, 80)):
    m = np.zeros(shape, bool)
    m[y0:y1, x0:x1] = True
    return m


def test_long_absent_tracks_leave_the_per_frame_work_one_in_turn_comes_back(model, monkeypatch):
    session = Session(model, TrackerConfig.load())
    frames = np.random.default_rng(0).integers(0, 255, (5, 48, 80, 3), dtype=np.uint8)
    session.step(frames[0], [Prompt(mask=rect(2, 12, 2 + 18 * k, 14 + 18 * k)) for k in range(4)])
    for track in session.tracks[1:]:            # as if gone for long (the frames are noise: they stay absent)
        track.state, track.absent_frames = TrackState.LOST, 50
    tracked_counts, segment = [], session.model.segment

    def counting(*args, **kwargs):
        tracked_counts.append(args[2].shape[1])        # memory values: 1 x objects x N x C
        return segment(*args, **kwargs)

    monkeypatch.setattr(session.model, "segment", counting)
    checked = []
    for f in frames[1:4]:
        result = session.step(f)
        checked.append(max(session.tracks[1:], key=lambda t: t.checked_frame).id)
        assert len(result.objects) == 4                 # LOST tracks are still reported
    assert tracked_counts == [2, 2, 2]                  # the active one and one LOST one in turn
    assert sorted(checked) == [2, 3, 4]
    newest = session.views[0].memory.working[-1].values  # K x N x C of the last frame written
    resting = [k for k, t in enumerate(session.tracks) if t.checked_frame != session.frame_index and k]
    assert all(float(newest[k].abs().sum()) == 0 for k in resting)


def test_max_objects_refuses_with_a_clear_error_and_keeps_the_tracks(model):
    session = Session(model, TrackerConfig.load(track__max_objects=2))
    frame = np.random.default_rng(1).integers(0, 255, (48, 80, 3), dtype=np.uint8)
    session.step(frame, [Prompt(mask=rect(2, 12, 2, 14)), Prompt(mask=rect(2, 12, 30, 44))])
    with pytest.raises(ValueError, match="track.max_objects = 2"):
        session.add_objects([Prompt(mask=rect(20, 30, 2, 14))])
    assert session.object_ids == [1, 2]


def test_cup_shuffle_cups_keep_their_size_and_the_covered_ball_stays_absent():
    """The demo's four boxes on the real clip, 90 frames at 640x360 with the shipped weights: in the
    hand's push (frames 55-78) the cup ids spread over two cups before look-alikes were gated."""
    if not CUPS.is_file():
        pytest.skip("shared data absent")
    from vos_ros.core.weights import load_model
    from vos_ros.tools.media import FrameSource

    config = TrackerConfig.load(model__input_short_side=360)
    session = Session(load_model(config.model), config)
    boxes = [(262, 0, 183, 198), (570, 292, 170, 253), (828, 292, 172, 255), (363, 425, 75, 77)]
    prompts = [Prompt(box=b, label=lab) for b, lab in zip(boxes, ["cup", "cup", "cup", "ball"], strict=True)]
    areas = []
    for k, frame in enumerate(FrameSource(CUPS, max_frames=90)):
        result = session.step(frame, prompts if k == 0 else ())
        areas.append([int((result.label_image == i).sum()) for i in (1, 2, 3, 4)])
    areas = np.array(areas)
    reference = areas[:10, :3].mean(0)
    grown = areas[:, :3] / reference
    # Where the hand pushes cup 2 into cup 1 (frames 58-68), cup 1 covers 1.6-1.7x its area for a few
    # frames: 4 or 6 of the 90, depending on the CPU (the same commit on two 2-core EPYC machines);
    # before look-alikes were gated it was most of them, at up to 3x.
    assert (grown > 1.6).any(1).mean() <= 0.1 and (grown <= 2).all(), grown.max(0)
    assert (areas[40:, 3] < 30).all()                  # the ball is under cup 1 from frame ~28
    assert (areas[:, :3] > 0).mean() >= 0.8            # and the cups are mostly there


def test_a_missing_object_is_looked_for_where_it_was_heading_and_where_it_was_last_seen():
    prior = BoxPrior()
    prior.observe((10, 10, 19, 19), 100, frame=0, max_growth=1.5)
    prior.observe((14, 10, 23, 19), 100, frame=1, max_growth=1.5)       # 2 cells per frame to the right
    taken = torch.zeros(40, 60, dtype=torch.bool)
    heading, last = free_spot(prior, 4, taken), free_spot(prior, 4, taken, last_seen=True)
    assert last == (14, 10, 23, 19) and heading[0] > last[0] + 4 and heading[1:4:2] == (10, 19)
    taken[10:20, 14:24] = True                                            # a visible object stands there now
    assert free_spot(prior, 4, taken, last_seen=True) is None and free_spot(prior, 4, taken) is not None
    prior.observe((52, 10, 59, 19), 80, frame=2, max_growth=1.5)        # leaving the view to the right
    assert free_spot(prior, 30, taken) is None                           # predicted outside the map


def lookalike_features() -> tuple[torch.Tensor, torch.Tensor]:
    """Stride-8 features 1 x 8 x 20 x 30 with three cup-like regions (rows 4-9; columns 2-7, 12-17 and
    22-27) on a background orthogonal to them, and the cups' appearance."""
    f8 = torch.zeros(1, 8, 20, 30)
    f8[0, 1] = 1.0                                                       # background
    for x in (2, 12, 22):
        f8[0, :, 4:10, x:x + 6] = torch.tensor([1.0, 0, 0.3, 0, 0, 0, 0, 0])[:, None, None]
    return f8, torch.nn.functional.normalize(torch.tensor([1.0, 0, 0.2, 0, 0, 0, 0, 0]), dim=0)


def test_a_missing_lookalike_is_looked_for_at_the_free_region_most_like_it_nearest_where_it_was():
    f8, cup = lookalike_features()
    prior = BoxPrior()
    prior.observe((22, 8, 33, 19), 144, frame=0, max_growth=1.5)       # last seen on the middle cup (cells)
    taken = torch.zeros(40, 60, dtype=torch.bool)
    x0, y0, x1, y1 = similar_spot(f8, cup, taken, prior)
    assert (x0, y0, x1, y1) == (24, 8, 35, 19)                            # the middle one: nearest
    larger = BoxPrior()
    larger.observe((20, 4, 35, 23), 256, frame=0, max_growth=1.5)         # last seen 16 x 20 cells
    assert similar_spot(f8, cup, taken, larger) == (22, 4, 37, 23)        # the similar cells, grown to that
    taken[8:20, 24:36] = True                                             # a visible cup stands there now
    assert similar_spot(f8, cup, taken, prior)[0] == 4                    # the nearer free one
    taken[8:20, 4:14] = True                                              # the left one is mostly covered:
    assert similar_spot(f8, cup, taken, prior)[0] == 44                   # what shows of it is too small
    taken[:, :] = True
    assert similar_spot(f8, cup, taken, prior) is None                    # every cup has an id


def test_a_lost_lookalike_is_looked_for_by_appearance_only():
    f8, cup = lookalike_features()
    taken = torch.zeros(40, 60, dtype=torch.bool)
    lost, occluded, ball = Track(1, "cup"), Track(2, "cup"), Track(3, "ball")
    for track in (lost, occluded, ball):
        track.appearance = cup
        track.prior.observe((44, 8, 55, 19), 144, frame=0, max_growth=1.5)
        track.prior.observe((40, 8, 51, 19), 144, frame=1, max_growth=1.5)  # heading left
        track.state = TrackState.OCCLUDED
    lost.state = TrackState.LOST
    spots = {}
    for track, lookalike in ((lost, True), (occluded, True), (ball, False)):
        spots[track.id] = []
        for tries in range(6):
            track.redetect_tries = tries
            spots[track.id].append(search_spot(track, 3, taken, f8, lookalike))
    heading, last, similar = free_spot(lost.prior, 3, taken), (40, 8, 51, 19), similar_spot(f8, cup, taken, lost.prior)
    assert heading[0] < last[0] and similar[0] == 44
    assert spots[1] == [similar] * 6                                      # LOST: its prediction says nothing
    assert spots[2] == [heading, last, similar] * 2
    assert spots[3] == [heading, last] * 3                                # not a look-alike: the readout finds it


def two_lookalikes(similar: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stride-8 features 1 x 4 x 10 x 20 with a look-alike in columns 2-7 and another in 12-17 whose looks
    have cosine ``similar``, and their looks (2 x 4)."""
    first = torch.tensor([1.0, 0, 0, 0])
    second = torch.tensor([similar, (1 - similar ** 2) ** 0.5, 0, 0])
    f8 = torch.zeros(1, 4, 10, 20)
    f8[0, 3] = 1.0                                                       # background
    f8[0, :, 2:8, 2:8], f8[0, :, 2:8, 12:18] = first[:, None, None], second[:, None, None]
    return f8, first, second


def masks_on(*columns: int | None) -> torch.Tensor:
    """1 x K x 20 x 40 probabilities: object k's mask on the look-alike at stride-8 ``columns[k]`` (None: none)."""
    probs = torch.zeros(1, len(columns), 20, 40)
    for k, c in enumerate(columns):
        if c is not None:
            probs[0, k, 4:16, 2 * c:2 * c + 12] = 1.0
    return probs


def test_lookalikes_whose_ids_came_back_on_each_other_are_exchanged_by_how_they_look():
    f8, first, second = two_lookalikes(0.9)
    priors = [BoxPrior(), BoxPrior()]
    for prior in priors:
        prior.observe((4, 4, 15, 15), 144, frame=0, max_growth=1.5)
    looks, alike = [first, second], [True, True]
    assert appearance_order(f8, masks_on(2, 12), looks, alike, priors, 1) is None          # each on its own
    assert appearance_order(f8, masks_on(12, 2), looks, alike, priors, 1) == [1, 0]        # each on the other
    assert appearance_order(f8, masks_on(12, None), looks, alike, priors, 3) is None       # seen lately: kept
    assert appearance_order(f8, masks_on(12, None), looks, alike, priors, 9) == [1, 0]     # coming back: the other's
    assert appearance_order(f8, masks_on(12, 2), looks, [True, False], priors, 1) is None  # not look-alikes
    f8, first, second = two_lookalikes(0.98)                                                # three red cups
    assert appearance_order(f8, masks_on(12, 2), [first, second], alike, priors, 1) is None


def test_an_object_found_again_at_its_predicted_box_is_tracked_from_that_frame(model, monkeypatch):
    """The box path's mask at a resting track's predicted box, once accepted, is that track's mask (here the
    acceptance and the box path are stand-ins: their own logic is tested above and in test_session)."""
    import vos_ros.core.session as session_module

    session = Session(model, TrackerConfig.load())
    frames = np.random.default_rng(2).integers(0, 255, (3, 48, 80, 3), dtype=np.uint8)
    session.step(frames[0], [Prompt(mask=rect(2, 12, 2, 14)), Prompt(mask=rect(20, 40, 40, 70)),
                             Prompt(mask=rect(2, 12, 60, 75))])
    track, other = session.tracks[1], session.tracks[2]
    for t in (track, other):                                         # resting: tracked in turn only
        t.state, t.absent_frames = TrackState.OCCLUDED, 10
    track.checked_frame, other.checked_frame = 0, -1                 # the other one's turn this frame
    track.redetect_frame, other.redetect_frame = -10, 5              # only this one is due a search
    track.prior.observe((10, 5, 17, 9), 40, frame=0, max_growth=1.5)   # cells: pixels 40-71 x 20-39
    found = rect(20, 40, 40, 72)
    monkeypatch.setattr(session_module, "box_probabilities", lambda *a, **k: [found.astype(np.float32)])
    monkeypatch.setattr(session_module, "accepted", lambda *a, **k: True)
    result = session.step(frames[1])
    assert result.by_id(2).state == TrackState.TRACKED
    assert (result.by_id(2).mask & found).sum() >= 0.9 * found.sum()


@pytest.mark.parametrize("remove_first", [True, False], ids=["after-all-removed", "next-to-a-tracked-lookalike"])
def test_an_object_added_later_reads_the_frames_since_it_was_given(remove_first):
    """Older memory frames hold zero values for an object added later; they are marked unknown and its
    readout is renormalised over the frames it is known on. Before, those zeros outvoted its prompt frame:
    a cup added after the only track was removed was never found (presence 0.19-0.29), and a second cup
    that had stood in view for 10 frames next to a tracked one was lost on the first frame (0 px; both
    measured at this size)."""
    import cv2
    import skimage.data

    from vos_ros.core.weights import load_model

    cup_photo = cv2.resize(skimage.data.coffee(), (150, 100), interpolation=cv2.INTER_AREA)
    frame = np.full((200, 300, 3), 90, np.uint8)
    frame[50:150, :150] = cup_photo
    frame[50:150, 150:] = cup_photo[:, ::-1, ::-1]   # its mirror image, bluish: a look-alike in view all along
    left, right = np.zeros((200, 300), bool), np.zeros((200, 300), bool)
    left[55:115, 40:100] = True
    right[55:115, 200:260] = True
    config = TrackerConfig.load(model__input_short_side=200)
    session = Session(load_model(config.model), config)
    session.step(frame, [Prompt(mask=left, label="cup")])
    for _ in range(10):
        session.step(frame)
    if remove_first:
        session.remove_objects([1])
    added = right if not remove_first else left
    session.add_objects([Prompt(mask=added, label="cup")], frame.copy())
    for _ in range(4):
        result = session.step(frame)
    found = result.by_id(2)
    assert found.state == TrackState.TRACKED and (found.mask & added).sum() >= 0.4 * added.sum(), found.presence
    assert not (found.mask & (left if added is right else right)).any()
    if not remove_first:
        assert (result.by_id(1).mask & left).sum() >= 0.4 * left.sum()    # the first cup keeps its id


def test_tracks_lost_for_longer_than_forget_after_are_forgotten_with_their_memory(model):
    session = Session(model, TrackerConfig.load(track__lost_after=2, track__forget_after=3))
    frames = np.random.default_rng(2).integers(0, 255, (3, 48, 80, 3), dtype=np.uint8)
    session.step(frames[0], [Prompt(mask=rect(2, 12, 2, 14)), Prompt(mask=rect(2, 12, 30, 44))])
    session.tracks[1].state, session.tracks[1].absent_frames = TrackState.LOST, 5   # as if gone for 5 frames
    session.step(frames[1])          # absent once more: 6 > lost_after + forget_after, reported LOST once more
    assert session.object_ids == [1] and session.views[0].memory.num_objects == 1
    assert session.step(frames[2]).frame_index == 2 and session.object_ids == [1]
