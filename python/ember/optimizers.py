"""Keras-style optimizers updating variables in place: SGD, Adam, AdamW and RMSprop through
fused C++ kernels; Adagrad, Adadelta, Adamax and Nadam in NumPy (Keras 3 update rules).

>>> opt = ember.optimizers.Adam(learning_rate=1e-3)
>>> opt.apply_gradients(zip(grads, model.trainable_variables))

State (momenta, second moments) lives in arrays created once per variable, keyed by the
variable's id, and updated in place: a C++-kernel step allocates nothing. Gradients that are None are
skipped (like Keras). Non-finite gradients are not an error here: they propagate into the
weights, and ``fit`` reports the resulting NaN loss.
"""
from __future__ import annotations

import math
import types
import weakref
from typing import Callable, Dict, Iterable, List, Optional, Tuple, Union

import numpy as np

from . import backend
from .tensor import Tensor, as_array

LearningRate = Union[float, Callable[[int], float]]

# A variable's constraint (``add_weight(constraint=...)``), applied after each optimizer
# step as Keras does. Tensors have fixed slots, so the link lives here, keyed by id (a
# Tensor's == is elementwise) and dropped with the variable.
_CONSTRAINTS: Dict[int, Tuple["weakref.ref", Callable]] = {}


def set_constraint(var: Tensor, constraint: Optional[Callable]) -> None:
    """Attach ``constraint`` (a callable ``w -> w``) to ``var``; None removes it."""
    key = id(var)
    if constraint is None:
        _CONSTRAINTS.pop(key, None)
        return
    if not callable(constraint):
        raise TypeError(f"constraint for variable {var.name!r} must be a callable w -> w. "
                        f"Received: {constraint!r}")
    _CONSTRAINTS[key] = (weakref.ref(var, lambda _, k=key: _CONSTRAINTS.pop(k, None)), constraint)


def _constraint(var: Tensor) -> Optional[Callable]:
    entry = _CONSTRAINTS.get(id(var))
    return entry[1] if entry is not None and entry[0]() is var else None


class Optimizer:
    """Base class. Subclasses define ``_slot_names(var)`` and ``_update(p, g, slots, lr)``.

    ``learning_rate`` is a float or a schedule ``f(iterations) -> float``; ``weight_decay``
    is decoupled (p -= lr * wd * p before the step, Keras 3); ``clipnorm`` clips each
    gradient's L2 norm, ``global_clipnorm`` the norm of all gradients together,
    ``clipvalue`` each element (at most one of the three, like Keras).
    """

    _hyper: Tuple[str, ...] = ()          # hyperparameters added to get_config
    _slot_initial: Dict[str, float] = {}  # slot name -> initial value (default 0)

    def __init__(self, learning_rate: LearningRate = 0.001, weight_decay: Optional[float] = None,
                 clipnorm: Optional[float] = None, clipvalue: Optional[float] = None,
                 global_clipnorm: Optional[float] = None, name: Optional[str] = None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}")
        if not callable(learning_rate):
            learning_rate = float(learning_rate)
            if not learning_rate >= 0 and not math.isnan(learning_rate):
                raise ValueError(f"{type(self).__name__}: learning_rate must be >= 0. Received: {learning_rate}")
        n_clip = sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm))
        if n_clip > 1:
            raise ValueError(f"{type(self).__name__}: only one of `clipnorm`, `clipvalue` and `global_clipnorm` can "
                             f"be set. Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        self._learning_rate = learning_rate
        self.weight_decay = float(weight_decay) if weight_decay else 0.0
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.name = name or type(self).__name__.lower()
        self.iterations = 0
        self._state: Dict[int, Tuple[Tensor, Dict[str, np.ndarray]]] = {}

    # -- learning rate ---------------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        """The learning rate for the next step (a schedule is evaluated at ``iterations``)."""
        lr = self._learning_rate
        return float(lr(self.iterations)) if callable(lr) else lr

    @learning_rate.setter
    def learning_rate(self, value: LearningRate) -> None:
        """A float, or a schedule (which replaces the current rate or schedule). Setting a
        float on an optimizer created with a schedule raises TypeError, as in Keras."""
        if callable(value):
            self._learning_rate = value
            return
        if callable(self._learning_rate):
            raise TypeError(f"{type(self).__name__}: this optimizer was created with a learning rate schedule "
                            f"({type(self._learning_rate).__name__}) as its `learning_rate`, hence its learning rate "
                            "is not settable. If you need the learning rate to be settable (e.g. by "
                            "ReduceLROnPlateau), create the optimizer with a float `learning_rate`.")
        self._learning_rate = float(value)

    lr = learning_rate

    # -- state ---------------------------------------------------------------------
    def _slot_names(self, var: Tensor) -> List[str]:
        return []

    def _slots(self, var: Tensor) -> Dict[str, np.ndarray]:
        entry = self._state.get(id(var))
        if entry is None or entry[0] is not var:
            xp = backend.xp(var.data)
            init = self._slot_initial
            slots = {n: (xp.full_like(var.data, init[n]) if n in init else xp.zeros_like(var.data))
                     for n in self._slot_names(var)}
            self._state[id(var)] = (var, slots)
            return slots
        return entry[1]

    def build(self, var_list: Iterable[Tensor]) -> None:
        """Create the state of every variable now (otherwise it is made on first use)."""
        for v in var_list:
            self._slots(v)

    def _to_device(self, device: str) -> None:
        """Move the state (moments, ...) to ``device`` along with the model (Model.to)."""
        for _, slots in self._state.values():
            for n, a in slots.items():
                if a is not None and backend.device_of(a) != device:
                    slots[n] = backend.to_device(a, device)

    @property
    def variables(self) -> List[np.ndarray]:
        return [a for _, slots in self._state.values() for a in slots.values()]

    # -- stepping ------------------------------------------------------------------
    def _clip(self, grads: List) -> List:
        if self.clipvalue is not None:
            c = float(self.clipvalue)
            grads = [backend.xp(g).clip(g, -c, c) for g in grads]
        if self.clipnorm is not None:
            c = float(self.clipnorm)
            out = []
            for g in grads:
                n = math.sqrt(_sum_squares(g))
                out.append(g * (c / n) if n > c else g)
            grads = out
        if self.global_clipnorm is not None:
            c = float(self.global_clipnorm)
            n = math.sqrt(sum(_sum_squares(g) for g in grads))
            if n > c:
                grads = [g * (c / n) for g in grads]
        return grads

    def apply_gradients(self, grads_and_vars: Iterable[Tuple[Optional[Tensor], Tensor]]) -> int:
        """Apply one step to each variable with a gradient (None gradients are skipped).
        Returns ``iterations`` after the step."""
        pairs = []
        for g, v in grads_and_vars:
            if g is None:
                continue
            if not isinstance(v, Tensor):
                raise TypeError(f"{type(self).__name__}.apply_gradients: variables must be ember Tensors. "
                                f"Received: {type(v).__name__}")
            ga = as_array(g)
            if tuple(ga.shape) != v.shape and ga.size != v.size:
                raise ValueError(f"{type(self).__name__}.apply_gradients: gradient of shape {tuple(ga.shape)} "
                                 f"for variable {v.name!r} of shape {v.shape}")
            pairs.append((ga, v))
        if not pairs:
            return self.iterations
        grads = [g for g, _ in pairs]
        if self.clipvalue is not None or self.clipnorm is not None or self.global_clipnorm is not None:
            grads = self._clip(grads)
        lr = self.learning_rate
        self.iterations += 1
        self._begin_step()
        with np.errstate(all="ignore"):  # a diverging run shows up as a NaN loss, not warnings here
            for g, (_, v) in zip(grads, pairs):
                self._update(v.data, g, self._slots(v), lr)
        for _, v in pairs:
            c = _constraint(v)
            if c is not None:
                v.assign(as_array(c(v)))
        return self.iterations

    def apply(self, grads: Iterable[Optional[Tensor]], trainable_variables: Optional[Iterable[Tensor]] = None) -> int:
        """Keras 3's ``optimizer.apply(grads, trainable_variables)``: the same step as
        ``apply_gradients(zip(grads, trainable_variables))``."""
        grads = list(grads)
        if trainable_variables is None:
            raise ValueError(f"{type(self).__name__}.apply: pass the variables with the gradients: "
                             "apply(grads, trainable_variables)")
        tv = list(trainable_variables)
        if len(grads) != len(tv):
            raise ValueError(f"{type(self).__name__}.apply: expected one gradient per variable. "
                             f"Received: {len(grads)} gradients for {len(tv)} variables")
        return self.apply_gradients(zip(grads, tv))

    def minimize(self, loss_fn: Callable[[], Tensor], var_list: List[Tensor]) -> Tensor:
        """Compute ``loss_fn()``, its gradients with respect to ``var_list`` and apply them."""
        from .autograd import grad
        loss = loss_fn()
        self.apply_gradients(zip(grad(loss, var_list), var_list))
        return loss

    def _begin_step(self) -> None:
        """Called once per step, after ``iterations`` is incremented and before the
        variables are updated (state shared by all variables, e.g. Nadam's momentum product)."""

    def _update(self, p: np.ndarray, g: np.ndarray, slots: Dict[str, np.ndarray], lr: float) -> None:
        raise NotImplementedError

    def get_config(self) -> dict:
        lr = self._learning_rate
        config = {"name": self.name, "learning_rate": lr if not callable(lr) else None,
                  "weight_decay": self.weight_decay or None, "clipnorm": self.clipnorm,
                  "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm}
        config.update({k: getattr(self, k) for k in self._hyper})
        return config


def _sum_squares(g) -> float:
    """sum(g ** 2) in float64, as a Python float (one device-to-host scalar for clipnorm)."""
    xp = backend.xp(g)
    return float(xp.sum(xp.square(g, dtype=np.float64)))


def _prepare(p, g, lr: float, weight_decay: float):
    """The gradient as an array of ``p``'s dtype and shape, after applying the decoupled
    weight decay to ``p`` (p -= lr * weight_decay * p, Keras 3) for the optimizers written
    with array operations (Adagrad, Adadelta, Adamax, Nadam ...)."""
    g = g.astype(p.dtype, copy=False).reshape(p.shape)
    if weight_decay:
        p -= p * p.dtype.type(lr * weight_decay)
    return g


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum, Keras formulation:
    m = momentum * m - lr * g; p += m (or p += momentum * m - lr * g with nesterov)."""

    _hyper = ("momentum", "nesterov")

    def __init__(self, learning_rate: LearningRate = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: Optional[float] = None, **kwargs):
        super().__init__(learning_rate, weight_decay, **kwargs)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1]. Received: {momentum}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def _slot_names(self, var):
        return ["momentum"] if self.momentum > 0 else []

    def _update(self, p, g, slots, lr):
        backend.ops(p).sgd_update(p, g, slots.get("momentum"), lr, self.momentum, self.nesterov, self.weight_decay)


class Adam(Optimizer):
    """Adam (Kingma & Ba) in Keras' form: p -= lr_t * m / (sqrt(v) + epsilon) with
    lr_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t); ``amsgrad`` keeps the max of v."""

    _hyper = ("beta_1", "beta_2", "epsilon", "amsgrad")

    def __init__(self, learning_rate: LearningRate = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, weight_decay: Optional[float] = None, **kwargs):
        super().__init__(learning_rate, weight_decay, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = float(beta_1), float(beta_2), float(epsilon), bool(amsgrad)

    def _slot_names(self, var):
        return ["m", "v", "vhat"] if self.amsgrad else ["m", "v"]

    def _update(self, p, g, slots, lr):
        t = self.iterations
        lr_t = lr * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        backend.ops(p).adam_update(p, g, slots["m"], slots["v"], slots.get("vhat"), lr, lr_t, self.beta_1,
                                   self.beta_2, self.epsilon, self.weight_decay)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p -= lr * weight_decay * p."""

    def __init__(self, learning_rate: LearningRate = 0.001, weight_decay: float = 0.004, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    """RMSprop, Keras form: v = rho v + (1 - rho) g^2; p -= lr g / sqrt(v + epsilon)
    (centered: v - mean(g)^2 + epsilon), with optional momentum on the increment."""

    _hyper = ("rho", "momentum", "epsilon", "centered")

    def __init__(self, learning_rate: LearningRate = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, weight_decay: Optional[float] = None, **kwargs):
        super().__init__(learning_rate, weight_decay, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = float(rho), float(momentum), float(epsilon), bool(centered)

    def _slot_names(self, var):
        return ["v"] + (["momentum"] if self.momentum > 0 else []) + (["average_grad"] if self.centered else [])

    def _update(self, p, g, slots, lr):
        backend.ops(p).rmsprop_update(p, g, slots["v"], slots.get("momentum"), slots.get("average_grad"), lr,
                                      self.rho, self.momentum, self.epsilon, self.weight_decay)


class Adagrad(Optimizer):
    """Adagrad (Keras form): acc += g^2; p -= lr * g / sqrt(acc + epsilon), the accumulator
    starting at ``initial_accumulator_value``. (NumPy update.)"""

    _hyper = ("initial_accumulator_value", "epsilon")

    def __init__(self, learning_rate: LearningRate = 0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, weight_decay: Optional[float] = None, **kwargs):
        super().__init__(learning_rate, weight_decay, **kwargs)
        if not initial_accumulator_value >= 0:
            raise ValueError(f"Adagrad: initial_accumulator_value must be >= 0. Received: {initial_accumulator_value}")
        self.initial_accumulator_value, self.epsilon = float(initial_accumulator_value), float(epsilon)
        self._slot_initial = {"accumulator": self.initial_accumulator_value}

    def _slot_names(self, var):
        return ["accumulator"]

    def _update(self, p, g, slots, lr):
        xp = backend.xp(p)
        g = _prepare(p, g, lr, self.weight_decay)
        acc = slots["accumulator"]
        acc += g * g
        p -= (lr * g) / xp.sqrt(acc + self.epsilon)


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012, Keras form): Eg2 = rho Eg2 + (1 - rho) g^2;
    d = -sqrt(Ed2 + eps) / sqrt(Eg2 + eps) * g; Ed2 = rho Ed2 + (1 - rho) d^2; p += lr * d.
    Keras' default learning rate is 0.001; the paper's form is learning_rate=1.0. (NumPy update.)"""

    _hyper = ("rho", "epsilon")

    def __init__(self, learning_rate: LearningRate = 0.001, rho: float = 0.95, epsilon: float = 1e-7,
                 weight_decay: Optional[float] = None, **kwargs):
        super().__init__(learning_rate, weight_decay, **kwargs)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def _slot_names(self, var):
        return ["accumulated_grad", "accumulated_delta_var"]

    def _update(self, p, g, slots, lr):
        xp = backend.xp(p)
        g = _prepare(p, g, lr, self.weight_decay)
        rho, eps = self.rho, self.epsilon
        eg2, ed2 = slots["accumulated_grad"], slots["accumulated_delta_var"]
        eg2 *= rho
        eg2 += (1 - rho) * (g * g)
        delta = -(xp.sqrt(ed2 + eps) * g) / xp.sqrt(eg2 + eps)
        ed2 *= rho
        ed2 += (1 - rho) * (delta * delta)
        p += lr * delta


class Adamax(Optimizer):
    """Adamax (Adam with the infinity norm, Keras form): m += (g - m)(1 - beta_1);
    u = max(beta_2 u, |g|); p -= lr * m / ((1 - beta_1^t)(u + epsilon)). (NumPy update.)"""

    _hyper = ("beta_1", "beta_2", "epsilon")

    def __init__(self, learning_rate: LearningRate = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, weight_decay: Optional[float] = None, **kwargs):
        super().__init__(learning_rate, weight_decay, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def _slot_names(self, var):
        return ["m", "u"]

    def _update(self, p, g, slots, lr):
        xp = backend.xp(p)
        g = _prepare(p, g, lr, self.weight_decay)
        m, u = slots["m"], slots["u"]
        m += (g - m) * (1 - self.beta_1)
        xp.maximum(self.beta_2 * u, xp.abs(g), out=u)
        p -= (lr * m) / ((1 - self.beta_1 ** self.iterations) * (u + self.epsilon))


class Nadam(Optimizer):
    """Nadam (Adam with Nesterov momentum, Dozat 2015) exactly as Keras 3: momentum schedule
    u_t = beta_1 (1 - 0.5 * 0.96^t), with the running product of the u_t kept per optimizer;
    m_hat = u_{t+1} m / (1 - prod_{t+1}) + (1 - u_t) g / (1 - prod_t);
    v_hat = v / (1 - beta_2^t); p -= lr * m_hat / (sqrt(v_hat) + epsilon). (NumPy update.)"""

    _hyper = ("beta_1", "beta_2", "epsilon")

    def __init__(self, learning_rate: LearningRate = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, weight_decay: Optional[float] = None, **kwargs):
        super().__init__(learning_rate, weight_decay, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self._u_product = 1.0

    def _slot_names(self, var):
        return ["m", "v"]

    def _u(self, t: int) -> float:
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** t)

    def _begin_step(self):
        self._u_product *= self._u(self.iterations)

    def _update(self, p, g, slots, lr):
        xp = backend.xp(p)
        g = _prepare(p, g, lr, self.weight_decay)
        t = self.iterations
        u_t, u_next = self._u(t), self._u(t + 1)
        prod_t = self._u_product
        prod_next = prod_t * u_next
        m, v = slots["m"], slots["v"]
        m += (g - m) * (1 - self.beta_1)
        v += (g * g - v) * (1 - self.beta_2)
        m_hat = (u_next * m) / (1 - prod_next) + ((1 - u_t) * g) / (1 - prod_t)
        v_hat = v / (1 - self.beta_2 ** t)
        p -= (m_hat * lr) / (xp.sqrt(v_hat) + self.epsilon)


# ---------------------------------------------------------------------------------------
# schedules and lookup
# ---------------------------------------------------------------------------------------

class LearningRateSchedule:
    """Base class of learning rate schedules: ``schedule(step) -> learning rate``, evaluated
    at the optimizer's ``iterations`` (any callable ``f(step)`` works as well)."""

    def __call__(self, step: int) -> float:
        raise NotImplementedError


class ExponentialDecay(LearningRateSchedule):
    """lr(step) = initial * decay_rate ** (step / decay_steps) (floored with ``staircase``)."""

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float, staircase: bool = False):
        self.initial_learning_rate, self.decay_steps = float(initial_learning_rate), int(decay_steps)
        self.decay_rate, self.staircase = float(decay_rate), bool(staircase)

    def __call__(self, step: int) -> float:
        p = step / self.decay_steps
        return self.initial_learning_rate * self.decay_rate ** (math.floor(p) if self.staircase else p)


schedules = types.SimpleNamespace(LearningRateSchedule=LearningRateSchedule, ExponentialDecay=ExponentialDecay)

_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad,
            "adadelta": Adadelta, "adamax": Adamax, "nadam": Nadam}


def get(identifier: Union[str, Optimizer]) -> Optimizer:
    """An optimizer from a Keras name ("adam", "sgd", "rmsprop", "adamw", "adagrad",
    "adadelta", "adamax", "nadam"; any case) or an instance."""
    if isinstance(identifier, Optimizer) or (not isinstance(identifier, type) and hasattr(identifier, "apply_gradients")):
        return identifier  # also a wrapper such as ember.distributed.DistributedOptimizer
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(f"Unknown optimizer {identifier!r}. Known: {sorted(_BY_NAME)}")
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    raise TypeError(f"optimizer must be a name or an Optimizer. Received: {identifier!r}")
