"""Metrics: Precision, Recall, AUC, top-k accuracy, cross-entropy / regression metrics and
Mean, accumulated over several update_state calls with sample_weight, against scikit-learn
(where it has the metric) and NumPy references of Keras' formulas; names and compile."""
import math

import numpy as np
import pytest

import ember
from ember import metrics as M

rng = np.random.default_rng(7)
N = 300
YB = (rng.random(N) > 0.6).astype(np.float32)
PB = np.clip(0.35 * YB + 0.65 * rng.random(N), 0, 1).astype(np.float32)
W = rng.random(N)
BATCHES = [slice(0, 64), slice(64, 100), slice(100, 230), slice(230, N)]


def accumulate(metric, y, p, w=None, col=True):
    """update_state over uneven batches, with (N, 1) targets and predictions."""
    for sl in BATCHES:
        yy, pp = (y[sl, None], p[sl, None]) if col and y.ndim == 1 else (y[sl], p[sl])
        metric.update_state(yy, pp, None if w is None else w[sl])
    return metric.result()


def keras_confusion_reference(y, p, w, num_thresholds):
    """Keras' bucketed counting (_update_confusion_matrix_variables_optimized), written out."""
    p = np.clip(p.reshape(-1).astype(np.float64), 0, 1)
    pos = (y.reshape(-1) != 0).astype(np.float64)
    w = np.ones_like(p) if w is None else w.reshape(-1)
    b = np.maximum(np.ceil(p * (num_thresholds - 1)) - 1, 0).astype(int)
    tpb = np.zeros(num_thresholds)
    fpb = np.zeros(num_thresholds)
    np.add.at(tpb, b, pos * w)
    np.add.at(fpb, b, (1 - pos) * w)
    tp, fp = np.cumsum(tpb[::-1])[::-1], np.cumsum(fpb[::-1])[::-1]
    return tp, fp, ((1 - pos) * w).sum() - fp, (pos * w).sum() - tp  # tp, fp, tn, fn


def div(a, b):
    return np.where(b > 0, a / np.where(b > 0, b, 1), 0.0)


def keras_auc_reference(y, p, w, n=200, curve="ROC", method="interpolation"):
    tp, fp, tn, fn = keras_confusion_reference(y, p, w, n)
    if curve == "PR" and method == "interpolation":
        dtp, P = tp[:-1] - tp[1:], tp + fp
        slope = div(dtp, np.maximum(P[:-1] - P[1:], 0))
        inter = tp[1:] - slope * P[1:]
        ratio = np.where((P[:-1] > 0) & (P[1:] > 0), div(P[:-1], P[1:]), 1.0)
        return div(slope * (dtp + inter * np.log(ratio)), tp[1:] + fn[1:]).sum()
    x, yy = (div(fp, fp + tn), div(tp, tp + fn)) if curve == "ROC" else (div(tp, tp + fn), div(tp, tp + fp))
    h = {"interpolation": (yy[:-1] + yy[1:]) / 2, "minoring": np.minimum(yy[:-1], yy[1:]),
         "majoring": np.maximum(yy[:-1], yy[1:])}[method]
    return ((x[:-1] - x[1:]) * h).sum()


# ---- Precision / Recall ------------------------------------------------------------------

def test_precision_recall_match_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    for cls, ref in [(M.Precision, sk.precision_score), (M.Recall, sk.recall_score)]:
        got = accumulate(cls(), YB, PB, W)
        assert isinstance(got, float)
        np.testing.assert_allclose(got, ref(YB, PB > 0.5, sample_weight=W), rtol=1e-12)
        np.testing.assert_allclose(accumulate(cls(), YB, PB), ref(YB, PB > 0.5), rtol=1e-12)
        thr = [0.7, 0.2, 0.5]
        got = accumulate(cls(thresholds=thr), YB, PB, W, col=False)
        np.testing.assert_allclose(got, [ref(YB, PB > t, sample_weight=W) for t in thr], rtol=1e-12)


def test_precision_recall_class_id_top_k_and_edge_cases():
    sk = pytest.importorskip("sklearn.metrics")
    lab = rng.integers(0, 4, 80)
    y = np.eye(4)[lab]
    p = rng.random((80, 4))
    w = rng.random(80)
    # class_id: that column only
    m = M.Recall(class_id=2)
    m.update_state(y[:50], p[:50], w[:50])
    m.update_state(y[50:], p[50:], w[50:])
    np.testing.assert_allclose(m.result(), sk.recall_score(lab == 2, p[:, 2] > 0.5, sample_weight=w), rtol=1e-12)
    # top_k=1: the argmax is the one positive prediction per row -> precision = top-1 accuracy
    m = M.Precision(top_k=1)
    m.update_state(y, p, w)
    np.testing.assert_allclose(m.result(), np.sum(w * (p.argmax(1) == lab)) / w.sum(), rtol=1e-12)
    # nothing predicted positive / no positive label: 0, like Keras' divide_no_nan
    m = M.Precision()
    m.update_state(np.ones(3), np.zeros(3))
    assert m.result() == 0.0
    m.reset_state()
    m.update_state([1, 0, 1], [0.6, 0.7, 0.2])
    assert m.result() == 0.5
    with pytest.raises(ValueError, match="threshold values must be in"):
        M.Precision(thresholds=1.5)
    with pytest.raises(ValueError, match="same shape"):
        M.Recall().update_state(np.ones((4, 2)), np.ones((4, 3)))


# ---- AUC ---------------------------------------------------------------------------------

def test_auc_matches_keras_formula_and_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    got = accumulate(M.AUC(), YB, PB, W)
    np.testing.assert_allclose(got, keras_auc_reference(YB, PB, W), rtol=1e-12)
    # 200 thresholds approximate the exact area (Keras' tolerance on continuous scores)
    assert abs(got - sk.roc_auc_score(YB, PB, sample_weight=W)) < 2e-3
    # predictions between distinct thresholds: the thresholded curve is the exact one
    q = (rng.integers(0, 199, N) + 0.5) / 199
    np.testing.assert_allclose(accumulate(M.AUC(), YB, q, W), sk.roc_auc_score(YB, q, sample_weight=W), rtol=1e-12)
    np.testing.assert_allclose(accumulate(M.AUC(num_thresholds=50), YB, PB), keras_auc_reference(YB, PB, None, 50),
                               rtol=1e-12)
    for method in ("interpolation", "minoring", "majoring"):
        np.testing.assert_allclose(accumulate(M.AUC(curve="PR", summation_method=method), YB, PB, W),
                                   keras_auc_reference(YB, PB, W, curve="PR", method=method), rtol=1e-12)
    lo = accumulate(M.AUC(summation_method="minoring"), YB, PB, W)
    hi = accumulate(M.AUC(summation_method="majoring"), YB, PB, W)
    assert lo < got < hi


def test_auc_multi_label_logits_and_errors():
    sk = pytest.importorskip("sklearn.metrics")
    y = (rng.random((120, 3)) > 0.5).astype(np.float32)
    q = (rng.integers(0, 199, (120, 3)) + 0.5) / 199 * 0.6 + 0.4 * y
    q = (np.floor(q * 199) + 0.5) / 199  # keep every prediction mid-bucket
    m = M.AUC(multi_label=True)
    m.update_state(y[:70], q[:70])
    m.update_state(y[70:], q[70:])
    per = [sk.roc_auc_score(y[:, j], q[:, j]) for j in range(3)]
    np.testing.assert_allclose(m.result(), np.mean(per), rtol=1e-12)
    m = M.AUC(multi_label=True, label_weights=[1.0, 0.0, 3.0])
    m.update_state(y, q)
    np.testing.assert_allclose(m.result(), (per[0] + 3 * per[2]) / 4, rtol=1e-12)
    m = M.AUC()  # multi_label=False: one curve over all entries
    m.update_state(y, q)
    np.testing.assert_allclose(m.result(), sk.roc_auc_score(y.ravel(), q.ravel()), rtol=1e-12)
    z = rng.standard_normal(60)
    yz = (z + rng.standard_normal(60) > 0).astype(np.float32)
    a, b = M.AUC(from_logits=True), M.AUC()
    a.update_state(yz, z)
    b.update_state(yz, 1 / (1 + np.exp(-z)))
    assert a.result() == b.result() and 0.5 < a.result() < 1
    with pytest.raises(ValueError, match="num_thresholds must be an integer > 1"):
        M.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match="curve"):
        M.AUC(curve="PRC")
    with pytest.raises(ValueError, match="rank 2"):
        M.AUC(multi_label=True).update_state(np.ones(4), np.ones(4))
    assert M.AUC().result() == 0.0  # nothing seen yet


# ---- accuracy-type, cross-entropy and regression metrics -------------------------------------

def test_top_k_accuracy_matches_sklearn_and_ties():
    sk = pytest.importorskip("sklearn.metrics")
    lab = rng.integers(0, 6, 90)
    p = rng.random((90, 6))
    w = rng.random(90)
    for k in (1, 3, 5):
        m = M.SparseTopKCategoricalAccuracy(k=k)
        m.update_state(lab[:40, None].astype(np.float32), p[:40], w[:40])  # (N, 1) float labels
        m.update_state(lab[40:], p[40:], w[40:])
        want = sk.top_k_accuracy_score(lab, p, k=k, labels=range(6), sample_weight=w)
        np.testing.assert_allclose(m.result(), want, rtol=1e-12)
        m = M.TopKCategoricalAccuracy(k=k)
        m.update_state(np.eye(6)[lab], p, w)
        np.testing.assert_allclose(m.result(), want, rtol=1e-12)
    # ties at the k-th place count as in the top k (Keras' in_top_k)
    m = M.SparseTopKCategoricalAccuracy(k=1)
    m.update_state([1, 2], [[0.5, 0.5, 0.0], [0.2, 0.2, 0.1]])
    assert m.result() == 0.5
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        M.SparseTopKCategoricalAccuracy().update_state([3], [[0.1, 0.2, 0.3]])
    assert M.TopKCategoricalAccuracy().k == 5


def test_crossentropy_metrics_match_numpy():
    p = rng.random((50, 4)) * 0.9 + 0.05
    p32 = p.astype(np.float32)
    lab = rng.integers(0, 4, 50)
    oh = np.eye(4)[lab]
    w = rng.random(50)
    cce = -np.log((p * oh).sum(1) / p.sum(1))  # Keras normalizes probabilities to sum 1
    m = M.CategoricalCrossentropy()
    m.update_state(oh[:20], p32[:20], w[:20])
    m.update_state(oh[20:], p32[20:], w[20:])
    np.testing.assert_allclose(m.result(), (cce * w).sum() / w.sum(), rtol=1e-6)
    m = M.SparseCategoricalCrossentropy()
    m.update_state(lab, p32, w)
    np.testing.assert_allclose(m.result(), (cce * w).sum() / w.sum(), rtol=1e-6)
    yb = (rng.random((50, 1)) > 0.5).astype(np.float32)
    bce = -(yb * np.log(p[:, :1]) + (1 - yb) * np.log(1 - p[:, :1]))[:, 0]
    m = M.BinaryCrossentropy()
    m.update_state(yb, p32[:, :1], w)
    np.testing.assert_allclose(m.result(), (bce * w).sum() / w.sum(), rtol=1e-6)
    z = np.log(p[:, :1] / (1 - p[:, :1])).astype(np.float32)
    m = M.BinaryCrossentropy(from_logits=True)
    m.update_state(yb, z, w)
    np.testing.assert_allclose(m.result(), (bce * w).sum() / w.sum(), rtol=1e-5)
    with pytest.raises(TypeError, match="unexpected keyword"):
        M.Poisson(from_logits=True)


def test_regression_metrics_match_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    t = rng.random((60, 3)) + 0.5
    p = t + rng.standard_normal((60, 3)) * 0.3
    w = rng.random(60)

    def acc(metric):
        for sl in (slice(0, 25), slice(25, 60)):
            metric.update_state(t[sl], p[sl], w[sl])
        return metric.result()

    np.testing.assert_allclose(acc(M.RootMeanSquaredError()), math.sqrt(sk.mean_squared_error(t, p, sample_weight=w)),
                               rtol=1e-12)
    np.testing.assert_allclose(acc(M.MeanAbsolutePercentageError()),
                               100 * sk.mean_absolute_percentage_error(t, p, sample_weight=w), rtol=1e-10)
    msle = ((np.log1p(np.maximum(p, 1e-7)) - np.log1p(t)) ** 2).mean(1)
    np.testing.assert_allclose(acc(M.MeanSquaredLogarithmicError()), (msle * w).sum() / w.sum(), rtol=1e-10)
    cos = (t * p).sum(1) / np.linalg.norm(t, axis=1) / np.linalg.norm(p, axis=1)
    np.testing.assert_allclose(acc(M.CosineSimilarity()), (cos * w).sum() / w.sum(), rtol=1e-10)
    lc = np.log(np.cosh(p - t)).mean(1)
    np.testing.assert_allclose(acc(M.LogCoshError()), (lc * w).sum() / w.sum(), rtol=1e-10)


def test_mean_streams_with_sample_weight():
    m = M.Mean()
    m.update_state([1, 3, 5, 7])
    assert m.result() == 4.0
    m.reset_state()
    m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert m.result() == 2.0
    m.update_state(np.array([[10.0, 20.0]]), sample_weight=[2.0])  # a row's mean, weighted
    np.testing.assert_allclose(m.result(), (1 + 3 + 2 * 15) / 4)
    m.update_state(4.0)
    np.testing.assert_allclose(m.result(), (1 + 3 + 2 * 15 + 4) / 5)
    s = M.Sum()
    s.update_state([1, 2, 3], sample_weight=[1, 0, 2])
    assert s.result() == 7.0
    with pytest.raises(ValueError, match="does not broadcast"):
        M.Mean().update_state(np.ones(4), sample_weight=np.ones(3))


def test_metric_names_directions_and_compile():
    for key, cls in [("precision", M.Precision), ("Recall", M.Recall), ("AUC", M.AUC), ("auc", M.AUC),
                     ("top_k_categorical_accuracy", M.TopKCategoricalAccuracy),
                     ("sparse_top_k_categorical_accuracy", M.SparseTopKCategoricalAccuracy),
                     ("RootMeanSquaredError", M.RootMeanSquaredError), ("root_mean_squared_error", M.RootMeanSquaredError),
                     ("mape", M.MeanAbsolutePercentageError), ("msle", M.MeanSquaredLogarithmicError),
                     ("binary_crossentropy", M.BinaryCrossentropy), ("kl_divergence", M.KLDivergence),
                     ("log_cosh_error", M.LogCoshError), ("cosine_similarity", M.CosineSimilarity)]:
        m = M.get(key)
        assert type(m) is cls and m.name == key, key  # named by the string, like Keras
    assert M.Precision().name == "precision" and M.AUC().name == "auc" and M.LogCoshError().name == "logcosh"
    assert M.RootMeanSquaredError().name == "root_mean_squared_error"
    assert M.AUC._direction == "up" and M.CosineSimilarity._direction == "up" and M.KLDivergence._direction == "down"
    with pytest.raises(ValueError, match="Unknown metric 'prec'"):
        M.get("prec")

    def worst_error(y_true, y_pred):
        return np.abs(y_true - y_pred).max(axis=-1)

    x = rng.standard_normal((32, 2)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    ember.set_seed(0)
    model = ember.Sequential([ember.layers.Dense(1, activation="sigmoid", input_shape=(2,))])
    model.compile("adam", "binary_crossentropy",
                  metrics=["Precision", M.Recall(thresholds=[0.3, 0.7]), worst_error, ember.losses.poisson])
    h = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert set(h.history) == {"loss", "Precision", "recall", "worst_error", "poisson"}
    assert np.shape(h.history["recall"][0]) == (2,)
    logs = model.evaluate(x, y, return_dict=True, verbose=0)
    want = np.abs(y - model.predict(x)).max(-1).mean()
    np.testing.assert_allclose(logs["worst_error"], want, rtol=1e-6)
    sk = pytest.importorskip("sklearn.metrics")
    np.testing.assert_allclose(logs["Precision"], sk.precision_score(y[:, 0], model.predict(x)[:, 0] > 0.5),
                               rtol=1e-12)
