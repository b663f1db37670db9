"""Memory bank: stores, consolidation, object bookkeeping and the documented size bound."""
import resource

import numpy as np
import pytest
import torch

from vos_ros.core.config import TrackerConfig
from vos_ros.core.memory import MemoryBank


def bank(**over):
    cfg = TrackerConfig.load(**{f"memory__{k}": v for k, v in over.items()}).memory
    return MemoryBank(cfg)


def frame(n=12, k=2, c=4, v=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, generator=g), torch.randn(k, n, v, generator=g)


def test_prompt_frames_kept_fifo_bounded_and_long_term_consolidated():
    b = bank(working_frames=2, max_prompt_frames=1, long_term_tokens=10, prototypes_per_frame=4)
    b.num_objects = 2
    b.add(*frame(), time=0, prompt=True)
    for t in range(1, 8):
        b.add(*frame(seed=t), time=t, prompt=False)
        b.record_reads(torch.tensor([[0, 1]]), torch.tensor([[0.7, 0.3]]))
    s = b.stats()
    assert s["prompt_frames"] == 1 and s["working_frames"] == 2
    assert s["long_term_tokens"] == 10
    assert s["tokens"] == b.token_bound(12) == 12 + 24 + 10
    mem = b.gather()
    assert mem.prompt.sum() == 12 and mem.times[:12].eq(0).all()  # the prompt frame was never evicted
    assert not mem.prompt[12:].any()


def test_long_term_keeps_most_read_tokens():
    b = bank(working_frames=1, long_term_tokens=4, prototypes_per_frame=2)
    b.num_objects = 2
    b.add(*frame(), time=0, prompt=False)
    # weights as bf16 autocast computes them (usage stays float32)
    b.record_reads(torch.tensor([[5, 9]]), torch.tensor([[0.6, 0.4]], dtype=torch.bfloat16))
    assert b.gather().usage.dtype == torch.float32
    keys = b.gather().keys.clone()
    b.add(*frame(seed=1), time=1, prompt=False)  # frame 0 leaves the FIFO
    assert torch.equal(b.long_term.keys, keys[[5, 9]])


def test_objects_added_and_removed():
    b = bank()
    b.num_objects = 2
    b.add(*frame(), time=0, prompt=True)
    b.add_objects(1)
    mem = b.gather()
    assert mem.values.shape[0] == 3 and mem.values[2].abs().sum() == 0
    b.add(*frame(k=3, seed=1), time=1, prompt=False)
    kept = b.gather().values[[0, 2]].clone()
    b.remove_objects([1])
    assert torch.equal(b.gather().values, kept)
    with pytest.raises(ValueError, match="memory holds 2 objects"):
        b.add(*frame(k=3), time=2, prompt=False)
    with pytest.raises(RuntimeError, match="empty"):
        bank().gather()


def test_long_stream_stays_within_bound_and_resident_memory_flat():
    """10,000 frames of a small stream through a real Session: bounded tokens, flat RSS."""
    from vos_ros.core.model import VOSModel
    from vos_ros.core.session import Session
    from vos_ros.core.types import Prompt

    torch.manual_seed(0)
    model = VOSModel(pretrained_backbone=False).eval()
    cfg = TrackerConfig.load(memory__write_every=1)
    session = Session(model, cfg)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (32, 48, 3), dtype=np.uint8) for _ in range(8)]
    mask = np.zeros((32, 48), bool)
    mask[8:20, 10:30] = True
    session.step(frames[0], [Prompt(mask=mask), Prompt(box=(25, 5, 15, 20))])
    rss = []
    for i in range(1, 10_000):
        session.step(frames[i % 8])
        if i % 1000 == 0:
            rss.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB
    stats = session.memory_stats()
    assert stats["tokens"] <= stats["token_bound"]
    assert stats["long_term_tokens"] == min(cfg.memory.long_term_tokens, stats["long_term_tokens"])
    assert (rss[-1] - rss[0]) / 1024 < 100, f"resident memory grew by {(rss[-1] - rss[0]) / 1024:.1f} MB"


def test_objects_added_later_are_unknown_on_older_tokens_through_consolidation_and_removal():
    b = bank(working_frames=1, long_term_tokens=20, prototypes_per_frame=6)
    b.num_objects = 2
    b.add(*frame(), time=0, prompt=False)
    assert not b.partly_known and b.gather().known.all()
    b.add_objects(1)                                                   # object 2 given on frame 1
    keys, values = frame(k=3, seed=1)
    b.add(keys, values, time=1, prompt=True)
    b.add(*frame(k=3, seed=2), time=2, prompt=False)                  # frame 0 -> long-term memory
    mem = b.gather()
    assert b.partly_known and mem.known.shape == mem.values.shape[:2] == (3, mem.size)
    assert mem.known[:2].all() and torch.equal(mem.known[2], mem.times >= 1)
    assert torch.equal(b.gather([2]).known[0], mem.known[2])           # one object's view of it
    b.remove_objects([0])
    assert torch.equal(b.gather().known[1], mem.known[2])
    b.add(*frame(k=2, seed=3), time=3, prompt=False, unknown=[0])      # a frame nothing is known of object 0 on
    assert not b.working[-1].known[0].any() and b.working[-1].known[1].all()
