"""debug.print / debug.callback / debug.breakpoint: captured output under eager, jit, vmap,
grad, scan, while and cond, with the order of the lines checked line by line."""

import io

import numpy as np
import pytest

import funcjax as fj
import funcjax.numpy as jnp
from funcjax import lax


def _f(x):
    fj.debug.print("x={} s={s:.2f}", x, s=jnp.sum(x))
    return jnp.sin(x).sum()


X = np.arange(3.0, dtype=np.float32)
WHOLE = ["x=[0. 1. 2.] s=3.00"]


@pytest.mark.parametrize("transform", [
    lambda f: f, fj.jit, fj.grad, lambda f: fj.jit(fj.grad(f)), lambda f: fj.grad(fj.jit(f)),
    lambda f: fj.jit(fj.jit(f)), lambda f: fj.value_and_grad(f),
    lambda f: fj.grad(fj.checkpoint(f)), lambda f: fj.jit(fj.grad(fj.checkpoint(f))),
    fj.jacfwd, fj.hessian,
], ids=["eager", "jit", "grad", "jit-grad", "grad-jit", "jit-jit", "value_and_grad",
        "grad-checkpoint", "jit-grad-checkpoint", "jacfwd", "hessian"])
def test_print_shows_the_primal_values_once(transform, capsys):
    transform(_f)(jnp.asarray(X))
    assert capsys.readouterr().out.splitlines() == WHOLE


@pytest.mark.parametrize("transform", [fj.vmap, lambda f: fj.jit(fj.vmap(f)),
                                       lambda f: fj.vmap(fj.jit(f))],
                         ids=["vmap", "jit-vmap", "vmap-jit"])
def test_vmap_prints_one_line_per_example_in_order(transform, capsys):
    transform(_f)(jnp.asarray(X))
    assert capsys.readouterr().out.splitlines() == [f"x={v} s={v:.2f}" for v in X]


def _body(c, x):
    fj.debug.print("step c={} x={}", c, x)
    return c + x, c


def _expected_scan(xs):
    lines, c = [], 0.0
    for x in xs:
        lines.append(f"step c={np.float32(c)} x={np.float32(x)}")
        c += x
    return lines


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_scan_body_prints_every_iteration(jit, reverse, capsys):
    run = lambda xs: lax.scan(_body, 0.0, xs, reverse=reverse)  # noqa: E731
    (fj.jit(run) if jit else run)(jnp.asarray(X))
    order = X[::-1] if reverse else X
    assert capsys.readouterr().out.splitlines() == _expected_scan(order)


@pytest.mark.parametrize("jit", [False, True])
def test_grad_of_scan_prints_forward_values(jit, capsys):
    g = fj.grad(lambda xs: lax.scan(_body, 0.0, xs)[0])
    (fj.jit(g) if jit else g)(jnp.asarray(X))
    assert capsys.readouterr().out.splitlines() == _expected_scan(X)


@pytest.mark.parametrize("jit", [False, True])
def test_vmap_of_scan_prints_each_example_at_each_step(jit, capsys):
    xs = np.arange(4.0, dtype=np.float32).reshape(2, 2)
    f = fj.vmap(lambda xs: lax.scan(_body, 0.0, xs)[0])
    (fj.jit(f) if jit else f)(jnp.asarray(xs))
    per_example = [_expected_scan(row) for row in xs]  # step-major, as JAX prints
    assert capsys.readouterr().out.splitlines() == [line for step in zip(*per_example)
                                                    for line in step]


@pytest.mark.parametrize("jit", [False, True])
def test_while_and_fori_bodies(jit, capsys):
    def run(n):
        def body(c):
            fj.debug.print("w {}", c)
            return c + 1
        c = lax.while_loop(lambda c: c < n, body, 0)
        return lax.fori_loop(0, 2, lambda i, c: (fj.debug.print("f {} {}", i, c), c * 2)[1], c)
    (fj.jit(run) if jit else run)(3)
    assert capsys.readouterr().out.splitlines() == ["w 0", "w 1", "w 2", "f 0 3", "f 1 6"]


@pytest.mark.parametrize("jit", [False, True])
def test_cond_prints_only_the_branch_taken(jit, capsys):
    def run(x):
        return lax.cond(x > 1, lambda x: (fj.debug.print("big {}", x), x)[1],
                        lambda x: (fj.debug.print("small {}", x), -x)[1], x)
    run = fj.jit(run) if jit else run
    run(2.0)
    run(0.5)
    assert capsys.readouterr().out.splitlines() == ["big 2.0", "small 0.5"]


@pytest.mark.parametrize("jit", [False, True])
def test_prints_keep_program_order_and_survive_dead_code(jit, capsys):
    def g(x):
        fj.debug.print("a {}", x)
        y = x * 2  # noqa: F841 - the print of a value nobody returns must still happen
        fj.debug.print("b {}", x * 2, ordered=True)
        fj.debug.print("c {}", x * 3)
        return x
    (fj.jit(g) if jit else g)(1.0)
    assert capsys.readouterr().out.splitlines() == ["a 1.0", "b 2.0", "c 3.0"]


def test_print_with_no_outputs_under_jit_is_kept(capsys):
    fj.jit(lambda x: fj.debug.print("only {}", x))(4)
    assert capsys.readouterr().out == "only 4\n"


def test_debug_callback_gets_concrete_arrays_under_jit():
    seen = []
    f = fj.jit(lambda x: (fj.debug.callback(lambda v, w: seen.append((v, w)), x, w=x + 1), x)[1])
    f(jnp.arange(2.0))
    f(jnp.arange(2.0) + 10)
    assert [type(v) for v, _ in seen] == [fj.Array, fj.Array]
    np.testing.assert_array_equal(seen[0][1], [1.0, 2.0])
    np.testing.assert_array_equal(seen[1][0], [10.0, 11.0])


def test_bad_format_argument_is_a_clear_error():
    with pytest.raises(TypeError, match="debug.print: the first argument is the format"):
        fj.debug.print(jnp.ones(2))


@pytest.mark.parametrize("jit", [False, True])
def test_breakpoint_evaluates_locals(jit):
    out = io.StringIO()
    commands = io.StringIO("p y + 1\nlocals\nw\nnot_a_name\nc\n")

    def f(x):
        y = x * 2
        fj.debug.breakpoint(stdin=commands, stdout=out)
        return y

    (fj.jit(f) if jit else f)(jnp.arange(3.0))
    text = out.getvalue()
    assert "Array([1., 3., 5.], dtype=float32)" in text
    assert "x, y" in text and "test_debug_print.py" in text
    assert "*** NameError" in text


def test_print_inside_pmap_prints_once_per_device(capsys):
    n = min(fj.device_count(), 2)
    out = fj.pmap(lambda x: (fj.debug.print("dev x={}", x), x * 2)[1])(jnp.arange(float(n)))
    np.testing.assert_array_equal(out, 2 * np.arange(n))
    lines = sorted(capsys.readouterr().out.splitlines())  # devices run in parallel threads
    assert lines == [f"dev x={float(k)}" for k in range(n)]


def test_visualize_array_sharding(capsys):
    fj.debug.visualize_array_sharding(jnp.ones(3))
    n = min(fj.device_count(), 2)
    fj.debug.visualize_array_sharding(fj.pmap(lambda x: x)(np.ones((n, 4))))
    text = capsys.readouterr().out
    assert text.count("CPU 0") == 2 and text.count(f"CPU {n - 1}") == (2 if n == 1 else 1)
    with pytest.raises(ValueError, match="1-D and 2-D"):
        fj.debug.visualize_array_sharding(jnp.ones((2, 2, 2)))
