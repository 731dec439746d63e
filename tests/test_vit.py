"""The Vision Transformer against PyTorch: PatchEmbedding equals a stride-p Conv2d flattened to
(B, N, d), and ViT equals the same model built from torch's Conv2d and pre-norm
TransformerEncoderLayer, outputs and every gradient (float64 to 1e-9, float32 to 1e-4: see
nn_twins.TOLERANCE). Then gradcheck, the errors for images of the wrong shape, and attention
rollout against the formula computed in NumPy.
"""
import numpy as np
import pytest
from nn_twins import (
    assert_close,
    assert_grads_match,
    backward_both,
    copy_into_torch,
    gradcheck_module,
    leaves,
    randomise,
)

import tinyattn
from tinyattn import nn

DTYPES = pytest.mark.parametrize("dtype", ["float64", "float32"])

# (name, image_size, patch_size): square and not, and a patch as large as the image
SHAPES = [
    ("square", 8, 4),
    ("non-square image", (8, 12), 4),
    ("non-square patches", (6, 8), (3, 2)),
    ("one patch", (4, 6), (4, 6)),
]
SHAPE_CASES = pytest.mark.parametrize("name,image_size,patch_size", SHAPES, ids=[s[0] for s in SHAPES])


def _size(image_size):
    return (image_size, image_size) if isinstance(image_size, int) else image_size


def _torch_patch_embedding(torch, in_channels, d_model, patch_size):
    """torch's way: a convolution whose stride is its kernel, named as ours (proj)."""
    twin = torch.nn.Module()
    twin.proj = torch.nn.Conv2d(in_channels, d_model, kernel_size=patch_size, stride=patch_size)
    return twin


def _torch_vit(torch, image_size, patch_size, in_channels, num_classes, d_model, num_heads, num_layers,
               d_ff, num_patches):
    """ViT from torch's Conv2d and TransformerEncoderLayer, with our parameter names."""
    nn_ = torch.nn

    class TorchViT(nn_.Module):
        def __init__(self):
            super().__init__()
            self.patch_embedding = _torch_patch_embedding(torch, in_channels, d_model, patch_size)
            self.cls_token = nn_.Parameter(torch.zeros(1, 1, d_model))
            self.position_embedding = nn_.Module()
            self.position_embedding.embedding = nn_.Embedding(num_patches + 1, d_model)
            self.layers = nn_.ModuleList(
                nn_.TransformerEncoderLayer(d_model, num_heads, d_ff, dropout=0.0, activation="gelu",
                                            batch_first=True, norm_first=True)
                for _ in range(num_layers))
            self.final_norm = nn_.LayerNorm(d_model)
            self.head = nn_.Linear(d_model, num_classes)

        def forward(self, images):
            x = self.patch_embedding.proj(images).flatten(2).transpose(1, 2)           # (B, N, d)
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)       # (B, N + 1, d)
            x = x + self.position_embedding.embedding.weight
            for layer in self.layers:
                x = layer(x)
            return self.head(self.final_norm(x)[:, 0])

    return TorchViT()


# -- PatchEmbedding ----------------------------------------------------------------------------
@DTYPES
@SHAPE_CASES
def test_patch_embedding_matches_torch_strided_conv2d(torch, backend, dtype, name, image_size, patch_size):
    layer = randomise(nn.PatchEmbedding(image_size, patch_size, 3, 5, dtype=dtype))
    twin = _torch_patch_embedding(torch, 3, 5, patch_size).to(getattr(torch, dtype))
    copy_into_torch(layer, twin, torch)
    (x,), (tx,) = leaves(torch, dtype, (2, 3, *_size(image_size)))
    out = layer(x)
    expected = twin.proj(tx).flatten(2).transpose(1, 2)
    assert out.shape == (2, layer.num_patches, 5)
    assert_close(out, expected, dtype, "forward")
    backward_both(torch, out, expected)
    assert_close(x.grad, tx.grad, dtype, "gradient of the images")
    assert_grads_match(layer, twin, dtype)


def test_patches_are_row_major_and_flattened_channel_first(backend):
    # an image whose pixel values say where they are: patch (r, c) holds rows 2r.., columns 3c..
    images = np.arange(2 * 2 * 4 * 6, dtype="float64").reshape(2, 2, 4, 6)
    patches = nn.PatchEmbedding((4, 6), (2, 3), 2, 8).patches(tinyattn.tensor(images)).numpy()
    assert patches.shape == (2, 4, 2 * 2 * 3)
    for b in range(2):
        for n, (r, c) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
            patch = images[b, :, 2 * r:2 * r + 2, 3 * c:3 * c + 3]             # (C, ph, pw)
            np.testing.assert_array_equal(patches[b, n], patch.ravel())


def test_patch_embedding_gradcheck(backend):
    layer = nn.PatchEmbedding((4, 6), (2, 3), 2, 3, dtype="float64")
    gradcheck_module(layer, tinyattn.randn(2, 2, 4, 6, dtype="float64", requires_grad=True))


# -- ViT -------------------------------------------------------------------------------------
VIT = dict(in_channels=2, num_classes=3, d_model=8, num_heads=2, num_layers=2, d_ff=16)


@DTYPES
@SHAPE_CASES
def test_vit_logits_and_every_gradient_match_torch(torch, backend, dtype, name, image_size, patch_size):
    model = randomise(nn.ViT(image_size, patch_size, dtype=dtype, **VIT))
    twin = _torch_vit(torch, image_size, patch_size, num_patches=model.patch_embedding.num_patches, **VIT)
    copy_into_torch(model, twin.to(getattr(torch, dtype)), torch)
    (x,), (tx,) = leaves(torch, dtype, (2, 2, *_size(image_size)))
    logits, expected = model(x), twin(tx)
    assert logits.shape == (2, 3)
    assert_close(logits, expected, dtype, "logits")
    backward_both(torch, logits, expected)
    assert_close(x.grad, tx.grad, dtype, "gradient of the images")
    assert_grads_match(model, twin, dtype)


def test_vit_features_are_cls_then_patches_with_weights_on_request(backend):
    model = nn.ViT((8, 12), (4, 3), **VIT)
    images = tinyattn.randn(2, 2, 8, 12)
    features = model.features(images)
    assert features.shape == (2, 8 + 1, 8)                    # N = 2 * 4 patches, then [CLS]
    same, weights = model.features(images, need_weights=True)
    np.testing.assert_allclose(same.numpy(), features.numpy(), rtol=1e-5, atol=1e-6)
    assert len(weights) == 2 and all(w.shape == (2, 2, 9, 9) for w in weights)


def test_vit_cls_token_and_positions_start_small(backend):
    model = nn.ViT(8, 4, **VIT)
    for p in (model.cls_token, model.position_embedding.embedding.weight):
        assert 0.0 < np.std(p.numpy()) < 0.05


def test_vit_gradcheck(backend):
    model = nn.ViT((4, 6), (2, 3), 1, 3, 4, 2, 1, 6, dtype="float64")
    gradcheck_module(model, tinyattn.randn(2, 1, 4, 6, dtype="float64", requires_grad=True), directional=True)


# -- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda: nn.PatchEmbedding((8, 10), 4, 3, 8),
                                  lambda: nn.ViT(10, (2, 4), **VIT)], ids=["PatchEmbedding", "ViT"])
def test_image_size_not_divisible_by_patch_size_is_refused_at_construction(make):
    with pytest.raises(ValueError, match=r"PatchEmbedding: image size \(\d+, 10\) is not divisible by patch"):
        make()


@pytest.mark.parametrize("size", [0, (4, 0), (4, 4, 4), 2.0], ids=["zero", "zero width", "triple", "float"])
def test_a_size_that_is_not_a_positive_int_or_pair_is_refused(size):
    with pytest.raises(TypeError, match="PatchEmbedding: a size must be a positive int or a pair"):
        nn.PatchEmbedding(8, size, 3, 8)


@pytest.mark.parametrize("shape,message", [
    ((2, 1, 8, 8), r"expected 3 channels, got 1"),
    ((3, 8, 8), r"images must be 4-D \(B, C, H, W\) = \(B, 3, 8, 8\), got shape \(3, 8, 8\) \(one image"),
    ((2, 3, 8, 12), r"expected images of H, W = \(8, 8\), got \(8, 12\)"),
    ((2, 3, 12, 12), r"expected images of H, W = \(8, 8\), got \(12, 12\)"),
], ids=["wrong channels", "3-D", "wrong width", "right patches, wrong size"])
def test_images_of_the_wrong_shape_are_refused_with_the_shapes_named(backend, shape, message):
    model = nn.ViT(8, 4, 3, 2, 8, 2, 1, 16)
    with pytest.raises(ValueError, match="PatchEmbedding: " + message):
        model(tinyattn.randn(*shape))


def test_images_that_are_not_a_tensor_are_refused():
    with pytest.raises(TypeError, match=r"images must be a Tensor \(B, 3, 8, 8\), got ndarray"):
        nn.PatchEmbedding(8, 4, 3, 8)(np.zeros((1, 3, 8, 8)))


# -- attention rollout -----------------------------------------------------------------------
def _random_weights(layers, batch=2, heads=3, tokens=5, seed=0):
    """Random attention weights: each row a softmax, so it sums to 1."""
    scores = np.random.default_rng(seed).standard_normal((layers, batch, heads, tokens, tokens))
    weights = np.exp(scores) / np.exp(scores).sum(axis=-1, keepdims=True)
    return weights, [tinyattn.tensor(w) for w in weights]


def test_rollout_of_one_layer_is_half_the_head_average_plus_half_the_identity(backend):
    (w,), weights = _random_weights(1)
    expected = 0.5 * w.mean(axis=1) + 0.5 * np.eye(5)
    np.testing.assert_allclose(nn.attention_rollout(weights).numpy(), expected, rtol=1e-12)


def test_rollout_multiplies_the_layers_later_ones_on_the_left(backend):
    w, weights = _random_weights(3)
    a = [0.5 * layer.mean(axis=1) + 0.5 * np.eye(5) for layer in w]
    rollout = nn.attention_rollout(weights).numpy()
    np.testing.assert_allclose(rollout, a[2] @ a[1] @ a[0], rtol=1e-12)
    np.testing.assert_allclose(rollout.sum(axis=-1), 1.0, rtol=1e-12)


def test_rollout_map_is_cls_row_over_the_patches_on_the_grid(backend):
    model = nn.ViT((8, 12), (4, 3), **VIT)
    images = tinyattn.randn(2, 2, 8, 12)
    maps = model.rollout_map(images)
    assert maps.shape == (2, 2, 4)
    _, weights = model.features(images, need_weights=True)
    cls_row = nn.attention_rollout(weights).numpy()[:, 0]              # (B, N + 1), sums to 1
    np.testing.assert_allclose(maps.numpy(), cls_row[:, 1:].reshape(2, 2, 4), rtol=1e-5)
    np.testing.assert_allclose(maps.numpy().sum(axis=(1, 2)) + cls_row[:, 0], 1.0, rtol=1e-5)


def test_rollout_of_no_layers_is_refused():
    with pytest.raises(ValueError, match="attention_rollout: no layers"):
        nn.attention_rollout([])
