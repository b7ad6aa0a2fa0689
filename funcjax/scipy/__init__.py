"""``funcjax.scipy``: SciPy's API over funcjax arrays (submodules are imported on use)."""
