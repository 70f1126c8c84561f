"""``ember.ops`` on the emulated CUDA device: about a hundred ops (arithmetic, reductions,
shapes, gathers, activations, losses, attention, pooling, image, linalg) give device results
(no host leak: EmuArray refuses implicit conversion) equal to the CPU's, and their gradients
flow back."""
import shutil

import numpy as np
import pytest

import ember
from ember import ops

if shutil.which("g++") is None:
    pytest.skip("the CUDA emulator needs g++", allow_module_level=True)
runtime = pytest.importorskip("ember.backend.cuda.runtime", reason="the CUDA backend runtime is not installed")

CASES = {
    "add": lambda x, y, v, sq, T: x + y, "sub": lambda x, y, v, sq, T: x - 1.0, "rmul": lambda x, y, v, sq, T: 2 * x,
    "div": lambda x, y, v, sq, T: x / (y * y + 3), "square": lambda x, y, v, sq, T: x ** 2,
    "pow": lambda x, y, v, sq, T: ops.power(ops.abs(x) + 1, y), "matmul": lambda x, y, v, sq, T: x @ sq,
    "matvec": lambda x, y, v, sq, T: x @ v, "sum": lambda x, y, v, sq, T: ops.sum(x, 1),
    "mean": lambda x, y, v, sq, T: ops.mean(x), "max": lambda x, y, v, sq, T: ops.max(x, 0),
    "var": lambda x, y, v, sq, T: ops.var(x), "std": lambda x, y, v, sq, T: ops.std(x, 0),
    "exp": lambda x, y, v, sq, T: ops.exp(x), "log": lambda x, y, v, sq, T: ops.log(ops.abs(x) + 0.1),
    "sqrt": lambda x, y, v, sq, T: ops.sqrt(ops.abs(x) + 0.1), "tanh": lambda x, y, v, sq, T: ops.tanh(x),
    "sigmoid": lambda x, y, v, sq, T: ops.sigmoid(x), "relu": lambda x, y, v, sq, T: ops.relu(x),
    "clip": lambda x, y, v, sq, T: ops.clip(x, -0.5, 0.5), "where": lambda x, y, v, sq, T: ops.where(x > 0, x, y),
    "maximum": lambda x, y, v, sq, T: ops.maximum(x, 0.0), "reshape": lambda x, y, v, sq, T: ops.reshape(x, (4, 3)),
    "transpose": lambda x, y, v, sq, T: ops.transpose(x), "concat": lambda x, y, v, sq, T: ops.concatenate([x, y], 0),
    "stack": lambda x, y, v, sq, T: ops.stack([x, y]), "slice": lambda x, y, v, sq, T: x[1:, ::2],
    "fancy": lambda x, y, v, sq, T: x[np.array([0, 2, 2])], "pad": lambda x, y, v, sq, T: ops.pad(x, [(1, 1), (0, 2)]),
    "softmax": lambda x, y, v, sq, T: ops.softmax(x), "log_softmax0": lambda x, y, v, sq, T: ops.log_softmax(x, axis=0),
    "logsumexp": lambda x, y, v, sq, T: ops.logsumexp(x), "gelu": lambda x, y, v, sq, T: ops.gelu(x),
    "gelu_tanh": lambda x, y, v, sq, T: ops.gelu(x, approximate=True), "elu": lambda x, y, v, sq, T: ops.elu(x),
    "selu": lambda x, y, v, sq, T: ops.selu(x), "softplus": lambda x, y, v, sq, T: ops.softplus(x),
    "silu": lambda x, y, v, sq, T: ops.silu(x), "leaky_relu": lambda x, y, v, sq, T: ops.leaky_relu(x),
    "sin": lambda x, y, v, sq, T: ops.sin(x), "log1p": lambda x, y, v, sq, T: ops.log1p(ops.abs(x)),
    "cumsum": lambda x, y, v, sq, T: ops.cumsum(x, 1), "cumprod": lambda x, y, v, sq, T: ops.cumprod(x, 1),
    "prod": lambda x, y, v, sq, T: ops.prod(x, 1), "one_hot": lambda x, y, v, sq, T: ops.one_hot(ops.argmax(x, 1), 4),
    "tril": lambda x, y, v, sq, T: ops.tril(sq), "diag": lambda x, y, v, sq, T: ops.diag(v),
    "take": lambda x, y, v, sq, T: ops.take(x, np.array([0, 2]), axis=1),
    "take_along": lambda x, y, v, sq, T: ops.take_along_axis(x, ops.argmax(x, 1)[:, None], 1),
    "roll": lambda x, y, v, sq, T: ops.roll(x, 1, 1), "repeat": lambda x, y, v, sq, T: ops.repeat(x, 2, 0),
    "tile": lambda x, y, v, sq, T: ops.tile(x, (2, 1)), "flip": lambda x, y, v, sq, T: ops.flip(x, 0),
    "sort": lambda x, y, v, sq, T: ops.sort(x), "einsum": lambda x, y, v, sq, T: ops.einsum("ij,jk->ik", x, sq),
    "norm": lambda x, y, v, sq, T: ops.norm(x), "tensordot": lambda x, y, v, sq, T: ops.tensordot(x, sq, 1),
    "outer": lambda x, y, v, sq, T: ops.outer(v, v), "nan_to_num": lambda x, y, v, sq, T: ops.nan_to_num(x),
    "bce": lambda x, y, v, sq, T: ops.binary_crossentropy(ops.sigmoid(y), ops.sigmoid(x)),
    "cce": lambda x, y, v, sq, T: ops.categorical_crossentropy(ops.softmax(y), ops.softmax(x)),
    "scce": lambda x, y, v, sq, T: ops.sparse_categorical_crossentropy(np.array([0, 3, 1]), ops.softmax(x)),
    "scce_logits": lambda x, y, v, sq, T: ops.sparse_categorical_crossentropy(np.array([0, 3, 1]), x, from_logits=True),
    "normalize": lambda x, y, v, sq, T: ops.normalize(x),
    "max_pool": lambda x, y, v, sq, T: ops.max_pool(T(2, 8, 8, 3), 2),
    "avg_pool": lambda x, y, v, sq, T: ops.average_pool(T(2, 8, 8, 3), 2, padding="same"),
    "dot_product_attention": lambda x, y, v, sq, T: ops.dot_product_attention(T(2, 5, 2, 4), T(2, 5, 2, 4), T(2, 5, 2, 4),
                                                                                is_causal=True),
    "segment_sum": lambda x, y, v, sq, T: ops.segment_sum(x, np.array([0, 0, 1])),
    "resize": lambda x, y, v, sq, T: ops.image.resize(T(1, 6, 6, 3), (4, 4)),
    "extract_patches": lambda x, y, v, sq, T: ops.image.extract_patches(T(1, 6, 6, 3), 2),
    "average": lambda x, y, v, sq, T: ops.average(x, 0, v[:3]),
}
BOOL_OR_INT = {
    "compare": lambda x, y, v, sq, T: ops.logical_and(x > 0, y <= 0.5), "equal": lambda x, y, v, sq, T: x == y,
    "argmax": lambda x, y, v, sq, T: ops.argmax(x, 1), "count_nonzero": lambda x, y, v, sq, T: ops.count_nonzero(x > 0),
    "zeros": lambda x, y, v, sq, T: ops.zeros((2, 3)), "arange": lambda x, y, v, sq, T: ops.arange(5),
    "eye": lambda x, y, v, sq, T: ops.eye(3), "linspace": lambda x, y, v, sq, T: ops.linspace(0, 1, 5),
    "full": lambda x, y, v, sq, T: ops.full((2,), 3.0),
}


def _run(device, fn):
    ember.set_device(device)
    rng = np.random.default_rng(0)

    def T(*shape):
        return ember.Tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True).to(device)
    args = (T(3, 4), T(3, 4), T(4), T(4, 4))
    out = fn(*args, T)
    outs = out if isinstance(out, (list, tuple)) else [out]
    for o in outs:
        assert o.device == device, f"result on {o.device}"
    loss = None
    for o in outs:
        if o.requires_grad:
            loss = o.sum() if loss is None else loss + o.sum()
    grads = []
    if loss is not None:
        leaves = [a for a in args]
        g = ember.grad(loss, leaves)
        grads = [None if t is None else t.numpy() for t in g]
    return [o.numpy() for o in outs], grads


@pytest.mark.parametrize("name", sorted(CASES) + sorted(BOOL_OR_INT))
def test_op_runs_on_the_emulated_device_like_on_the_cpu(emulated, name):
    fn = CASES.get(name) or BOOL_OR_INT[name]
    want, want_g = _run("cpu", fn)
    got, got_g = _run("cuda", fn)
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(got_g, want_g):
        if b is None:
            assert a is None
        else:
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_erf_has_no_device_path_and_says_so(emulated):
    ember.set_device("cuda")
    with pytest.raises(NotImplementedError, match="erf: no CUDA implementation"):
        ops.erf(ember.Tensor(np.ones(3, np.float32)).to("cuda"))


def test_tensors_on_two_devices_do_not_mix_silently(emulated):
    ember.set_device("cuda")
    a = ember.Tensor(np.ones(3, np.float32))  # host data stays where it is ...
    b = ops.convert_to_tensor(np.ones(3, np.float32))  # ... convert_to_tensor puts it on the current device
    assert a.device == "cpu" and b.device == "cuda"
    with pytest.raises(RuntimeError, match=r"different devices \['cpu', 'cuda'\].*Tensor.to"):
        a + b
    np.testing.assert_array_equal((a.to("cuda") + b).numpy(), np.full(3, 2.0, np.float32))


def test_out_of_range_labels_on_the_device_raise(emulated):
    ember.set_device("cuda")
    logits = ops.convert_to_tensor(np.zeros((3, 4), np.float32))
    bad = ops.convert_to_tensor(np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"outside \[0, 4\)"):  # checked by the fused kernel's wrapper
        ops.sparse_categorical_crossentropy(bad, logits, from_logits=True)
    with pytest.raises(ValueError, match=r"target must be in \[0, 4\)"):
        ops.sparse_categorical_crossentropy(bad, ops.softmax(logits))
