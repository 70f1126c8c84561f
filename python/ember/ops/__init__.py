"""Differentiable ops, one module per family; ``ember.functional`` re-exports them."""
