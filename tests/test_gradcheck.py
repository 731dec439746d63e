"""gradcheck itself: it passes a right backward and fails a wrong one, naming input and element."""
import pytest

import tinyattn
from tinyattn.engine.autograd import Function


class SquareWithSlightlyWrongBackward(Function):
    """y = x^2 with backward 2x (1 + 1e-5): a mistake 100x below the old default rtol of 1e-3."""

    __slots__ = ()

    def forward(self, x):
        self.saved = x
        return x * x

    def backward(self, g):
        return (g * self.saved * (2.0 * (1.0 + 1e-5)),)


class TransposedGradient(Function):
    """y = x @ w (w square) with the gradient of w transposed: the right shape, wrong numbers."""

    __slots__ = ()

    def forward(self, x, w):
        self.saved = (x, w)
        return x @ w

    def backward(self, g):
        x, w = self.saved
        dw = (x.T @ g).T
        return g @ w.T, dw


def _x(*shape):
    tinyattn.manual_seed(0)
    return tinyattn.randn(*shape, dtype="float64", requires_grad=True) + 1.5


def test_gradcheck_passes_a_right_backward(backend):
    assert tinyattn.gradcheck(lambda x: x * x, _x(3, 4))


def test_gradcheck_fails_a_backward_off_by_one_part_in_100000_and_names_the_element(backend):
    with pytest.raises(tinyattn.GradcheckError, match=r"input 0 \(shape \(3, 4\)\): \d+ of 12 elements "
                                                      r"disagree; worst at index \(\d, \d\)"):
        tinyattn.gradcheck(SquareWithSlightlyWrongBackward.apply, _x(3, 4))


def test_gradcheck_names_the_input_whose_gradient_is_wrong(backend):
    x, w = _x(2, 3), _x(3, 3)
    with pytest.raises(tinyattn.GradcheckError, match=r"input 1 \(shape \(3, 3\)\)"):
        tinyattn.gradcheck(TransposedGradient.apply, x, w)


def test_directional_gradcheck_fails_a_wrong_backward_too(backend):
    with pytest.raises(tinyattn.GradcheckError, match="input 0 .* directional derivative"):
        tinyattn.gradcheck(SquareWithSlightlyWrongBackward.apply, _x(30, 40), directional=True)
