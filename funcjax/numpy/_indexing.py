"""Indexing: ``x[idx]`` and ``x.at[idx].set/add/...`` lowered to slice, gather and scatter."""
