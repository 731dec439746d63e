"""The basic layers, with PyTorch's names, weight shapes and default initialisations."""
import math

from .. import functional as F
from ..engine.creation import ones, rand, randn, zeros
from ..engine.tensor import Tensor
from ..engine.tensor_functions import where
from .module import Module, Parameter


def uniform(shape, bound, dtype=None):
    """A Parameter drawn uniformly from [-bound, bound)."""
    return Parameter((rand(*shape, dtype=dtype) * 2.0 - 1.0) * bound)


class Linear(Module):
    """y = x @ weight^T + bias.  x (..., in_features) -> (..., out_features).

    weight (out_features, in_features) and bias (out_features,) start uniform in
    +-1/sqrt(in_features), as PyTorch's default (Kaiming-uniform with a = sqrt 5 comes to that).
    """

    def __init__(self, in_features, out_features, bias=True, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)
        self.weight = uniform((out_features, in_features), bound, dtype)
        self.bias = uniform((out_features,), bound, dtype) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Embedding(Module):
    """A lookup table: integer ids (...) -> their rows (..., embedding_dim). Weights start N(0, 1).

    padding_idx (as PyTorch): the id of a padding token, negative counting from the end. Its row
    starts at zero and gets no gradient, so padding embeds as a fixed vector (zero unless you
    set it) that training never moves.
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, dtype=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} is out of range for "
                                 f"num_embeddings={num_embeddings}")
            padding_idx %= num_embeddings
        self.padding_idx = padding_idx
        self.weight = Parameter(randn(num_embeddings, embedding_dim, dtype=dtype))
        if padding_idx is not None:
            self.weight.data[padding_idx, ...] = 0

    def forward(self, index):
        # ids must be in [0, num_embeddings): F.embedding refuses a negative one, as PyTorch does
        index = index if isinstance(index, Tensor) else Tensor(index, backend=self.weight.backend)
        try:
            out = F.embedding(index, self.weight)
        except IndexError as e:
            raise IndexError(f"Embedding({self.num_embeddings}, {self.embedding_dim}): {e}") from None
        if self.padding_idx is not None and out.requires_grad:
            # padding positions read the row from a detached copy: the same values, but their
            # gradient goes nowhere, so the padding row's gradient stays zero (cost O(B T C),
            # not a pass over the whole table)
            padding = index.data[..., None] == self.padding_idx
            out = where(padding, out.detach(), out)
        return out

    def extra_repr(self):
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{padding}"


class LayerNorm(Module):
    """Normalise the last axes to mean 0 and variance 1, then scale (weight, starts at 1) and
    shift (bias, starts at 0). x (..., *normalized_shape), same shape out."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, dtype=None):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps = shape, eps
        self.weight = Parameter(ones(shape, dtype=dtype)) if elementwise_affine else None
        self.bias = Parameter(zeros(shape, dtype=dtype)) if elementwise_affine and bias else None

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"


class Dropout(Module):
    """Zero a fraction p of the elements (and scale the rest by 1/(1-p)) in training mode only."""

    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class FeedForward(Module):
    """The Transformer's position-wise feed-forward network: linear, activation, dropout, linear.
    x (..., d_model) -> (..., d_model), through a hidden width d_ff (4 * d_model in GPT)."""

    def __init__(self, d_model, d_ff, dropout=0.0, activation="relu", bias=True, dtype=None):
        super().__init__()
        if activation not in ("relu", "gelu", "gelu_tanh"):
            raise ValueError(f"FeedForward: activation must be 'relu', 'gelu' or 'gelu_tanh', "
                             f"got {activation!r}")
        self.activation = activation
        self.linear1 = Linear(d_model, d_ff, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(d_ff, d_model, bias=bias, dtype=dtype)

    def forward(self, x):
        h = self.linear1(x)
        if self.activation == "relu":
            h = F.relu(h)
        else:
            h = F.gelu(h, approximate="tanh" if self.activation == "gelu_tanh" else "none")
        return self.linear2(self.dropout(h))

    def extra_repr(self):
        return f"activation={self.activation}"


class ModuleList(Module):
    """A list of modules whose parameters belong to the parent (a plain list would hide them).

    Indexing, len, iteration, append, extend, insert and item assignment work as on a list (and
    as PyTorch's ModuleList); a slice is a new ModuleList of the same modules.
    """

    def __init__(self, modules=()):
        super().__init__()
        self.extend(modules)

    def append(self, module):
        _check_module(self, module)
        setattr(self, str(len(self._modules)), module)      # registered under "0", "1", ...
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        """Put `module` before position `index`; the ones after it move up a name ("1" -> "2")."""
        _check_module(self, module)
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._modules.clear()
        self.extend(modules)

    def _index(self, i):
        """An int index as the registered name of that entry (negative counts from the end)."""
        n = len(self._modules)
        if not isinstance(i, int) or isinstance(i, bool):
            raise TypeError(f"{type(self).__name__} indices must be integers or slices, "
                            f"not {type(i).__name__}")
        if not -n <= i < n:
            raise IndexError(f"{type(self).__name__} index {i} is out of range for length {n}")
        return list(self._modules)[i]

    def __getitem__(self, i):
        if isinstance(i, slice):
            return type(self)(list(self._modules.values())[i])
        return self._modules[self._index(i)]

    def __setitem__(self, i, module):
        _check_module(self, module)
        setattr(self, self._index(i), module)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class Sequential(ModuleList):
    """Modules applied one after another: Sequential(Linear(2, 8), ReLU(), Linear(8, 1)).

    A slice is a Sequential of those modules under their original names (as PyTorch:
    model[1:] has layers "1", "2", ...), so its state_dict keys match the full model's."""

    def __init__(self, *modules):
        super().__init__(modules)

    def __getitem__(self, i):
        if not isinstance(i, slice):
            return super().__getitem__(i)
        part = Sequential()
        for name in list(self._modules)[i]:
            setattr(part, name, self._modules[name])
        return part

    def forward(self, x):
        for m in self:
            x = m(x)
        return x


def _check_module(container, module):
    if not isinstance(module, Module):      # a function would be dropped, not called
        raise TypeError(f"{type(container).__name__}: {type(module).__name__} is not a Module; wrap "
                        "functions in one (nn.ReLU() for F.relu)")


class ReLU(Module):
    def forward(self, x):
        return F.relu(x)


class GELU(Module):
    """GELU as a layer; approximate="tanh" for GPT-2's form."""

    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)


class CrossEntropyLoss(Module):
    """F.cross_entropy as a module: CrossEntropyLoss(label_smoothing=0.1)(logits, target)."""

    def __init__(self, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
        super().__init__()
        self.ignore_index, self.label_smoothing, self.reduction = ignore_index, label_smoothing, reduction

    def forward(self, logits, target):
        return F.cross_entropy(logits, target, self.ignore_index, self.label_smoothing, self.reduction)
