"""Tests of nnfs.scalar (Chapter 2: the pure-Python XOR network and the scalar autograd engine).

Every gradient is checked two ways: against central finite differences, and
against PyTorch's autograd in float64 built from the same numbers.  Expected
values are computed independently in the test (by hand, by torch, or by a
formula written out again), never copied from the module.
"""

from __future__ import annotations

import math
import os
import random
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from nnfs.scalar import (
    MLP,
    XOR_T,
    XOR_X,
    Layer,
    Neuron,
    Value,
    init_xor_net,
    parity_data,
    train_xor_python,
)

from helpers import assert_each_names_itself, raised_by_module  # noqa: E402

pytestmark = pytest.mark.ch2

ROOT = Path(__file__).resolve().parent.parent
EPS_FD = 1e-6        # central-difference step
TOL_FD = 1e-6        # relative error allowed against finite differences
TOL_TORCH = 1e-12    # relative error allowed against torch for one operation


def rel_err(a: float, ref: float) -> float:
    """|a − ref| / max(|a|, |ref|), and 0 when both are exactly 0."""
    scale = max(abs(a), abs(ref))
    return 0.0 if scale == 0 else abs(a - ref) / scale


def central_diff(f, x: float, eps: float = EPS_FD) -> float:
    return (f(x + eps) - f(x - eps)) / (2 * eps)


def t64(x: float) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


raises_here = raised_by_module("nnfs.scalar")


# ---------------------------------------------------------------------------
# Every operation, one at a time
# ---------------------------------------------------------------------------

# name -> (op on a Value, the same op on a torch tensor, strategy for x in a safe domain)
UNARY = {
    "exp": (lambda v: v.exp(), torch.exp, st.floats(-5, 5)),
    "log": (lambda v: v.log(), torch.log, st.floats(0.01, 50)),
    "tanh": (lambda v: v.tanh(), torch.tanh, st.floats(-4, 4)),
    "sigmoid": (lambda v: v.sigmoid(), torch.sigmoid, st.floats(-6, 6)),
    # away from the kink at 0, where the derivative is not defined
    "relu": (lambda v: v.relu(), torch.relu, st.floats(-5, 5).filter(lambda x: abs(x) > 1e-3)),
    "neg": (lambda v: -v, torch.neg, st.floats(-5, 5)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_gradient_matches_finite_differences_and_torch(name):
    op, torch_op, domain = UNARY[name]

    @given(x=domain)
    def check(x):
        v = Value(x)
        out = op(v)
        assert isinstance(out, Value)
        out.backward()

        fd = central_diff(lambda z: op(Value(z)).data, x)
        assert rel_err(v.grad, fd) < TOL_FD, (x, v.grad, fd)

        xt = t64(x)
        yt = torch_op(xt)
        yt.backward()
        assert rel_err(out.data, yt.item()) < 1e-14, (x, out.data, yt.item())
        assert rel_err(v.grad, xt.grad.item()) < TOL_TORCH, (x, v.grad, xt.grad.item())

    check()


# name -> (op on two operands, which works for Values, floats and tensors alike)
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "truediv": lambda a, b: a / b,
}
# No tiny magnitudes: with them the finite differences (and torch's products) reach subnormal numbers.
operand = st.floats(-4, 4).filter(lambda x: x == 0 or abs(x) > 1e-6)
divisor = st.floats(-4, 4).filter(lambda x: abs(x) > 0.1)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_value_value_gradients(name):
    op = BINARY[name]

    @given(a=operand, b=divisor if name == "truediv" else operand)
    def check(a, b):
        va, vb = Value(a), Value(b)
        out = op(va, vb)
        assert isinstance(out, Value)
        out.backward()

        fd_a = central_diff(lambda z: op(Value(z), Value(b)).data, a)
        fd_b = central_diff(lambda z: op(Value(a), Value(z)).data, b)
        assert rel_err(va.grad, fd_a) < TOL_FD, (a, b, va.grad, fd_a)
        assert rel_err(vb.grad, fd_b) < TOL_FD, (a, b, vb.grad, fd_b)

        at, bt = t64(a), t64(b)
        yt = op(at, bt)
        yt.backward()
        assert rel_err(out.data, yt.item()) < 1e-15
        assert rel_err(va.grad, at.grad.item()) < TOL_TORCH, (a, b, va.grad, at.grad.item())
        assert rel_err(vb.grad, bt.grad.item()) < TOL_TORCH, (a, b, vb.grad, bt.grad.item())

    check()


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("value_on", ["left", "right"])  # v op c (__op__) and c op v (__rop__)
def test_binary_value_number_gradients(name, value_on):
    op = BINARY[name]
    strategy = divisor if name == "truediv" else operand

    @given(x=strategy if value_on == "right" else operand, c=strategy if value_on == "left" else operand)
    def check(x, c):
        f = (lambda v: op(v, c)) if value_on == "left" else (lambda v: op(c, v))
        v = Value(x)
        out = f(v)
        assert isinstance(out, Value)
        # the same arithmetic on plain floats (division is a * b**-1, so allow rounding)
        assert rel_err(out.data, f(x)) < 1e-15
        out.backward()

        fd = central_diff(lambda z: f(Value(z)).data, x)
        assert rel_err(v.grad, fd) < TOL_FD, (x, c, v.grad, fd)

        xt = t64(x)
        f(xt).backward()
        assert rel_err(v.grad, xt.grad.item()) < TOL_TORCH, (x, c, v.grad, xt.grad.item())

    check()


INTEGER_EXPONENTS = [0, 1, 2, 3, -1, -2, 3.0, -3.0]
FRACTIONAL_EXPONENTS = [0.5, -0.5, 1.5, 2.5, -1.5, 1 / 3]


@pytest.mark.parametrize("p", INTEGER_EXPONENTS + FRACTIONAL_EXPONENTS)
def test_pow_gradient(p):
    # Integer exponents on bases of either sign; fractional ones on positive bases only.
    base = st.floats(0.1, 3) if p in FRACTIONAL_EXPONENTS else st.floats(-3, 3).filter(lambda x: abs(x) > 0.1)

    @given(x=base)
    def check(x):
        v = Value(x)
        out = v**p
        assert isinstance(out, Value)
        out.backward()

        fd = central_diff(lambda z: (Value(z) ** p).data, x)
        expected = p * x ** (p - 1)  # written out again
        assert rel_err(v.grad, fd) < TOL_FD, (x, p, v.grad, fd)
        assert rel_err(v.grad, expected) < 1e-14

        xt = t64(x)
        (xt**p).backward()
        assert rel_err(v.grad, xt.grad.item()) < TOL_TORCH, (x, p, v.grad, xt.grad.item())

    check()


def test_pow_outside_the_real_domain():
    with pytest.raises(ValueError) as info:
        Value(-2.0) ** 0.5
    assert raises_here(info)
    with pytest.raises(ZeroDivisionError):
        Value(0.0) ** -1


def test_pow_needs_a_number_exponent():
    with pytest.raises(TypeError):
        Value(2.0) ** Value(3.0)
    with pytest.raises(TypeError):
        2.0 ** Value(3.0)


# ---------------------------------------------------------------------------
# Random composite expressions, built in parallel in nnfs and in torch
# ---------------------------------------------------------------------------

# Each operation: (arity, is it defined at these operands' values?, function).
# The function is written once and applied to both Values and torch tensors.
COMPOSITE_OPS = {
    "add": (2, lambda a, b: True, lambda a, b: a + b),
    "sub": (2, lambda a, b: True, lambda a, b: a - b),
    "mul": (2, lambda a, b: True, lambda a, b: a * b),
    "div": (2, lambda a, b: abs(b) > 0.1, lambda a, b: a / b),
    "radd": (1, lambda a: True, lambda a: 1.5 + a),
    "rsub": (1, lambda a: True, lambda a: 0.75 - a),
    "rmul": (1, lambda a: True, lambda a: -1.25 * a),
    "rdiv": (1, lambda a: abs(a) > 0.1, lambda a: 2.0 / a),
    "sub_c": (1, lambda a: True, lambda a: a - 0.5),
    "div_c": (1, lambda a: True, lambda a: a / 3.0),
    "sq": (1, lambda a: True, lambda a: a**2),
    "cube": (1, lambda a: True, lambda a: a**3),
    "inv": (1, lambda a: abs(a) > 0.1, lambda a: a**-1),
    "sqrt": (1, lambda a: a > 0.1, lambda a: a**0.5),
    "pow_m1_5": (1, lambda a: a > 0.1, lambda a: a**-1.5),
    "exp": (1, lambda a: abs(a) < 10, lambda a: a.exp()),
    "log": (1, lambda a: a > 0.01, lambda a: a.log()),
    "log_sq1": (1, lambda a: True, lambda a: (a**2 + 1).log()),
    "tanh": (1, lambda a: True, lambda a: a.tanh()),
    "sigmoid": (1, lambda a: True, lambda a: a.sigmoid()),
    "relu": (1, lambda a: abs(a) > 1e-3, lambda a: a.relu()),
    "neg": (1, lambda a: True, lambda a: -a),
}
FALLBACK = "tanh"  # defined everywhere and bounded


@st.composite
def expressions(draw):
    """Leaf values, a program of (op, operand, operand) steps over earlier nodes, and output weights."""
    n_leaves = draw(st.integers(1, 4), label="leaves")
    leaves = [draw(st.floats(-2, 2), label="leaf") for _ in range(n_leaves)]
    program = []
    for k in range(draw(st.integers(1, 12), label="ops")):
        n_nodes = n_leaves + k
        op = draw(st.sampled_from(sorted(COMPOSITE_OPS)), label="op")
        # operands may be the same node, and any node may be used many times
        i = draw(st.integers(0, n_nodes - 1), label="i")
        j = draw(st.integers(0, n_nodes - 1), label="j")
        program.append((op, i, j))
    # a random weight per node: the output depends on every node (GUIDE: no all-ones upstream gradients)
    weights = [draw(st.floats(-2, 2), label="weight") for _ in range(n_leaves + len(program))]
    return leaves, program, weights


def build(leaves, program, weights):
    """The expression in nnfs and in torch.

    Returns (Value leaves, torch leaves, Value output, torch output, bound), where
    bound[k] is the sum over all paths from leaf k to the output of the absolute
    value of the product of the local derivatives along the path: the size of the
    largest gradient the paths' contributions could add up to without cancelling.
    """
    vals = [Value(x) for x in leaves]
    tens = [t64(x) for x in leaves]
    edges = [[] for _ in leaves]  # per node: (operand node, |local derivative|)
    for op, i, j in program:
        arity, defined, fn = COMPOSITE_OPS[op]
        operands = (i, j)[:arity]
        data = [vals[k].data for k in operands]
        if defined(*data):
            candidate = fn(*(vals[k] for k in operands))
            if abs(candidate.data) > 1e6:  # keep magnitudes moderate so nothing overflows later
                op = FALLBACK
        else:
            op = FALLBACK
        arity, _, fn = COMPOSITE_OPS[op]
        operands = (i, j)[:arity]
        vals.append(fn(*(vals[k] for k in operands)))
        tens.append(fn(*(tens[k] for k in operands)))
        # local derivatives from torch, with one fresh input per operand position
        fresh = [t64(vals[k].data) for k in operands]
        local = torch.autograd.grad(fn(*fresh), fresh)
        edges.append([(k, abs(d.item())) for k, d in zip(operands, local)])
    out_v, out_t = vals[0] * weights[0], tens[0] * weights[0]
    for w, v, t in zip(weights[1:], vals[1:], tens[1:]):
        out_v = out_v + w * v
        out_t = out_t + w * t
    bound = [abs(w) for w in weights]
    for node in reversed(range(len(vals))):  # nodes are numbered in topological order
        for k, d in edges[node]:
            bound[k] += bound[node] * d
    return vals[: len(leaves)], tens[: len(leaves)], out_v, out_t, bound[: len(leaves)]


@given(expressions())
def test_random_expressions_match_torch(expr):
    leaves_v, leaves_t, out_v, out_t, bound = build(*expr)
    out_v.backward()
    out_t.backward()
    assert rel_err(out_v.data, out_t.item()) < 1e-12
    # Several paths can reach a leaf and their contributions can cancel, so the
    # rounding error is measured against their absolute sum, `bound`, which is
    # |gradient| itself when nothing cancels.
    for k, (v, t, b) in enumerate(zip(leaves_v, leaves_t, bound)):
        assert abs(v.grad - t.grad.item()) <= 1e-12 * b, f"leaf {k}: ours {v.grad!r}, torch {t.grad.item()!r}\n{expr}"


# ---------------------------------------------------------------------------
# Nodes used more than once; repeated and deep backward passes
# ---------------------------------------------------------------------------
# The numbers are dyadic (exact in binary), so every expected gradient is exact.


def test_same_node_twice_in_one_op():
    a = Value(1.5)
    (a + a).backward()
    assert a.grad == 2.0
    a = Value(1.5)
    (a * a * a).backward()
    assert a.grad == 3 * 1.5**2
    a = Value(-0.75)
    (a - a).backward()
    assert a.grad == 0.0


def test_shared_factor():
    a, b, c = Value(1.5), Value(-2.0), Value(0.25)
    ((a * b) + (a * c)).backward()
    assert (a.grad, b.grad, c.grad) == (-2.0 + 0.25, 1.5, 1.5)


def test_node_feeding_many_paths():
    a, b = Value(1.5), Value(-2.0)
    h = a * b                           # h = -3
    out = h * h + h * 3 + h + h / 4     # dout/dh = 2h + 3 + 1 + 1/4 = -1.75
    out.backward()
    assert h.grad == -1.75
    assert (a.grad, b.grad) == (-1.75 * -2.0, -1.75 * 1.5)


@pytest.mark.parametrize("order", ["h_first", "h_last"])
def test_intermediate_node_used_directly_and_through_another_path(order):
    """out = h + 2h with h = 3x: dout/dx = 9, whichever operand comes first.

    h is an intermediate node (not a leaf), so it must receive both
    contributions before it passes its gradient on to x.
    """
    x = Value(1.0)
    h = x * 3
    g = h * 2
    out = h + g if order == "h_first" else g + h
    out.backward()
    assert out.data == 9.0
    assert h.grad == 3.0
    assert x.grad == 9.0


def test_intermediate_node_reused_like_torch():
    """y = tanh(x) reaches the output directly and through y * exp(y); compared with torch."""
    x = Value(0.3)
    y = x.tanh()
    out = y + y * y.exp()
    out.backward()
    xt = t64(0.3)
    yt = torch.tanh(xt)
    (yt + yt * torch.exp(yt)).backward()
    assert rel_err(x.grad, xt.grad.item()) < 1e-12, (x.grad, xt.grad.item())


def test_backward_twice_gives_the_same_gradients():
    a, b = Value(0.7), Value(-1.3)
    h = (a * b).tanh()
    out = h * a + h.exp() - b**2
    out.backward()
    first = (a.grad, b.grad, h.grad)
    out.backward()
    assert (a.grad, b.grad, h.grad) == first


def test_deep_chain_backward_is_iterative():
    assert sys.getrecursionlimit() <= 10_000  # the chain is deeper than the recursion limit
    x = Value(1.0)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    expected = 1.0
    for _ in range(10_000):  # the same products, in the same order
        expected *= 1.0001
    assert x.grad == expected
    assert rel_err(x.grad, 1.0001**10_000) < 1e-10

    z = Value(2.0)
    w = z
    for _ in range(10_000):
        w = w + 1
    w.backward()
    assert z.grad == 1.0
    assert w.data == 10_002.0


# ---------------------------------------------------------------------------
# nnfs.scalar is pure Python
# ---------------------------------------------------------------------------


def test_scalar_imports_only_the_standard_library():
    code = textwrap.dedent(
        """
        import sys
        before = set(sys.modules)  # what the interpreter itself loaded at start-up (site, .pth hooks)
        import nnfs.scalar
        new = sorted(set(sys.modules) - before)
        assert "nnfs.scalar" in new, new
        third_party = [m for m in new
                       if m.split(".")[0] not in sys.stdlib_module_names and m.split(".")[0] != "nnfs"]
        assert not third_party, f"import nnfs.scalar loaded {third_party}"
        assert "numpy" not in sys.modules
        print(len(new))
        """
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------------
# Neuron, Layer, MLP
# ---------------------------------------------------------------------------


def test_parameter_counts():
    assert len(Neuron(3).parameters()) == 4
    assert len(Layer(3, 5).parameters()) == 5 * 4
    assert len(MLP(2, [4, 1]).parameters()) == 17
    assert len(MLP(3, [5, 4, 2]).parameters()) == (3 + 1) * 5 + (5 + 1) * 4 + (4 + 1) * 2
    assert all(isinstance(p, Value) for p in MLP(2, [4, 1]).parameters())


def test_output_types():
    rng = random.Random(0)
    assert isinstance(Neuron(2, rng=rng)([1.0, 0.0]), Value)
    out = Layer(2, 3, rng=rng)([1.0, 0.0])
    assert isinstance(out, list) and len(out) == 3 and all(isinstance(v, Value) for v in out)
    assert isinstance(MLP(2, [4, 1], rng=rng)([1.0, 0.0]), Value)
    out = MLP(2, [4, 3], rng=rng)([Value(1.0), 0.0])
    assert isinstance(out, list) and len(out) == 3 and all(isinstance(v, Value) for v in out)


def test_neuron_computes_its_formula():
    n = Neuron(3, activation="tanh", rng=random.Random(3))
    x = [0.5, -1.25, 2.0]
    z = sum(w.data * xi for w, xi in zip(n.w, x)) + n.b.data
    assert rel_err(n(x).data, math.tanh(z)) < 1e-15
    for act, f in [("sigmoid", lambda z: 1 / (1 + math.exp(-z))), ("relu", lambda z: max(z, 0.0)),
                   ("linear", lambda z: z)]:
        n = Neuron(3, activation=act, rng=random.Random(3))
        assert rel_err(n(x).data, f(z)) < 1e-14


def test_mlp_is_deterministic_given_rng():
    def data(seed):
        return [p.data for p in MLP(2, [4, 1], rng=random.Random(seed)).parameters()]

    assert data(5) == data(5)
    assert data(5) != data(6)
    assert all(-1 <= d <= 1 for d in data(5))


def test_wrong_input_length():
    with pytest.raises(ValueError, match=r"2 inputs.*3 values") as info:
        Neuron(2)([1.0, 2.0, 3.0])
    assert raises_here(info)
    with pytest.raises(ValueError, match=r"2 inputs.*1 values"):
        MLP(2, [4, 1])([1.0])


def test_unknown_activation():
    with pytest.raises(ValueError, match="softmax") as info:
        Neuron(2, activation="softmax")
    assert raises_here(info)
    with pytest.raises(ValueError, match="softmax"):
        MLP(2, [4, 1], activation="softmax")
    with pytest.raises(ValueError, match="softmax"):
        MLP(2, [4, 1], output_activation="softmax")


def test_mlp_needs_layers():
    for n_inputs, sizes in [(2, []), (2, [4, 0]), (0, [4, 1])]:
        with pytest.raises(ValueError) as info:
            MLP(n_inputs, sizes)
        assert raises_here(info)


def test_zero_grad():
    m = MLP(2, [3, 1], rng=random.Random(1))
    m([1.0, -1.0]).backward()
    assert any(p.grad != 0 for p in m.parameters())
    m.zero_grad()
    assert all(p.grad == 0.0 for p in m.parameters())


def test_mlp_learns_xor():
    model = MLP(2, [4, 1], activation="tanh", output_activation="sigmoid", rng=random.Random(0))

    def loss_fn():
        return sum(((model(x) - t) ** 2 for x, t in zip(XOR_X, XOR_T)), Value(0.0)) / len(XOR_X)

    first = loss_fn().data
    for _ in range(300):
        loss = loss_fn()
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= 1.0 * p.grad
    assert loss_fn().data < 0.1 * first
    assert [model(x).data > 0.5 for x in XOR_X] == [t == 1 for t in XOR_T]


def test_mlp_gradients_match_torch():
    """One MLP loss, its gradients compared parameter by parameter with the same network in torch."""
    model = MLP(2, [3, 2, 1], activation="tanh", output_activation="sigmoid", rng=random.Random(2))
    loss = sum(((model(x) - t) ** 2 for x, t in zip(XOR_X, XOR_T)), Value(0.0))
    loss.backward()

    layers = []
    for layer in model.layers:
        W = torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64, requires_grad=True)
        b = torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64, requires_grad=True)
        layers.append((W, b))
    X = torch.tensor(XOR_X, dtype=torch.float64)
    h = X
    for k, (W, b) in enumerate(layers):
        z = h @ W.T + b
        h = torch.sigmoid(z) if k == len(layers) - 1 else torch.tanh(z)
    loss_t = ((h[:, 0] - torch.tensor(XOR_T, dtype=torch.float64)) ** 2).sum()
    loss_t.backward()
    assert rel_err(loss.data, loss_t.item()) < 1e-13
    for layer, (W, b) in zip(model.layers, layers):
        for n, gW, gb in zip(layer.neurons, W.grad, b.grad):
            for w, g in zip(n.w, gW):
                assert rel_err(w.grad, g.item()) < 1e-11
            assert rel_err(n.b.grad, gb.item()) < 1e-11


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["a", None, True, False, [1.0], 1 + 2j])
def test_value_rejects_non_numbers(bad):
    with pytest.raises(TypeError) as info:
        Value(bad)
    assert raises_here(info)


@pytest.mark.parametrize("good", [3, -2.5, 0])
def test_value_accepts_numbers(good):
    v = Value(good)
    assert v.data == good and type(v.data) is float and v.grad == 0.0


def test_value_with_non_number_operand():
    with pytest.raises(TypeError):
        Value(1.0) + "a"
    with pytest.raises(TypeError):
        "a" + Value(1.0)
    with pytest.raises(TypeError):
        Value(1.0) * None
    with pytest.raises(TypeError):
        Value(1.0) - True
    with pytest.raises(TypeError):
        Value(1.0) / [2.0]


@pytest.mark.parametrize("x", [0, -1, -2.5])
def test_log_of_non_positive(x):
    with pytest.raises(ValueError) as info:
        Value(x).log()
    assert raises_here(info)
    message = str(info.value)
    assert re.search(rf"(?<![\d.]){re.escape(str(x))}(\.0+)?(?!\d)", message), message


def test_parity_data_bad_sizes():
    with pytest.raises(ValueError) as info:
        parity_data(0)
    assert raises_here(info)
    with pytest.raises(ValueError):
        parity_data(-3)
    for bad in (2.0, "2", True, None):
        with pytest.raises(TypeError) as info:
            parity_data(bad)
        assert raises_here(info)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_parity_data(n):
    X, t = parity_data(n)
    # independently: the binary digits of 0 .. 2^n - 1, most significant first
    expected_X = [tuple(int(c) for c in format(i, f"0{n}b")) for i in range(2**n)]
    expected_t = [bin(i).count("1") % 2 for i in range(2**n)]
    assert X == expected_X
    assert t == expected_t


def test_xor_data():
    assert [tuple(x) for x in XOR_X] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert list(XOR_T) == [0, 1, 1, 0]


def test_train_xor_python_wrong_arity():
    params = init_xor_net(2, n_inputs=2, rng=random.Random(0))
    X3, T3 = parity_data(3)
    with pytest.raises(ValueError, match=r"3 inputs.*2") as info:
        train_xor_python(params, 1.0, 10, X3, T3)
    assert raises_here(info)


def test_train_xor_python_does_not_modify_params():
    params = init_xor_net(3, rng=random.Random(4))
    snapshot = {"W1": [row[:] for row in params["W1"]], "b1": params["b1"][:],
                "W2": params["W2"][:], "b2": params["b2"]}
    trained, losses = train_xor_python(params, 2.0, 50)
    assert params == snapshot
    assert trained != snapshot
    assert len(losses) == 50


# ---------------------------------------------------------------------------
# Bad input, as a property: wrong types, sizes, empties and NaNs for every
# public function; the error must come from nnfs.scalar and name the argument
# and what was expected.  (Arithmetic between a Value and a non-number is
# left to Python, whose "unsupported operand" TypeError is the one a float
# gives too.)
# ---------------------------------------------------------------------------
NAN, INF = float("nan"), float("inf")


def _good_params():
    return init_xor_net(rng=random.Random(0))


BAD_CALLS = [  # (description, call, words that the message must contain)
    ("parity 0", lambda: parity_data(0), ["n_bits", "at least one"]),
    ("parity 2.0", lambda: parity_data(2.0), ["n_bits", "int"]),
    ("init n_hidden 0", lambda: init_xor_net(0), ["n_hidden", ">= 1"]),
    ("init n_hidden -3", lambda: init_xor_net(-3), ["n_hidden", ">= 1"]),
    ("init n_hidden 2.5", lambda: init_xor_net(2.5), ["n_hidden", "int"]),
    ("init n_hidden True", lambda: init_xor_net(True), ["n_hidden", "int"]),
    ("init n_inputs 0", lambda: init_xor_net(2, 0), ["n_inputs", ">= 1"]),
    ("init scale nan", lambda: init_xor_net(2, scale=NAN), ["scale", "finite"]),
    ("init scale -1", lambda: init_xor_net(2, scale=-1.0), ["scale", ">= 0"]),
    ("init scale str", lambda: init_xor_net(2, scale="1"), ["scale", "real"]),
    ("train params {}", lambda: train_xor_python({}, 0.5, 1), ["params", "W1"]),
    ("train params list", lambda: train_xor_python([1], 0.5, 1),
     ["params", "dict"]),
    ("train lr nan", lambda: train_xor_python(_good_params(), NAN, 1),
     ["lr", "finite"]),
    ("train lr 0", lambda: train_xor_python(_good_params(), 0.0, 1),
     ["lr", "> 0"]),
    ("train lr str", lambda: train_xor_python(_good_params(), "0.5", 1),
     ["lr", "real"]),
    ("train epochs -1", lambda: train_xor_python(_good_params(), 0.5, -1),
     ["epochs", ">= 0"]),
    ("train epochs 1.5", lambda: train_xor_python(_good_params(), 0.5, 1.5),
     ["epochs", "int"]),
    ("train X empty",
     lambda: train_xor_python(_good_params(), 0.5, 1, X=[], T=[]),
     ["X", ">= 1"]),
    ("train T short",
     lambda: train_xor_python(_good_params(), 0.5, 1, X=XOR_X, T=XOR_T[:3]),
     ["T", "same number"]),
    ("train X width",
     lambda: train_xor_python(_good_params(), 0.5, 1, X=[(0,)], T=[0]),
     ["example 0", "inputs"]),
    ("train X nan",
     lambda: train_xor_python(_good_params(), 0.5, 1, X=[(0, NAN)], T=[0]),
     ["X[0][1]", "finite"]),
    ("train X str",
     lambda: train_xor_python(_good_params(), 0.5, 1, X=[(0, "1")], T=[0]),
     ["X[0][1]", "real"]),
    ("train T inf",
     lambda: train_xor_python(_good_params(), 0.5, 1, X=[(0, 1)], T=[INF]),
     ["T[0]", "finite"]),
    ("Value str", lambda: Value("1.5"), ["Value", "real number"]),
    ("Value list", lambda: Value([1.0]), ["Value", "real number"]),
    ("Neuron 0", lambda: Neuron(0), ["n_inputs", ">= 1"]),
    ("Neuron 1.5", lambda: Neuron(1.5), ["n_inputs", "int"]),
    ("Neuron act", lambda: Neuron(2, "softmax"), ["activation", "tanh"]),
    ("Neuron call width",
     lambda: Neuron(2, rng=random.Random(0))([1.0]), ["2 inputs", "1"]),
    ("Layer 0", lambda: Layer(2, 0), ["n_outputs", ">= 1"]),
    ("Layer -1 inputs", lambda: Layer(-1, 2), ["n_inputs", ">= 1"]),
    ("MLP no layers", lambda: MLP(2, []), ["at least one layer"]),
    ("MLP size 0", lambda: MLP(2, [3, 0]), ["layer_sizes[1]", ">= 1"]),
    ("MLP size str", lambda: MLP(2, ["3"]), ["layer_sizes[0]", "int"]),
    ("MLP sizes int", lambda: MLP(2, 3), ["layer_sizes", "list"]),
    ("MLP n_inputs str", lambda: MLP("2", [1]), ["n_inputs", "int"]),
    ("MLP call width",
     lambda: MLP(2, [2, 1], rng=random.Random(0))([1.0]), ["inputs", "1"]),
]


@given(st.permutations(BAD_CALLS))
def test_bad_input_is_named_by_our_code(cases):
    # every example tries every case, in a new order: no case is skipped, and
    # no error depends on what was called before it
    assert_each_names_itself(cases, "nnfs.scalar")
