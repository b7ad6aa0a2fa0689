"""Small reference libraries in the style of ``jax.example_libraries``: ``stax`` (neural
network layers as ``(init_fun, apply_fun)`` pairs) and ``optimizers`` (as
``(init, update, get_params)`` triples)."""
