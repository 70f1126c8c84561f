"""ember.ops against keras.ops (Keras 3, NumPy backend) on the same inputs; run in a child
process by tests/test_keras_ops.py (Keras fixes its backend at import). Prints the
mismatches and "bad N of M"."""
import os
os.environ["KERAS_BACKEND"] = "numpy"
import numpy as np  # noqa: E402
from keras import ops as K  # noqa: E402

from ember import ops as E  # noqa: E402

rng=np.random.default_rng(0)
x=rng.standard_normal((3,4,5)).astype("float32"); y=rng.standard_normal((5,2)).astype("float32")
m=rng.standard_normal((4,4)).astype("float32")
img = np.stack([x, 2 * x], axis=-1)  # (3, 4, 5, 2) images
cases = {
 "mean": lambda o: o.mean(x, axis=(0,2)), "std": lambda o: o.std(x, axis=1), "var": lambda o: o.var(x),
 "logsumexp": lambda o: o.logsumexp(x), "logsumexp1": lambda o: o.logsumexp(x, axis=1, keepdims=True),
 "norm": lambda o: o.norm(x), "norm_ax": lambda o: o.norm(x, axis=-1), "norm_fro": lambda o: o.norm(m, "fro"),
 "norm_nuc": lambda o: o.norm(m, "nuc"), "norm2": lambda o: o.norm(m, 2), "norm1v": lambda o: o.norm(x, 1, axis=0),
 "top_k": lambda o: o.top_k(x, 2)[0], "top_ki": lambda o: o.top_k(x, 2)[1],
 "argsort": lambda o: o.argsort(x, axis=1), "sort": lambda o: o.sort(x, axis=0),
 "one_hot": lambda o: o.one_hot(np.array([0,2,1]), 4), "one_hot0": lambda o: o.one_hot(np.array([0,2,1]), 4, axis=0),
 "split": lambda o: o.split(x, [1,3], axis=1)[1], "take": lambda o: o.take(x, np.array([0,2]), axis=1),
 "take_none": lambda o: o.take(x, np.array([0,7])), "tal": lambda o: o.take_along_axis(x, np.zeros((3,1,5),int), axis=1),
 "tile": lambda o: o.tile(y, (2,3)), "repeat": lambda o: o.repeat(y, 2, axis=0), "cumsum": lambda o: o.cumsum(x, axis=1),
 "cumsum_none": lambda o: o.cumsum(x), "prod": lambda o: o.prod(x, axis=2), "einsum": lambda o: o.einsum("ijk,kl->ijl", x, y),
 "dot": lambda o: o.dot(x, y), "gelu": lambda o: o.gelu(x), "softmax0": lambda o: o.softmax(x, axis=0),
 "clip": lambda o: o.clip(x, -0.5, 0.5), "eye": lambda o: o.eye(3, 4, 1), "arange": lambda o: o.arange(1, 7, 2),
 "linspace": lambda o: o.linspace(0, 1, 5), "full": lambda o: o.full((2,), 3), "round": lambda o: o.round(x, 1),
 "pad": lambda o: o.pad(y, ((1,1),(0,2)), mode="reflect"), "flip": lambda o: o.flip(x, axis=(0,2)),
 "meshgrid": lambda o: o.meshgrid(np.arange(3), np.arange(2))[0], "tril": lambda o: o.tril(m, -1),
 "where": lambda o: o.where(x > 0, x, 0.0), "max_init": lambda o: o.max(x, axis=0, initial=0.5),
 "bce": lambda o: o.binary_crossentropy((x>0).astype("float32"), 1/(1+np.exp(-x))),
 "bce_l": lambda o: o.binary_crossentropy((x>0).astype("float32"), x, from_logits=True),
 "cce": lambda o: o.categorical_crossentropy(np.eye(5)[[0,1,2,3]].astype("float32"), np.abs(x[0]), axis=-1),
 "scce_l": lambda o: o.sparse_categorical_crossentropy(np.array([0,1,2,3]), x[0], from_logits=True),
 "scce": lambda o: o.sparse_categorical_crossentropy(np.array([0,1,2,3]), np.abs(x[0])),
 "hard_sigmoid": lambda o: o.hard_sigmoid(x), "log_sigmoid": lambda o: o.log_sigmoid(x), "relu6": lambda o: o.relu6(x*10),
 "normalize": lambda o: o.normalize(x), "moments": lambda o: o.moments(x, (0,1))[1],
 "argmax": lambda o: o.argmax(x, axis=1), "argmax_none": lambda o: o.argmax(x),
 "count_nonzero": lambda o: o.count_nonzero(x > 0, axis=1), "diag": lambda o: o.diag(m, 1), "diag1": lambda o: o.diag(y[:,0], -1),
 "roll": lambda o: o.roll(x, 2, axis=1), "nan_to_num": lambda o: o.nan_to_num(np.array([np.nan, np.inf])),
 "mod": lambda o: o.mod(x, 0.3), "tensordot": lambda o: o.tensordot(x, y, axes=1), "outer": lambda o: o.outer(y, y[:, 0]),
 "moveaxis": lambda o: o.moveaxis(x, [0,1], [2,0]), "slice": lambda o: o.slice(x, (1,0,2), (2,2,2)),
 "divide_int": lambda o: o.divide(np.array([1,2],dtype="int32"), 2),
 "floor_div": lambda o: o.floor_divide(x, 0.3), "sign": lambda o: o.sign(x), "log1p": lambda o: o.log1p(np.abs(x)),
 "average": lambda o: o.average(x, axis=1, weights=np.array([1.0, 2, 3, 4])),
 "in_top_k": lambda o: o.in_top_k(np.array([0, 1, 2, 3]), x[0], 2), "unstack": lambda o: o.unstack(x, axis=1)[2],
 "hstack": lambda o: o.hstack([y, y]), "vstack": lambda o: o.vstack([y[0], y[1]]), "tri": lambda o: o.tri(3, 4, 1),
 "isclose": lambda o: o.isclose(x, x + 1e-9), "append": lambda o: o.append(y, y[0]),
 "scan": lambda o: o.scan(lambda c, v: (c + v, c * v), np.zeros(5, "float32"), x[0])[1],
 "fori": lambda o: o.fori_loop(0, 3, lambda i, v: v * 2.0, o.ones((2,))),
 "map": lambda o: o.map(lambda r: o.sum(r), x),
 "dpa": lambda o: o.dot_product_attention(x[..., None][:, :, :2], x[..., None][:, :, 1:3], x[..., None][:, :, 2:4]),
 "dpa_mask": lambda o: o.dot_product_attention(x[:2, :, None, :], x[:2, :, None, :], x[:2, :, None, :],
                                               mask=np.tril(np.ones((4, 4), bool)), bias=np.full((4, 4), 0.5, "float32")),
 "dpa_causal": lambda o: o.dot_product_attention(x[:2, :, None, :], x[:2, :, None, :], x[:2, :, None, :], is_causal=True),
 "batchnorm": lambda o: o.batch_normalization(x, x[0, 0], np.abs(x[1, 1]), axis=-1, offset=x[2, 2], scale=x[0, 1]),
 "segment_sum": lambda o: o.segment_sum(x[0], np.array([0, 2, 2, 1]), num_segments=3),
 "patches": lambda o: o.image.extract_patches(img, 2),
 "patches_same": lambda o: o.image.extract_patches(img, (2, 3), strides=(1, 2), padding="same"),
 "resize_up": lambda o: o.image.resize(img, (7, 11)),
 "resize_down": lambda o: o.image.resize(img, (2, 3), interpolation="nearest"),
 "expand": lambda o: o.expand_dims(x, (0, 2)), "squeeze": lambda o: o.squeeze(x[:1]), "stack": lambda o: o.stack([y, y], axis=1),
}
bad=0
for k, f in cases.items():
    try:
        a = np.asarray(K.convert_to_numpy(f(K)))
    except Exception as e:
        print("keras fails", k, e); continue
    try:
        b = E.convert_to_numpy(f(E))
    except Exception as e:
        print("EMBER FAILS", k, repr(e)); bad+=1; continue
    if a.shape != b.shape or not np.allclose(a, b, rtol=1e-4, atol=1e-5) or (a.dtype.kind != b.dtype.kind):
        print("MISMATCH", k, a.shape, b.shape, a.dtype, b.dtype, np.max(np.abs(a-b)) if a.shape==b.shape else ""); bad+=1
print("bad", bad, "of", len(cases))
