"""Keras-style layers."""
from .base import Layer  # noqa: F401
from .embedding import Embedding  # noqa: F401
from .recurrent import GRU, LSTM, Bidirectional, SimpleRNN  # noqa: F401
from .layer_norm import LayerNormalization  # noqa: F401
from .attention import MultiHeadAttention  # noqa: F401
from .transformer import PositionalEncoding, PositionEmbedding, TransformerEncoder  # noqa: F401
