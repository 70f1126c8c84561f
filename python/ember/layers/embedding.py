"""Embedding: integer ids -> dense vectors (gradient scatter-adds into the table)."""
from __future__ import annotations

from .. import initializers, regularizers
from ..ops.embedding import embedding_lookup
from ..tensor import as_array_like
from .base import Layer, serialized_entries


class Embedding(Layer):
    """Turns integer ids (batch, ...) into vectors (batch, ..., output_dim) (Keras).

    ``mask_zero=True`` treats id 0 as padding: the output carries a mask (ids != 0) that
    recurrent and attention layers downstream honour.

    >>> Embedding(10000, 64, mask_zero=True)
    """

    supports_masking = True

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer="uniform",
                 mask_zero: bool = False, input_length=None, embeddings_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if int(input_dim) <= 0 or int(output_dim) <= 0:
            raise ValueError(f"Embedding: input_dim and output_dim must be positive. Received: {input_dim}, {output_dim}")
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.embeddings_initializer = (initializers.RandomUniform(-0.05, 0.05)
                                       if embeddings_initializer == "uniform" else
                                       initializers.get(embeddings_initializer))
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.mask_zero = bool(mask_zero)
        self.input_length = input_length

    def build(self, input_shape) -> None:
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim), self.embeddings_initializer,
                                          regularizer=self.embeddings_regularizer)
        self.built = True

    def call(self, inputs):
        return embedding_lookup(self.embeddings, inputs)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return as_array_like(inputs, self.embeddings.data) != 0

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self) -> dict:
        return dict(super().get_config(), input_dim=self.input_dim, output_dim=self.output_dim,
                    mask_zero=self.mask_zero,
                    **serialized_entries(self.name, embeddings_initializer=(initializers, self.embeddings_initializer),
                                         embeddings_regularizer=(regularizers, self.embeddings_regularizer)))
