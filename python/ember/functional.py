"""Differentiable functions (``ember.functional``, like ``torch.nn.functional``).

Everything here takes Tensors (or arrays) and returns Tensors that carry gradients.
The ops themselves live in ``ember.ops.<family>`` with forward and backward side by side.
"""
from .ops.core import (  # noqa: F401
    abs, add, broadcast_to, cast, clip, concatenate, div, exp, expand_dims, getitem, log,
    matmul, max, maximum, mean, min, minimum, mul, neg, pad, power, relu, reshape, sigmoid,
    sqrt, square, squeeze, stack, sub, sum, swapaxes, tanh, transpose, var, where,
)
from .ops.nn import (  # noqa: F401
    ACTIVATIONS, dropout, elu, gelu, get_activation, leaky_relu, log_softmax, logsumexp, selu, silu, softmax,
    softplus, swish,
)
from .ops.dense import dense  # noqa: F401
from .ops.losses import (  # noqa: F401
    binary_cross_entropy_probs, categorical_cross_entropy_probs, sigmoid_binary_cross_entropy,
)
from .ops.conv import conv1d, conv1d_transpose, conv2d, conv2d_transpose  # noqa: F401,E402
from .ops.conv3d import avg_pool3d, conv3d, max_pool3d  # noqa: F401,E402
from .ops.pool import (  # noqa: F401,E402
    avg_pool1d, avg_pool2d, global_avg_pool2d, global_max_pool2d, max_pool1d, max_pool2d,
)
from .ops.batchnorm import batch_norm  # noqa: F401,E402
from .ops.xent import softmax_cross_entropy, sparse_softmax_cross_entropy  # noqa: F401,E402
from .ops.attention import scaled_dot_product_attention  # noqa: F401,E402
from .ops.rnn import gru, lstm, simple_rnn  # noqa: F401,E402
from .ops.layer_norm import layer_norm  # noqa: F401,E402
from .ops.embedding import embedding_lookup  # noqa: F401,E402
