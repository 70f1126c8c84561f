"""Tensor basics and the autograd engine: accumulation, graph freeing, grad modes, tapes."""
import gc
import weakref

import numpy as np
import pytest

import ember
from ember import Tensor


def test_dtype_defaults_and_conversion():
    assert Tensor([1, 2, 3]).dtype == np.float32
    assert Tensor(np.arange(3)).dtype == np.float32
    assert Tensor(np.zeros(2, np.float64)).dtype == np.float64
    assert Tensor([1.0], dtype="float64").dtype == np.float64
    assert Tensor(np.ones(3, np.float32), dtype="float32").numpy().flags.c_contiguous
    with pytest.raises(TypeError, match="dtype"):
        Tensor([1], dtype="int32")


def test_non_numeric_input_raises():
    with pytest.raises(TypeError, match="numeric"):
        Tensor(np.array(["a", "b"]))
    with pytest.raises(TypeError):
        Tensor([[1, 2], [3]])
    with pytest.raises(TypeError, match="numeric"):
        Tensor(np.array([{}, None], dtype=object))


def test_numpy_item_repr():
    t = Tensor([[2.5]])
    assert t.item() == 2.5 and float(t) == 2.5
    assert t.numpy().shape == (1, 1)
    assert "Tensor(" in repr(t)
    with pytest.raises(ValueError, match="one-element"):
        Tensor([1, 2]).item()


def test_ndarray_operands_either_side():
    x = Tensor(np.ones(3), requires_grad=True)
    y = np.full(3, 2.0, np.float32) * x + 1.0 - np.ones(3, np.float32)
    assert isinstance(y, Tensor)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2, 2, 2])


def test_gradient_accumulates_across_backward_calls():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2 + 3, 4 + 3])


def test_diamond_graph():
    x = Tensor([3.0], requires_grad=True)
    a = x * 2
    y = a * a + a  # dy/dx = (2a + 1) * 2 = 26
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [26.0])


def test_graph_freed_after_backward():
    x = Tensor(np.ones(4), requires_grad=True)
    y = (x * 2).exp().sum()
    y.backward()
    with pytest.raises(RuntimeError, match="freed|already"):
        y.backward()
    z = (x * 2).sum()
    z.backward(retain_graph=True)
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.e ** 2 + 4)


def test_intermediates_released():
    x = Tensor(np.ones((100, 100)), requires_grad=True)
    h = (x * 2).tanh()
    ref = weakref.ref(h)
    loss = h.sum()
    del h
    loss.backward()
    del loss
    gc.collect()
    assert ref() is None


def test_memory_flat_over_many_steps():
    import tracemalloc
    w = Tensor(np.random.rand(32, 16), requires_grad=True)
    x = np.random.rand(8, 32).astype(np.float32)

    def step():
        loss = ((Tensor(x) @ w).relu() ** 2).mean()
        loss.backward()
        w.grad = None
    for _ in range(50):
        step()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(2000):
        step()
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert grown < 200_000, grown


def test_no_grad_and_enable_grad():
    x = Tensor([1.0], requires_grad=True)
    with ember.no_grad():
        y = x * 2
        with ember.enable_grad():
            z = x * 2
    assert not y.requires_grad and z.requires_grad

    @ember.no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_backward_needs_gradient_for_nonscalar():
    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="non-scalar"):
        (x * 2).backward()
    (x * 2).backward(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2, 4, 6])


def test_grad_function_does_not_touch_dot_grad():
    x = Tensor([1.0, 2.0], requires_grad=True)
    w = Tensor([3.0, 4.0], requires_grad=True)
    gx, gw = ember.grad((x * w).sum(), [x, w])
    np.testing.assert_allclose(gx.numpy(), [3, 4])
    np.testing.assert_allclose(gw.numpy(), [1, 2])
    assert x.grad is None and w.grad is None
    unused = Tensor([1.0], requires_grad=True)
    g, = ember.grad((x * 2).sum(), [unused])
    assert g is None


def test_gradient_tape_keras_style():
    w = Tensor(np.array([[1.0], [2.0]]), requires_grad=True)
    b = Tensor([0.5], requires_grad=True)
    x = np.array([[1.0, 1.0], [2.0, 0.0]], np.float32)
    with ember.GradientTape() as tape:
        loss = ((x @ w + b) ** 2).mean()
    gw, gb = tape.gradient(loss, [w, b])
    pred = x @ w.numpy() + 0.5
    np.testing.assert_allclose(gb.numpy(), [np.mean(2 * pred)], rtol=1e-6)
    np.testing.assert_allclose(gw.numpy(), (x.T @ (2 * pred)) / 2, rtol=1e-6)
    with pytest.raises(RuntimeError, match="once"):
        tape.gradient(loss, [w])
    assert isinstance(loss.numpy(), np.ndarray)


def test_gradient_tape_watch_and_persistent():
    x = Tensor([2.0])
    with ember.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        z = y * x
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [4.0])
    np.testing.assert_allclose(tape.gradient(z, x).numpy(), [12.0])


def test_gradient_tape_records_inside_no_grad_block():
    w = Tensor([1.0], requires_grad=True)
    with ember.no_grad():
        with ember.GradientTape() as tape:
            y = w * 3
    np.testing.assert_allclose(tape.gradient(y, [w])[0].numpy(), [3.0])


def test_assign_updates_in_place():
    v = Tensor(np.zeros(3), requires_grad=True)
    data = v.data
    v.assign([1, 2, 3])
    v.assign_sub(np.ones(3))
    assert v.data is data
    np.testing.assert_allclose(v.numpy(), [0, 1, 2])
    with pytest.raises(ValueError, match="shape"):
        v.assign(np.ones(4))


def test_threads_setting():
    n = ember.get_num_threads()
    ember.set_num_threads(1)
    assert ember.get_num_threads() == 1
    ember.set_num_threads(n)
    with pytest.raises(ValueError):
        ember.set_num_threads(0)


def test_gradcheck_catches_a_wrong_gradient():
    from ember.tensor import as_tensor, make_op

    def bad_square(x):
        x = as_tensor(x)
        return make_op(x.data ** 2, (x,), lambda g: (g * x.data,), "bad_square")  # should be 2x
    with pytest.raises(AssertionError, match="mismatch"):
        ember.testing.gradcheck(bad_square, [np.random.rand(3)])
