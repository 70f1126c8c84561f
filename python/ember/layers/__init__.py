"""Keras-style layers."""
from .base import Layer  # noqa: F401
from .core import (  # noqa: F401
    ELU, Activation, Dense, Dropout, Flatten, InputLayer, LeakyReLU, ReLU, Softmax,
)
from .merge import Add, Average, Concatenate, Maximum, Multiply, Subtract, add, concatenate, multiply  # noqa: F401
from ..symbolic import Input  # noqa: F401
from .conv import Conv1D, Conv2D  # noqa: F401
from .pooling import (  # noqa: F401
    AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D,
    GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D,
)
from .normalization import BatchNormalization  # noqa: F401
from .reshaping import Reshape, ZeroPadding2D  # noqa: F401
from .embedding import Embedding  # noqa: F401
from .recurrent import GRU, LSTM, Bidirectional, SimpleRNN, TimeDistributed  # noqa: F401
from .layer_norm import LayerNormalization  # noqa: F401
from .attention import MultiHeadAttention  # noqa: F401
from .transformer import PositionalEncoding, PositionEmbedding, TransformerEncoder  # noqa: F401
