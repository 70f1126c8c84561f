"""Symbolic tensors for the functional model API (``ember.Input`` / ``ember.Model``).

Placeholder until the functional API lands: calling a layer on a symbolic input raises.
"""
from __future__ import annotations


class SymbolicTensor:
    """A placeholder for a tensor in a functional model graph."""


def call_symbolic(layer, inputs, args, kwargs):
    raise NotImplementedError("the functional model API is not built yet")
