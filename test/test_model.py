"""Model smoke tests: random head weights, tiny inputs, finite outputs, gradients everywhere."""
import pytest
import torch

from vos_ros.core.model import (
    AFFINITY_BLOCK,
    FineMatcher,
    ModelConfig,
    VOSModel,
    aggregate,
    argmax_along,
    time_bucket,
)
from vos_ros.tools.train import clip_loss, export_weights


@pytest.fixture(scope="module")
def model() -> VOSModel:
    torch.manual_seed(0)
    return VOSModel(pretrained_backbone=False)


def tiny_batch(B=2, T=3, K=2, H=64, W=96):
    g = torch.Generator().manual_seed(1)
    frames = (torch.rand(B, T, 3, H, W, generator=g) * 255).to(torch.uint8)
    masks = torch.zeros(B, T, K, H, W, dtype=torch.bool)
    masks[:, :, 0, 8:30, 10:40] = True
    masks[:, :2, 1, 35:60, 50:90] = True   # object 1 leaves in the last frame
    valid = torch.tensor([[True, True], [True, False]])
    return dict(frames=frames, masks=masks, valid=valid, times=torch.tensor([[0, 1, 4], [0, 3, 5]]))


def test_gradients_reach_every_trainable_part(model):
    model.train()
    loss, stats = clip_loss(model, tiny_batch(), box_prob=0.5)
    assert torch.isfinite(loss)
    loss.backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(not n.startswith("backbone.") for n, _ in trainable)
    no_grad = [n for n, p in trainable if p.grad is None or not torch.isfinite(p.grad).all()
               or p.grad.abs().sum() == 0]
    assert no_grad == []
    assert set(stats) == {"box", "track"}


def test_backbone_is_frozen(model):
    model.train()
    assert not model.backbone.training
    assert all(not p.requires_grad for p in model.backbone.parameters())


def test_values_equal_the_frame_maps_repeated_for_every_object(model):
    """The value encoder convolves the frame maps' share once for all objects; its values are those of
    the frame maps repeated per object and concatenated with each object's mask features."""
    model.eval()
    B, K, H, W = 2, 3, 64, 96
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        feats = model.encode_frame(torch.rand(B, 3, H, W, generator=g) * 255)
        masks = (torch.rand(B, K, H // 4, W // 4, generator=g) > 0.6).float()
        v16, v8 = model.values(feats, masks)
        enc = model.values
        m8, m16 = enc.masks(masks, False)
        f8 = enc.frame8(feats.f8).repeat_interleave(K, 0)
        f16 = enc.frame16(feats.f16).repeat_interleave(K, 0)
        expected8 = enc.fuse8(torch.cat([f8, m8], 1)).unflatten(0, (B, K))
        expected16 = enc.fuse16(torch.cat([f16, m16], 1)).unflatten(0, (B, K))
    assert torch.allclose(v8, expected8, atol=1e-5) and torch.allclose(v16, expected16, atol=1e-5)
    assert not torch.allclose(v16[:, 0], v16[:, 1], atol=1e-3)                  # the objects differ


def test_segment_shapes_and_finite(model):
    model.eval()
    B, K, H, W = 1, 3, 64, 96
    with torch.no_grad():
        feats = model.encode_frame(torch.rand(B, 3, H, W) * 255)
        masks = torch.zeros(B, K, H // 4, W // 4)
        masks[:, :, 2:8, 3:12] = 1
        v16, v8 = model.values(feats, masks)
        N = v16.shape[-1] * v16.shape[-2]
        keys = feats.key16.flatten(2).transpose(1, 2)
        values = v16.flatten(3).transpose(2, 3)
        buckets = torch.zeros(B, N, dtype=torch.long)
        valid = torch.ones(B, K, dtype=torch.bool)
        queries = model.query_init(feats, masks)
        logits, presence, idx, w = model.segment(feats, keys, values, buckets, feats.key8, v8, queries, valid,
                                                 top_k=8)
    assert logits.shape == (B, K, H // 4, W // 4)
    assert presence.shape == (B, K)
    assert queries.shape == (B, K, model.cfg.queries_per_object, model.cfg.query_dim)
    assert idx.shape == w.shape == (B, (H // 16) * (W // 16), 8)
    assert torch.allclose(w.sum(-1), torch.ones(1))
    assert torch.isfinite(logits).all() and torch.isfinite(presence).all()


def test_readout_is_the_softmax_weighted_sum_of_the_top_k_values(model):
    """The embedding-bag readout equals the formula written out, for every batch item and object,
    and passes gradients to the values and to the keys (through the top-k weights)."""
    g = torch.Generator().manual_seed(3)
    B, K, N, Cv, k = 2, 3, 50, 128, 10
    q, keys = torch.randn(B, 64, 4, 6, generator=g), torch.randn(B, N, 64, generator=g, requires_grad=True)
    values = torch.randn(B, K, N, Cv, generator=g, requires_grad=True)
    buckets = torch.randint(0, 8, (B, N), generator=g)
    readout, idx, weights = model.reader(q, keys, values, buckets, k)
    sim = model.reader.affinity(q.flatten(2), keys, buckets)                    # B x P x N
    top_val, top_idx = sim.topk(k, dim=-1)
    picked = values[torch.arange(B)[:, None, None, None], torch.arange(K)[None, :, None, None], top_idx[:, None]]
    expected = (top_val.softmax(-1)[:, None, ..., None] * picked).sum(3)        # B x K x P x Cv
    assert readout.shape == (B, K, Cv, 4, 6)
    assert torch.equal(idx, top_idx)
    assert torch.allclose(readout.flatten(3).transpose(2, 3), expected, atol=1e-5)
    readout.square().sum().backward()
    assert values.grad.abs().sum() > 0 and keys.grad.abs().sum() > 0


def test_objects_read_only_the_tokens_they_are_known_on(model):
    """With ``known``, each object's top-k weights are renormalised over its known tokens: an object
    known everywhere reads as without ``known``; one known on a few tokens reads only those."""
    g = torch.Generator().manual_seed(5)
    B, K, N, Cv, k = 1, 2, 40, 16, 8
    q, keys = torch.randn(B, 64, 3, 5, generator=g), torch.randn(B, N, 64, generator=g)
    values, buckets = torch.randn(B, K, N, Cv, generator=g), torch.zeros(B, N, dtype=torch.long)
    known = torch.ones(B, K, N, dtype=torch.bool)
    known[0, 1, : N // 2] = False                                               # object 1 added later
    with torch.no_grad():
        plain, idx, weights = model.reader(q, keys, values, buckets, k)
        masked, _, _ = model.reader(q, keys, values, buckets, k, known)
    assert torch.allclose(masked[:, 0], plain[:, 0], atol=1e-5)
    w = weights[0] * (idx[0] >= N // 2)                                          # P x k
    w = w / w.sum(-1, keepdim=True).clamp_min(1e-6)
    expected = (w[..., None] * values[0, 1][idx[0]]).sum(1)                      # P x Cv
    assert torch.allclose(masked[0, 1].flatten(1).T, expected, atol=1e-5)
    assert not torch.allclose(masked[:, 1], plain[:, 1], atol=1e-3)


def test_affinity_is_scaled_negative_distance_plus_time_bias(model):
    """The one-product affinity equals the formula written out: -(|k|^2 - 2 k.q) / sqrt(C) + bias."""
    g = torch.Generator().manual_seed(4)
    q, keys = torch.randn(2, 16, 12, generator=g), torch.randn(2, 30, 16, generator=g)
    buckets = torch.randint(0, 8, (2, 30), generator=g)
    with torch.no_grad():
        model.reader.time_bias.copy_(torch.linspace(-0.5, 0.5, 8))
        sim = model.reader.affinity(q, keys, buckets)                              # B x P x N
        model.reader.time_bias.zero_()
    expected = (2 * torch.einsum("bnc,bcp->bpn", keys, q) - keys.pow(2).sum(-1)[:, None]) / 4.0
    expected = expected + torch.linspace(-0.5, 0.5, 8)[buckets][:, None]
    assert sim.shape == (2, 12, 30)
    assert torch.allclose(sim, expected, atol=1e-4)


def test_blocked_top_k_read_at_inference_equals_the_whole_matrix(model):
    """At inference on the CPU the logits are made and reduced AFFINITY_BLOCK query pixels at a time; the
    top-k values and indices are those of the whole matrix, also for a last block that is not full."""
    g = torch.Generator().manual_seed(6)
    P = 2 * AFFINITY_BLOCK + 37
    q, keys = torch.randn(1, 64, P, generator=g), torch.randn(1, 300, 64, generator=g)
    buckets = torch.randint(0, 8, (1, 300), generator=g)
    whole_values, whole_indices = model.reader.affinity(q, keys, buckets).topk(20, dim=-1)
    with torch.inference_mode():
        values, indices = model.reader.top_affinities(q, keys, buckets, 20)
    assert values.shape == indices.shape == (1, P, 20)
    assert torch.allclose(values, whole_values, atol=1e-5) and torch.equal(indices, whole_indices)


def test_argmax_along_matches_argmax_with_ties():
    x = torch.randint(0, 3, (3, 20, 30)).float()                                   # many ties
    assert torch.equal(argmax_along(x, 0), x.argmax(0))
    assert torch.equal(argmax_along(x, 1), x.argmax(1))


def test_folded_backbone_computes_the_library_network():
    """Batch-norms folded into the convolutions, symmetric "same" paddings into the convolutions' own:
    the same features as the unmodified EfficientNet."""
    from vos_ros.core.backbone import LITE0_TAPS, Backbone, load_efficientnet_lite0

    folded, reference = Backbone(), load_efficientnet_lite0()
    image = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(5)) * 255
    with torch.no_grad():
        x = reference._swish(reference._bn0(reference._conv_stem((image - 127.0) / 128.0)))
        expected = {}
        for i, block in enumerate(reference._blocks[: max(LITE0_TAPS) + 1]):
            x = block(x)
            if i in LITE0_TAPS:
                expected[LITE0_TAPS[i][0]] = x
    got = folded(image)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    # only the four stride-2 layers (stem, blocks 1, 3, 5) keep a padding layer: theirs is one-sided
    assert sum(isinstance(m, torch.nn.ZeroPad2d) for m in folded.modules()) == 4
    for stride, feat in expected.items():
        assert torch.allclose(got[stride], feat, atol=1e-3 * feat.abs().max())


def test_aggregation_gives_each_pixel_one_owner():
    logits = torch.randn(2, 3, 5, 7) * 4
    valid = torch.tensor([[True, True, False], [True, True, True]])
    probs = aggregate(logits, valid).softmax(1)
    assert torch.allclose(probs.sum(1), torch.ones(2, 5, 7), atol=1e-5)
    assert (probs[0, 3] < 1e-4).all()  # a padding slot never wins


def test_time_buckets():
    gap = torch.tensor([0, 1, 2, 3, 4, 100, 5])
    prompt = torch.tensor([False] * 6 + [True])
    assert time_bucket(gap, prompt, 8).tolist() == [0, 0, 1, 1, 2, 6, 7]


def test_checkpoint_round_trip_is_strict(model, tmp_path):
    from vos_ros.core.weights import load_checkpoint

    path = tmp_path / "w.pt"
    export_weights(model, path, {"step": 0})
    loaded = load_checkpoint(path)
    a, b = model.trainable_state_dict(), loaded.trainable_state_dict()
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-2) for k in a)
    other = VOSModel(ModelConfig(value_dim=64), pretrained_backbone=False)
    with pytest.raises((KeyError, RuntimeError)):
        other.load_trainable_state_dict(model.trainable_state_dict())
    with pytest.raises(FileNotFoundError, match="vos-ros train"):
        load_checkpoint(tmp_path / "missing.pt")


def test_fine_matcher_equals_a_pixel_by_pixel_reference():
    """Local top-k matching, written out per pixel: zero-padded window, distance, top-k softmax."""
    g = torch.Generator().manual_seed(3)
    B, C, K, Cv, H, W, r, k = 1, 4, 2, 3, 5, 6, 1, 4
    key, prev = torch.randn(B, C, H, W, generator=g), torch.randn(B, C, H, W, generator=g)
    values = torch.randn(B, K, Cv, H, W, generator=g)
    out = FineMatcher(ModelConfig(fine_radius=r, fine_top_k=k))(key, prev, values)
    expected = torch.zeros_like(out)
    for y in range(H):
        for x in range(W):
            sims, vals = [], []
            for dy in range(-r, r + 1):
                for dx in range(-r, r + 1):
                    inside = 0 <= y + dy < H and 0 <= x + dx < W
                    pk = prev[0, :, y + dy, x + dx] if inside else torch.zeros(C)
                    sims.append(float(2 * key[0, :, y, x] @ pk - pk @ pk) / C ** 0.5)
                    vals.append(values[0, :, :, y + dy, x + dx] if inside else torch.zeros(K, Cv))
            top = torch.tensor(sims).topk(k)
            for w, i in zip(top.values.softmax(0), top.indices, strict=True):
                expected[0, :, :, y, x] += w * vals[int(i)]
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_real_box_loss_trains_the_box_path(model):
    from vos_ros.tools.train import real_box_loss

    model.train()
    model.zero_grad(set_to_none=True)
    g = torch.Generator().manual_seed(2)
    crops = []
    for height, width in ((64, 80), (48, 112)):  # crops differ in size
        mask = torch.zeros(height, width, dtype=torch.bool)
        mask[10:30, 20:50] = True
        frame = (torch.rand(height, width, 3, generator=g) * 255).to(torch.uint8)
        crops.append({"frame": frame.numpy(), "mask": mask.numpy(), "box": (18.0, 8.0, 34.0, 24.0)})
    loss = real_box_loss(model, crops, "cpu")
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    assert model.box_embed.grad is not None and model.box_embed.grad.abs().sum() > 0


def test_decoder_computes_frame_maps_once_with_the_same_result(model):
    """The decoder's fusions take the frame's share of each convolution once for all objects; the
    result must equal the plain form that repeats the frame maps per object (written out here)."""
    from vos_ros.core.model import flat_objects

    model.eval()
    dec, cfg = model.decoder, model.cfg
    B, K, H, W = 2, 3, 64, 96
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        feats = model.encode_frame(torch.rand(B, 3, H, W, generator=g) * 255)
        readout16 = torch.randn(B, K, cfg.value_dim, H // 16, W // 16, generator=g)
        readout8 = torch.randn(B, K, cfg.fine_value_dim, H // 8, W // 8, generator=g)
        queries = torch.randn(B, K, cfg.queries_per_object, cfg.query_dim, generator=g)
        logits, presence = dec(feats, readout16, readout8, queries)

        rep = lambda t: t.repeat_interleave(K, 0)  # noqa: E731
        up = lambda t, f: torch.nn.functional.interpolate(t, size=f.shape[-2:], mode="bilinear")  # noqa: E731
        x16 = dec.fuse16(torch.cat([flat_objects(readout16), rep(dec.frame16(feats.f16))], 1))
        x8 = dec.fuse8(torch.cat([up(x16, feats.f8), rep(dec.skip8(feats.f8)), flat_objects(readout8)], 1))
        emb = dec.fuse4(torch.cat([up(x8, feats.f4), rep(dec.skip4(feats.f4))], 1))
        q = flat_objects(queries).mean(1)
        ref = dec.mask_bias(emb)[:, 0] + torch.einsum("be,behw->bhw", dec.kernel(q), emb) / emb.shape[1] ** 0.5
        ref_presence = dec.presence(torch.cat([q, x16.amax((2, 3))], 1))[:, 0]
    assert torch.allclose(logits, ref.view(B, K, *ref.shape[-2:]), atol=1e-4)
    assert torch.allclose(presence, ref_presence.view(B, K), atol=1e-4)


def test_the_model_config_is_frozen_and_an_ablation_is_a_copy(model):
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        model.cfg.use_queries = False
    ablated = model.with_config(model.cfg.without("queries"))
    assert model.cfg.use_queries and model.decoder.cfg.use_queries          # the shared model is untouched
    assert not ablated.cfg.use_queries and not ablated.decoder.cfg.use_queries
    same = ablated.state_dict()
    assert all(torch.equal(same[name], w) for name, w in model.state_dict().items())  # same weights
    with pytest.raises(ValueError, match="unknown component 'fine'"):
        model.cfg.without("fine")
