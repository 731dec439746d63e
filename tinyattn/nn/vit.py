"""Vision Transformer (ViT; Dosovitskiy et al. 2021, *An Image is Worth 16x16 Words*).

An image becomes a sequence: cut it into patches of ph x pw pixels, flatten each patch and
project it to d_model. Those N patch vectors are the "tokens"; a learned [CLS] vector is put in
front, learned positions are added, and a stack of pre-norm encoder layers (the Transformer's,
unmasked: every patch sees every other) mixes them. The classifier reads [CLS] alone.
"""
from ..engine.autograd import no_grad
from ..engine.creation import arange, randn
from ..engine.tensor import Tensor
from ..engine.tensor_functions import concat
from .layers import Dropout, LayerNorm, Linear, ModuleList
from .module import Module, Parameter
from .positional import LearnedPositionalEmbedding
from .transformer import TransformerEncoderLayer, keep_weights


class PatchEmbedding(Module):
    """images (B, C, H, W) -> patch vectors (B, N, d_model), N = (H / ph) * (W / pw).

    Patches come row by row of patches, left to right; each is flattened in (C, ph, pw) order and
    projected by `proj`, a Linear with weight (d_model, C * ph * pw). That is exactly
    torch.nn.Conv2d(C, d_model, kernel_size=(ph, pw), stride=(ph, pw)) then .flatten(2).transpose(1, 2):
    with stride = kernel the windows do not overlap, so each output position is one patch's pixels
    dotted with each of the d_model kernels (the conv weight (d_model, C, ph, pw) reshaped) plus
    the bias. A convolution with no overlap is a reshape and a matrix product. (proj starts as
    Conv2d's default does too: uniform in +-1/sqrt(C * ph * pw).)
    image_size and patch_size: an int (square) or (H, W) and (ph, pw).
    """

    def __init__(self, image_size, patch_size, in_channels, d_model, dtype=None):
        super().__init__()
        self.image_size, self.patch_size = _pair(image_size), _pair(patch_size)
        (height, width), (ph, pw) = self.image_size, self.patch_size
        if height % ph or width % pw:
            raise ValueError(f"PatchEmbedding: image size {self.image_size} is not divisible by "
                             f"patch size {self.patch_size}")
        self.in_channels = in_channels
        self.grid_size = (height // ph, width // pw)                # patches down, patches across
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.proj = Linear(in_channels * ph * pw, d_model, dtype=dtype)

    def patches(self, images):
        """images (B, C, H, W) -> the flattened patches (B, N, C * ph * pw), not yet projected."""
        self._check_images(images)
        batch = images.shape[0]
        (rows, cols), (ph, pw) = self.grid_size, self.patch_size
        x = images.reshape(batch, self.in_channels, rows, ph, cols, pw)   # H = rows * ph, W = cols * pw
        x = x.permute(0, 2, 4, 1, 3, 5)                                   # (B, rows, cols, C, ph, pw)
        return x.reshape(batch, self.num_patches, self.in_channels * ph * pw)

    def forward(self, images):
        return self.proj(self.patches(images))                            # (B, N, d_model)

    def _check_images(self, images):
        """Clear errors for images this layer was not built for (here, not deep in a reshape)."""
        wanted = f"(B, {self.in_channels}, {self.image_size[0]}, {self.image_size[1]})"
        if not isinstance(images, Tensor):
            raise TypeError(f"PatchEmbedding: images must be a Tensor {wanted}, got {type(images).__name__}")
        if images.ndim != 4:
            hint = " (one image: images.unsqueeze(0))" if images.ndim == 3 else ""
            raise ValueError(f"PatchEmbedding: images must be 4-D (B, C, H, W) = {wanted}, got shape "
                             f"{images.shape}{hint}")
        if images.shape[1] != self.in_channels:
            raise ValueError(f"PatchEmbedding: expected {self.in_channels} channels, got {images.shape[1]} "
                             f"(images of shape {images.shape}, expected {wanted})")
        if images.shape[2:] != self.image_size:
            raise ValueError(f"PatchEmbedding: expected images of H, W = {self.image_size}, got "
                             f"{images.shape[2:]} (images of shape {images.shape}, expected {wanted})")

    def extra_repr(self):
        return f"image_size={self.image_size}, patch_size={self.patch_size}, num_patches={self.num_patches}"


class ViT(Module):
    """Vision Transformer: images (B, C, H, W) -> logits (B, num_classes).

    Patch embedding, [CLS] in front, learned positions (N + 1 of them), dropout, num_layers
    pre-norm encoder layers (norm_first=True: ViT's choice, as GPT-2's), a final LayerNorm, and a
    Linear head on [CLS]. features(images) gives the normed sequence (B, N + 1, d_model), for use
    as the memory of another model; with need_weights=True also each layer's attention weights.
    [CLS] and the positions start N(0, 0.02), as ViT's; the Linear layers keep their defaults.
    """

    def __init__(self, image_size, patch_size, in_channels, num_classes, d_model, num_heads, num_layers,
                 d_ff, dropout=0.0, activation="gelu", dtype=None):
        super().__init__()
        self.patch_embedding = PatchEmbedding(image_size, patch_size, in_channels, d_model, dtype=dtype)
        # [CLS]: one learned vector, the same for every image. It has no patch of its own, so what
        # it holds after the layers is whatever it gathered by attending: a summary of the image.
        self.cls_token = Parameter(randn(1, 1, d_model, dtype=dtype) * 0.02)
        self.position_embedding = LearnedPositionalEmbedding(self.patch_embedding.num_patches + 1, d_model,
                                                             dtype=dtype)
        table = self.position_embedding.embedding.weight
        table.data = (randn(*table.shape, dtype=table.dtype) * 0.02).data   # small: patches dominate at first
        self.dropout = Dropout(dropout)
        self.layers = ModuleList(TransformerEncoderLayer(d_model, num_heads, d_ff, dropout, activation,
                                                         norm_first=True, dtype=dtype)
                                 for _ in range(num_layers))
        self.final_norm = LayerNorm(d_model, dtype=dtype)       # pre-norm leaves the stream un-normed
        self.head = Linear(d_model, num_classes, dtype=dtype)

    def features(self, images, need_weights=False):
        """images (B, C, H, W) -> (B, N + 1, d_model), [CLS] first, after the final norm; with
        need_weights=True, (features, a list of each layer's weights (B, H, N + 1, N + 1))."""
        x = self.patch_embedding(images)                                  # (B, N, d_model)
        cls = self.cls_token.expand(x.shape[0], 1, x.shape[2])            # (B, 1, d_model)
        x = self.dropout(self.position_embedding(concat([cls, x], axis=1)))   # (B, N + 1, d_model)
        all_weights = []
        for layer in self.layers:
            x = keep_weights(layer(x, need_weights=need_weights), need_weights, all_weights)  # all see all
        x = self.final_norm(x)
        return (x, all_weights) if need_weights else x

    def forward(self, images):
        return self.head(self.features(images)[:, 0])                     # (B, num_classes)

    def rollout_map(self, images):
        """[CLS]'s row of the attention rollout over the patches, as a map per image
        (B, H / ph, W / pw): how much each patch flowed into [CLS] through all the layers."""
        with no_grad():
            _, weights = self.features(images, need_weights=True)
        cls_row = attention_rollout(weights)[:, 0, 1:]                    # (B, N): [CLS] from each patch
        return cls_row.reshape(cls_row.shape[0], *self.patch_embedding.grid_size)


def attention_rollout(weights):
    """Attention rollout (Abnar & Zuidema 2020): how much each input token flows into each output
    position through all the layers. weights: a list per layer of (B, H, T, T), first layer first
    -> (B, T, T), whose rows sum to 1.

    Per layer, average the heads and add the identity, for the residual connection that carries
    each token past the attention, then renormalise each row to sum to 1: A = (W + I) / 2 when
    W's rows sum to 1. Chaining layers multiplies: rollout = A_L @ ... @ A_2 @ A_1.
    """
    if not weights:
        raise ValueError("attention_rollout: no layers' weights given")
    rollout = None
    for w in weights:
        size = w.shape[-1]
        index = arange(size, backend=w.backend)
        identity = (index.unsqueeze(1) == index).to(dtype=w.dtype)        # (T, T)
        a = w.mean(axis=1) + identity                                     # (B, T, T)
        a = a / a.sum(axis=-1, keepdims=True)                             # rows sum to 1
        rollout = a if rollout is None else a @ rollout                   # later layers on the left
    return rollout


def _pair(size):
    """An int n as (n, n); a pair as a tuple of two ints."""
    pair = (size, size) if not isinstance(size, (tuple, list)) else tuple(size)
    if len(pair) != 2 or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in pair):
        raise TypeError(f"PatchEmbedding: a size must be a positive int or a pair (height, width) of "
                        f"them, got {size!r}")
    return pair
