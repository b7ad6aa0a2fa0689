"""Helpers shared by the autodiff tests."""

import numpy as np

import funcjax


def central_difference(f, args, direction, eps=1e-6):
    """(f(x + eps v) - f(x - eps v)) / (2 eps), leafwise over f's flat outputs."""
    def shifted(sign):
        moved = [np.asarray(a) + sign * eps * np.asarray(d) if d is not None else a
                 for a, d in zip(args, direction)]
        return [np.asarray(o, np.float64) for o in funcjax.tree_leaves(f(*moved))]
    return [(p - m) / (2 * eps) for p, m in zip(shifted(1), shifted(-1))]


def ad_settings(max_examples):
    """Hypothesis settings for these tests: the x64 fixture holds for all examples of a test."""
    from hypothesis import HealthCheck, settings
    return settings(max_examples=max_examples, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
