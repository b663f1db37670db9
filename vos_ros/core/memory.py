"""The memory bank of one stream: what the tracker reads each frame, with a fixed size bound.

Three stores of stride-16 tokens (one token = one key of ``key_dim`` floats plus one value of
``value_dim`` floats per object):

- prompt frames: frames where objects were given by the user; never evicted while there are at most
  ``max_prompt_frames`` of them (the oldest is consolidated when a new one would exceed that);
- working memory: a FIFO of the newest ``working_frames`` written frames;
- long-term memory: prototypes consolidated from frames leaving the FIFO. Each token counts how much
  attention it received while it was read (``usage``); a leaving frame keeps its
  ``prototypes_per_frame`` most-read tokens, and when the store exceeds ``long_term_tokens`` the
  least-read prototypes go.

Bound (independent of stream length), with T = tokens per frame (H/16 * W/16) and K objects:

    tokens <= (max_prompt_frames + working_frames) * T + long_term_tokens
    bytes  <= tokens * 4 * (key_dim + K * value_dim + 3)

Objects added later get zero values on older tokens and are marked unknown there (``known``): the
reader renormalises each object's attention over the tokens it is known on, so an object given on
frame t reads frames from t on, not the zeros older frames hold for it (XMem keeps the memories of
objects added later apart for the same reason). Removing an object drops its values everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from vos_ros.core.config import MemoryConfig


@dataclass
class MemoryBlock:
    """Tokens with their times (frame index), prompt flags, read counts, per-object values and
    whether each object was known when the token was written."""

    keys: torch.Tensor      # N x Ck
    values: torch.Tensor    # K x N x Cv
    known: torch.Tensor     # K x N (bool): False where the object did not exist yet (its values are zeros)
    times: torch.Tensor     # N (long)
    prompt: torch.Tensor    # N (bool)
    usage: torch.Tensor     # N (float): attention received while in memory

    @property
    def size(self) -> int:
        return self.keys.shape[0]

    @staticmethod
    def cat(blocks: list[MemoryBlock]) -> MemoryBlock:
        return MemoryBlock(*(torch.cat([getattr(b, f) for b in blocks], dim=1 if f in PER_OBJECT else 0)
                             for f in FIELDS))

    def select(self, idx: torch.Tensor) -> MemoryBlock:
        return MemoryBlock(*(getattr(self, f)[:, idx] if f in PER_OBJECT else getattr(self, f)[idx] for f in FIELDS))

    def objects(self, slots: torch.Tensor | list[int]) -> MemoryBlock:
        """The same tokens with the values of the objects in ``slots`` only."""
        return MemoryBlock(*(getattr(self, f)[slots] if f in PER_OBJECT else getattr(self, f) for f in FIELDS))

    def nbytes(self) -> int:
        return sum(getattr(self, f).element_size() * getattr(self, f).nelement() for f in FIELDS)


FIELDS = tuple(f.name for f in fields(MemoryBlock))
PER_OBJECT = ("values", "known")  # K x N: indexed by object first


class MemoryBank:
    def __init__(self, cfg: MemoryConfig) -> None:
        self.cfg = cfg
        self.prompt_frames: list[MemoryBlock] = []
        self.working: list[MemoryBlock] = []
        self.long_term: MemoryBlock | None = None
        self.num_objects = 0
        self.partly_known = False  # some object is unknown on some stored token (added after them)
        self._cache: MemoryBlock | None = None  # concatenation of all stores, rebuilt after a change
        self._cache_objects: tuple[int, ...] | None = None  # whose values the cache holds (None = all)

    # -- writing ------------------------------------------------------------------------------
    def add(self, keys: torch.Tensor, values: torch.Tensor, time: int, prompt: bool,
            unknown: list[int] = ()) -> None:
        """Write one frame: keys N x Ck, values K x N x Cv (K = current number of objects); the objects in
        ``unknown`` were not known on this frame (their values are set to zeros)."""
        if values.shape[0] != self.num_objects:
            raise ValueError(f"memory holds {self.num_objects} objects, got values for {values.shape[0]}")
        n = keys.shape[0]
        known = torch.ones(self.num_objects, n, dtype=torch.bool, device=values.device)
        if unknown:
            known[list(unknown)] = False
            values[list(unknown)] = 0
            self.partly_known = True
        block = MemoryBlock(keys, values, known, torch.full((n,), time, dtype=torch.long),
                            torch.full((n,), prompt, dtype=torch.bool), torch.zeros(n))
        if prompt:
            self.prompt_frames.append(block)
            if len(self.prompt_frames) > self.cfg.max_prompt_frames:
                self._consolidate(self.prompt_frames.pop(0))
        else:
            self.working.append(block)
            if len(self.working) > self.cfg.working_frames:
                self._consolidate(self.working.pop(0))
        self._cache = None

    def _consolidate(self, block: MemoryBlock) -> None:
        """Keep the most-read tokens of a leaving frame as long-term prototypes, within the bound."""
        keep = min(self.cfg.prototypes_per_frame, block.size)
        if keep == 0 or self.cfg.long_term_tokens == 0:
            return
        protos = block.select(block.usage.topk(keep).indices)
        protos.prompt = torch.zeros_like(protos.prompt)  # consolidated tokens age like any other
        store = protos if self.long_term is None else MemoryBlock.cat([self.long_term, protos])
        if store.size > self.cfg.long_term_tokens:
            store = store.select(store.usage.topk(self.cfg.long_term_tokens).indices)
        self.long_term = store

    # -- objects ------------------------------------------------------------------------------
    def _blocks(self) -> list[MemoryBlock]:
        return self.prompt_frames + self.working + ([self.long_term] if self.long_term is not None else [])

    def add_objects(self, count: int) -> None:
        """New objects: zero values on every stored token, marked unknown."""
        for b in self._blocks():
            b.values = torch.cat([b.values, b.values.new_zeros(count, *b.values.shape[1:])], 0)
            b.known = torch.cat([b.known, b.known.new_zeros(count, *b.known.shape[1:])], 0)
            self.partly_known = True
        self.num_objects += count
        self._cache = None

    def remove_objects(self, slots: list[int]) -> None:
        keep = [k for k in range(self.num_objects) if k not in set(slots)]
        for b in self._blocks():
            b.values, b.known = b.values[keep], b.known[keep]
        self.num_objects = len(keep)
        self._cache = None

    def clear(self) -> None:
        self.prompt_frames, self.working, self.long_term = [], [], None
        self.num_objects = 0
        self.partly_known = False
        self._cache = None

    # -- reading ------------------------------------------------------------------------------
    def gather(self, objects: list[int] | None = None) -> MemoryBlock:
        """All tokens as one block, with the values of ``objects`` only (default all; cached until the
        next write). Gathering a few objects costs in proportion to them, not to all objects ever added."""
        key = None if objects is None or len(objects) == self.num_objects else tuple(objects)
        if self._cache is None or self._cache_objects != key:
            blocks = self._blocks()
            if not blocks:
                raise RuntimeError("memory is empty: no frame has been written yet")
            if key is not None:
                slots = torch.tensor(key, dtype=torch.long, device=blocks[0].values.device)
                blocks = [b.objects(slots) for b in blocks]
            self._cache, self._cache_objects = MemoryBlock.cat(blocks), key
        return self._cache

    def record_reads(self, top_idx: torch.Tensor, weights: torch.Tensor) -> None:
        """Add the attention each token received (top-k indices / weights, P x k) to its usage."""
        # usage is kept in float32 whatever precision the weights were computed in (bf16 autocast)
        counts = torch.zeros(sum(b.size for b in self._blocks())).index_add_(0, top_idx.flatten().cpu(),
                                                            weights.flatten().float().cpu())
        offset = 0
        for b in self._blocks():
            b.usage += counts[offset:offset + b.size]
            offset += b.size

    @property
    def empty(self) -> bool:
        return not self._blocks()

    def stats(self) -> dict[str, int]:
        blocks = self._blocks()
        return {
            "tokens": sum(b.size for b in blocks),
            "bytes": sum(b.nbytes() for b in blocks),
            "prompt_frames": len(self.prompt_frames),
            "working_frames": len(self.working),
            "long_term_tokens": self.long_term.size if self.long_term is not None else 0,
        }

    def token_bound(self, tokens_per_frame: int) -> int:
        """Most tokens this bank can ever hold for frames of ``tokens_per_frame`` tokens."""
        c = self.cfg
        return (c.max_prompt_frames + c.working_frames) * tokens_per_frame + c.long_term_tokens
