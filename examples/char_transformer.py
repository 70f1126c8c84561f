"""A character-level Transformer language model on CPython's own documentation text.

The corpus is ``pydoc_data.topics`` (shipped with CPython, ~465k characters of real
English/Python prose; values joined in sorted key order). Trains on the first 90 %, reports
validation bits per character, then samples text.

2 pre-norm encoder blocks with a causal mask, d_model 128, 4 heads, context 128.
Trains for a time budget (default 2 minutes; ``--minutes 8`` gives a lower loss) or
``--steps`` steps, whichever ends first, and writes its learning curve (train and
validation bits per character every 100 steps) to ``--plot`` (needs matplotlib).

    python examples/char_transformer.py [--minutes 2] [--steps N] [--plot char_transformer_curve.png]
"""
import argparse
import math
import time

import numpy as np

import ember
import ember.functional as F
from ember.layers import Dense, Embedding, LayerNormalization, PositionEmbedding, TransformerEncoder


def load_text() -> str:
    from pydoc_data.topics import topics
    return "".join(topics[k] for k in sorted(topics))


class CharTransformer(ember.layers.Layer):
    """tokens (B, T) -> next-character logits (B, T, vocab)."""

    def __init__(self, vocab: int, context: int, d_model: int = 128, heads: int = 4, layers: int = 2,
                 ff: int = 512, dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.tok = Embedding(vocab, d_model, embeddings_initializer=ember.initializers.RandomNormal(0.0, 0.02))
        self.pos = PositionEmbedding(context, initializer=ember.initializers.RandomNormal(0.0, 0.02))
        # residual / feed-forward dropout against overfitting the 420k-character corpus; no
        # attention dropout, so training keeps the fused attention kernel
        self.blocks = [TransformerEncoder(ff, heads, dropout=dropout, attention_dropout=0.0, activation="relu",
                                          norm_first=True) for _ in range(layers)]
        self.norm = LayerNormalization(epsilon=1e-5)
        self.head = Dense(vocab)

    def call(self, ids, training=False):
        x = self.tok(ids)
        x = x + self.pos(x)
        for blk in self.blocks:
            x = blk(x, use_causal_mask=True, training=training)
        return self.head(self.norm(x))


def batches(data: np.ndarray, context: int, batch: int, rng: np.random.Generator):
    while True:
        start = rng.integers(0, len(data) - context - 1, batch)
        idx = start[:, None] + np.arange(context + 1)[None, :]
        w = data[idx]
        yield w[:, :-1], w[:, 1:]


def bits_per_char(model, data: np.ndarray, context: int, max_windows: int = None) -> float:
    n = (len(data) - 1) // context
    if max_windows:
        n = min(n, max_windows)
    tot, cnt = 0.0, 0
    with ember.no_grad():
        for i in range(0, n, 64):
            starts = np.arange(i, min(n, i + 64)) * context
            idx = starts[:, None] + np.arange(context + 1)[None, :]
            w = data[idx]
            loss = F.sparse_softmax_cross_entropy(model(w[:, :-1]), w[:, 1:])
            tot += float(loss.data.sum())
            cnt += loss.data.size
    return tot / cnt / math.log(2)


def sample(model, stoi, itos, prompt: str, n: int, context: int, temperature: float, rng) -> str:
    ids = [stoi.get(c, 0) for c in prompt]
    with ember.no_grad():
        for _ in range(n):
            ctx = np.array(ids[-context:])[None]
            logits = model(ctx).data[0, -1].astype(np.float64) / temperature
            p = np.exp(logits - logits.max())
            p /= p.sum()
            ids.append(int(rng.choice(len(p), p=p)))
    return "".join(itos[i] for i in ids)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=2.0, help="training time budget")
    ap.add_argument("--steps", type=int, default=None, help="stop after this many steps (default: the time budget)")
    ap.add_argument("--plot", default="char_transformer_curve.png", help="learning-curve image ('' for none)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="kernel threads (default: ember's default)")
    args = ap.parse_args()
    if args.threads:
        ember.set_num_threads(args.threads)
    ember.set_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    text = load_text()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    itos = {i: c for c, i in stoi.items()}
    data = np.array([stoi[c] for c in text], dtype=np.int64)
    split = int(0.9 * len(data))
    train, val = data[:split], data[split:]
    print(f"corpus: {len(text):,} characters, vocabulary {len(chars)}; train {len(train):,}, validation {len(val):,}")

    T = args.context
    model = CharTransformer(len(chars), T)
    opt = ember.optimizers.Adam(learning_rate=args.lr, global_clipnorm=1.0)
    model(train[None, :T])  # build
    params = model.trainable_variables
    print(f"parameters: {sum(p.size for p in params):,}; threads: {ember.get_num_threads()}")

    budget = args.minutes * 60
    warmup = 100
    t0 = time.perf_counter()
    step, ema = 0, None
    curve = {"steps": [], "history": {"bits_per_char": [], "val_bits_per_char": []}}  # every 100 steps
    for xb, yb in batches(train, T, args.batch_size, rng):
        elapsed = time.perf_counter() - t0
        if elapsed > budget or (args.steps is not None and step >= args.steps):
            break
        frac = min(1.0, elapsed / budget)  # warmup, then cosine decay over the time budget
        opt.learning_rate = args.lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        with ember.GradientTape() as tape:
            loss = F.sparse_softmax_cross_entropy(model(xb, training=True), yb).mean()
        opt.apply_gradients(zip(tape.gradient(loss, params), params))
        ema = float(loss.data) if ema is None else 0.98 * ema + 0.02 * float(loss.data)
        step += 1
        if step % 100 == 0:
            vb = bits_per_char(model, val, T, max_windows=64)
            curve["steps"].append(step)
            curve["history"]["bits_per_char"].append(ema / math.log(2))
            curve["history"]["val_bits_per_char"].append(vb)
            print(f"step {step}: train {ema / math.log(2):.3f} bits/char, val (subset) {vb:.3f} bits/char, "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    train_s = time.perf_counter() - t0
    vb = bits_per_char(model, val, T)
    print(f"validation: {vb:.3f} bits/char over {len(val):,} characters after {step} steps, "
          f"{train_s / 60:.1f} min of training")
    if args.plot and curve["steps"]:
        try:
            ember.utils.plot_history(curve["history"], args.plot, x=curve["steps"], xlabel="step",
                                     title="char Transformer (validation: a 64-window subset)")
            print(f"learning curve written to {args.plot}")
        except ImportError as e:
            print(f"no learning curve: {e}")
    print("sample (temperature 0.8):")
    print(sample(model, stoi, itos, "The ", 400, T, 0.8, rng))


if __name__ == "__main__":
    main()
