import tinyattn


def test_square_sum_gradient_is_twice_the_input():
    x = tinyattn.tensor([[1.0, -2.0], [3.0, 0.5]], requires_grad=True)
    (x * x).sum().backward()
    assert (tinyattn.tensor(x.grad) == x * 2).numpy().all()
