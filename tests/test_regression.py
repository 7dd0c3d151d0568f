"""Tests of nnfs.regression (Chapter 1: linear and polynomial regression).

Every reference value here is computed by independent code (NumPy's lstsq,
scikit-learn, or a formula written out again in the test), never typed in.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.preprocessing import PolynomialFeatures

from nnfs.regression import (
    fit_least_squares,
    gradient_descent,
    make_sine_data,
    polynomial_features,
    rms_error,
)

pytestmark = pytest.mark.ch1

EPS = np.finfo(np.float64).eps


def rel_err(a, ref) -> float:
    """‖a − ref‖ / ‖ref‖."""
    a, ref = np.asarray(a, dtype=float), np.asarray(ref, dtype=float)
    return float(np.linalg.norm(a - ref) / np.linalg.norm(ref))


def cost_J(X, t, w, l2=0.0) -> float:
    """J(w) = (1/2N)(‖Xw − t‖² + λ‖w‖²), written out independently of the module."""
    N = X.shape[0]
    return (np.sum((X @ w - t) ** 2) + l2 * np.sum(w**2)) / (2 * N)


# ---------------------------------------------------------------------------
# Random least-squares problems drawn by hypothesis
# ---------------------------------------------------------------------------


@st.composite
def problems(draw, *, ridge: bool = False, extra_rows: int = 0):
    """(X, t, λ) with Gaussian X of a random shape and scale.

    Hypothesis draws the parameters (n, d, seed, scale, λ); the arrays come from
    ``default_rng(seed)`` so every example is a genuinely random dense problem.
    Without a penalty we need n >= d (+ extra_rows) for a unique solution.
    """
    d = draw(st.integers(1, 8), label="d")
    n_min = 1 if ridge else d + extra_rows
    n = draw(st.integers(n_min, 40), label="n")
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    scale = 10.0 ** draw(st.floats(-2, 2), label="log10 scale")
    t_scale = 10.0 ** draw(st.floats(-2, 2), label="log10 t scale")
    # λ relative to the scale of XᵀX, so the penalty matters at every scale.
    lam = scale**2 * 10.0 ** draw(st.floats(-3, 3), label="log10 λ/scale²") if ridge else 0.0
    rng = np.random.default_rng(seed)
    X = scale * rng.standard_normal((n, d))
    t = t_scale * rng.standard_normal(n)
    return X, t, lam


# Conditioning bound.  Two backward-stable least-squares solvers can disagree by
# about κ²·ε·tanθ (the LS perturbation bound, θ the angle between t and
# range(X)).  With κ < 1e3 that is ~1e6 · 2.2e-16 ≈ 2e-10, comfortably inside
# the 1e-8 we demand, so a failure means a real error, not rounding.
COND_MAX = 1e3
REL_TOL = 1e-8


@given(problems())
def test_closed_form_matches_numpy_lstsq(problem):
    X, t, _ = problem
    assume(np.linalg.cond(X) < COND_MAX)
    w = fit_least_squares(X, t)
    ref, *_ = np.linalg.lstsq(X, t, rcond=None)
    assert w.shape == (X.shape[1],)
    assert w.dtype == np.float64
    assert rel_err(w, ref) < REL_TOL


@given(problems(extra_rows=1))
def test_closed_form_with_intercept_matches_sklearn_linear_regression(problem):
    F, t, _ = problem  # F: features without the ones column
    X = np.column_stack([np.ones(len(t)), F])
    assume(np.linalg.cond(X) < COND_MAX)
    w = fit_least_squares(X, t)
    model = LinearRegression(fit_intercept=True).fit(F, t)
    ref = np.concatenate([[model.intercept_], model.coef_])
    assert rel_err(w, ref) < REL_TOL


@given(problems(ridge=True))
def test_ridge_matches_sklearn_ridge(problem):
    X, t, lam = problem
    D = X.shape[1]
    A = X.T @ X + lam * np.eye(D)
    # Ridge is the LS problem [X; √λ I] w ≈ [t; 0], whose κ² is cond(XᵀX + λI).
    assume(np.linalg.cond(A) < COND_MAX**2)
    w = fit_least_squares(X, t, l2=lam)
    # solver="svd" is a direct (non-iterative) solver: w = V diag(s/(s²+λ)) Uᵀt.
    model = Ridge(alpha=lam, fit_intercept=False, solver="svd").fit(X, t)
    assert rel_err(w, model.coef_) < REL_TOL


@given(problems(ridge=True))
def test_ridge_satisfies_normal_equations(problem):
    """(XᵀX + λI)w = Xᵀt, checked by its normwise backward error.

    A backward-stable solve leaves a residual of order ε·(‖A‖‖w‖ + ‖X‖‖t‖),
    independent of conditioning, so no conditioning assumption is needed.
    Allow 100·ε ≈ 2e-14 for accumulated rounding (3000 random problems from
    this strategy peaked at 14·ε).
    """
    X, t, lam = problem
    D = X.shape[1]
    w = fit_least_squares(X, t, l2=lam)
    A = X.T @ X + lam * np.eye(D)
    b = X.T @ t
    residual = np.linalg.norm(A @ w - b)
    scale = np.linalg.norm(A, 2) * np.linalg.norm(w) + np.linalg.norm(X, 2) * np.linalg.norm(t)
    assert residual <= 100 * EPS * scale


def test_ridge_penalty_changes_the_solution():
    """Guard for the tests above: the λ we draw really moves w away from OLS."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((30, 4))
    t = rng.standard_normal(30)
    w0 = fit_least_squares(X, t)
    w1 = fit_least_squares(X, t, l2=30.0)
    assert rel_err(w1, w0) > 0.1


# ---------------------------------------------------------------------------
# Ridge shrinkage
# ---------------------------------------------------------------------------


@given(problems(ridge=True))
def test_ridge_norm_shrinks_monotonically_in_lambda(problem):
    X, t, lam = problem
    scale2 = np.mean(X**2)  # λ grid relative to the scale of XᵀX/N
    lams = scale2 * np.geomspace(1e-3, 1e3, 25)
    norms = np.array([np.linalg.norm(fit_least_squares(X, t, l2=lam)) for lam in lams])
    # ‖w(λ)‖² = Σ s²c²/(s²+λ)² is non-increasing; slack only for rounding.
    assert np.all(norms[1:] <= norms[:-1] * (1 + 1e-12)), norms
    # ...and it does shrink: at λ → ∞, w → Xᵀt/λ.
    assert norms[-1] < norms[0]


# ---------------------------------------------------------------------------
# Gradient descent
# ---------------------------------------------------------------------------

N_GD, D_GD = 200, 4


@pytest.fixture(scope="module")
def gd_problem():
    """Well-conditioned regression: X = [1, standard normal features], noisy t."""
    rng = np.random.default_rng(20240601)
    X = np.column_stack([np.ones(N_GD), rng.standard_normal((N_GD, D_GD - 1))])
    w_true = rng.standard_normal(D_GD) * 2
    t = X @ w_true + 0.5 * rng.standard_normal(N_GD)
    return X, t


def lipschitz(X, l2=0.0) -> float:
    """λmax of the Hessian of J: (XᵀX + λI)/N."""
    N, D = X.shape
    return float(np.linalg.eigvalsh((X.T @ X + l2 * np.eye(D)) / N)[-1])


def test_batch_gd_reaches_closed_form(gd_problem):
    X, t = gd_problem
    w_star = fit_least_squares(X, t)
    assert rel_err(np.zeros(D_GD), w_star) == 1.0  # the start is far away
    w, losses = gradient_descent(X, t, lr=1.0 / lipschitz(X), steps=200)
    assert losses.shape == (201,)
    assert rel_err(w, w_star) < 1e-8
    assert losses[-1] == pytest.approx(cost_J(X, t, w_star), rel=1e-12)


def test_batch_gd_with_l2_reaches_ridge_solution(gd_problem):
    X, t = gd_problem
    l2 = 100.0  # comparable to N = 200, so it moves the minimiser a lot
    w_ridge = fit_least_squares(X, t, l2=l2)
    w_ols = fit_least_squares(X, t)
    # The penalty matters far more than the tolerance, so confusing λ with λ/N
    # (or dropping it) would fail.
    assert rel_err(w_ols, w_ridge) > 0.1
    w, losses = gradient_descent(X, t, lr=1.0 / lipschitz(X, l2), steps=300, l2=l2)
    assert rel_err(w, w_ridge) < 1e-8
    assert losses[-1] == pytest.approx(cost_J(X, t, w_ridge, l2), rel=1e-12)


# Stochastic methods converge sublinearly: with a step α_k ≈ ab/k the error
# shrinks like a power of 1/k, not geometrically, so 1e-8 is out of reach.
# (Reshuffling each epoch helps: an epoch's gradients sum to the full gradient.)
# On this problem, over 30 shuffling seeds, the worst relative error was
# 3.4e-4 for SGD (30 000 updates = 150 epochs) and 1.8e-3 for minibatches of
# 16 (10 000 updates = 800 epochs).  The tolerances leave a 5-7x margin over
# those, yet w = 0 (relative error 1) is 400x and 100x outside them, and
# stopping after one epoch (error 2e-2 to 1e-1) fails them too.
SGD_TOL = 2.5e-3
MINIBATCH_TOL = 1e-2


def test_sgd_reaches_closed_form(gd_problem):
    X, t = gd_problem
    w_star = fit_least_squares(X, t)
    assert rel_err(np.zeros(D_GD), w_star) > 100 * SGD_TOL
    w, losses = gradient_descent(
        X, t, lr=lambda k: 0.05 / (1 + k / 400), steps=30_000, batch_size=1, rng=0
    )
    assert losses.shape == (30_001,)
    assert rel_err(w, w_star) < SGD_TOL
    w_epoch, _ = gradient_descent(
        X, t, lr=lambda k: 0.05 / (1 + k / 400), steps=N_GD, batch_size=1, rng=0
    )
    assert rel_err(w_epoch, w_star) > 4 * SGD_TOL  # the tolerance demands convergence
    # The costs are on the full training set: the last equals J at the returned w.
    assert losses[-1] == pytest.approx(cost_J(X, t, w), rel=1e-12)


def test_minibatch_gd_reaches_closed_form(gd_problem):
    X, t = gd_problem
    w_star = fit_least_squares(X, t)
    assert rel_err(np.zeros(D_GD), w_star) > 50 * MINIBATCH_TOL
    w, losses = gradient_descent(
        X, t, lr=lambda k: 0.2 / (1 + k / 200), steps=10_000, batch_size=16, rng=0
    )
    assert rel_err(w, w_star) < MINIBATCH_TOL
    assert losses[-1] == pytest.approx(cost_J(X, t, w), rel=1e-12)
    w_epoch, _ = gradient_descent(
        X, t, lr=lambda k: 0.2 / (1 + k / 200), steps=N_GD // 16, batch_size=16, rng=0
    )
    assert rel_err(w_epoch, w_star) > 4 * MINIBATCH_TOL


def test_minibatch_gd_with_uneven_last_batch(gd_problem):
    """N = 200 is not a multiple of 7: the short last batch must still work."""
    X, t = gd_problem
    w_star = fit_least_squares(X, t)
    w, _ = gradient_descent(
        X, t, lr=lambda k: 0.2 / (1 + k / 200), steps=10_000, batch_size=7, rng=0
    )
    assert rel_err(w, w_star) < MINIBATCH_TOL


@pytest.mark.parametrize("seed", range(5))
def test_minibatch_epoch_visits_every_row_once(seed):
    """With X = I each row's gradient moves only its own coordinate, so the
    outcome of one epoch is independent of the shuffle: row i is updated once,
    by α(w_i − t_i)/|B_i| with |B_i| the size of its batch.  N = 8, B = 3 gives
    batches of 3, 3 and a short last one of 2."""
    N, B, lr = 8, 3, 0.5
    X, t = np.eye(N), np.arange(1.0, N + 1)
    w, _ = gradient_descent(X, t, lr=lr, steps=3, batch_size=B, rng=seed)
    batch_sizes = lr * t / w  # |B_i| for each row, recovered from the update
    np.testing.assert_allclose(np.sort(batch_sizes), [2, 2, 3, 3, 3, 3, 3, 3], rtol=1e-14)


@pytest.mark.parametrize("l2", [0.0, 50.0])
def test_batch_gd_losses_start_at_J0_and_never_increase(gd_problem, l2):
    X, t = gd_problem
    lr = 1.9 / lipschitz(X, l2)  # just under the stability limit 2/L
    w, losses = gradient_descent(X, t, lr=lr, steps=100, l2=l2)
    assert losses[0] == pytest.approx(np.sum(t**2) / (2 * N_GD), rel=1e-14)
    # For a quadratic, J(w − αg) = J(w) − α(1 − αL/2)‖g‖² ≤ J(w) when α ≤ 2/L.
    # Slack only for rounding in evaluating J.
    assert np.all(losses[1:] <= losses[:-1] * (1 + 1e-13)), np.diff(losses).max()
    assert losses[-1] < 0.5 * losses[0]
    assert losses[-1] == pytest.approx(cost_J(X, t, w, l2), rel=1e-12)


def test_batch_gd_above_stability_limit_does_increase_the_loss(gd_problem):
    """The 2/L bound above is sharp, so the monotonicity test is not vacuous."""
    X, t = gd_problem
    _, losses = gradient_descent(X, t, lr=2.2 / lipschitz(X), steps=200)
    assert np.any(np.diff(losses) > 0)


@pytest.mark.parametrize("batch_size", [1, 16])
@pytest.mark.parametrize("l2", [0.0, 3.0])
def test_losses_equal_J_at_returned_w(gd_problem, batch_size, l2):
    X, t = gd_problem
    w0 = np.linspace(-1, 1, D_GD)
    w, losses = gradient_descent(
        X, t, lr=0.01, steps=57, batch_size=batch_size, l2=l2, rng=3, w0=w0
    )
    assert losses.shape == (58,)
    assert losses[0] == pytest.approx(cost_J(X, t, w0, l2), rel=1e-13)
    assert losses[-1] == pytest.approx(cost_J(X, t, w, l2), rel=1e-13)


def test_gd_does_not_modify_w0(gd_problem):
    X, t = gd_problem
    w0 = np.ones(D_GD)
    gradient_descent(X, t, lr=0.1, steps=5, w0=w0)
    assert np.array_equal(w0, np.ones(D_GD))


def test_zero_steps_returns_start(gd_problem):
    X, t = gd_problem
    w0 = np.arange(D_GD, dtype=float)
    w, losses = gradient_descent(X, t, lr=0.1, steps=0, w0=w0)
    assert np.array_equal(w, w0)
    assert losses.shape == (1,)
    assert losses[0] == pytest.approx(cost_J(X, t, w0), rel=1e-14)


def test_sgd_same_seed_same_path_different_seed_different_path(gd_problem):
    X, t = gd_problem
    kwargs = dict(lr=0.05, steps=500, batch_size=1)
    w_a, l_a = gradient_descent(X, t, rng=123, **kwargs)
    w_b, l_b = gradient_descent(X, t, rng=123, **kwargs)
    assert np.array_equal(w_a, w_b)
    assert np.array_equal(l_a, l_b)
    # A Generator seeded the same way gives the same stream.
    w_g, l_g = gradient_descent(X, t, rng=np.random.default_rng(123), **kwargs)
    assert np.array_equal(w_a, w_g)
    assert np.array_equal(l_a, l_g)
    w_c, l_c = gradient_descent(X, t, rng=124, **kwargs)
    assert not np.array_equal(l_a, l_c)
    assert not np.array_equal(w_a, w_c)


# ---------------------------------------------------------------------------
# polynomial_features, make_sine_data, rms_error
# ---------------------------------------------------------------------------


@given(
    n=st.integers(1, 30),
    degree=st.integers(0, 9),
    seed=st.integers(0, 2**32 - 1),
)
def test_polynomial_features_matches_sklearn(n, degree, seed):
    x = np.random.default_rng(seed).uniform(-2, 2, size=n)
    Phi = polynomial_features(x, degree)
    ref = PolynomialFeatures(degree, include_bias=True).fit_transform(x.reshape(-1, 1))
    assert Phi.shape == (n, degree + 1)
    assert Phi.dtype == np.float64
    np.testing.assert_allclose(Phi, ref, rtol=1e-14, atol=0)
    # An (N, 1) column gives the same matrix.
    np.testing.assert_array_equal(polynomial_features(x.reshape(-1, 1), degree), Phi)


def test_polynomial_features_degree_zero_is_ones_column():
    x = np.array([-3.0, 0.0, 0.5, 7.0])
    Phi = polynomial_features(x, 0)
    assert Phi.shape == (4, 1)
    np.testing.assert_array_equal(Phi, np.ones((4, 1)))


def test_polynomial_features_first_column_is_ones_even_at_zero():
    Phi = polynomial_features(np.array([0.0, 1.0, 2.0]), 3)
    np.testing.assert_array_equal(Phi[:, 0], 1.0)
    np.testing.assert_array_equal(Phi[0], [1.0, 0.0, 0.0, 0.0])


def test_make_sine_data_same_seed_identical():
    x1, t1 = make_sine_data(50, rng=42)
    x2, t2 = make_sine_data(50, rng=42)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(t1, t2)
    x3, t3 = make_sine_data(50, rng=43)
    assert not np.array_equal(x1, x3)


def test_make_sine_data_shape_sorted_and_in_unit_interval():
    x, t = make_sine_data(200, rng=0)
    assert x.shape == t.shape == (200,)
    assert x.dtype == t.dtype == np.float64
    assert np.all(np.diff(x) >= 0)
    assert x.min() >= 0.0 and x.max() <= 1.0


def test_make_sine_data_noise_free_is_exact_sine():
    x, t = make_sine_data(100, noise=0.0, rng=1)
    np.testing.assert_array_equal(t, np.sin(2 * np.pi * x))


def test_make_sine_data_noise_has_the_requested_spread():
    # With 20 000 points the sample std of ε is within ~1% of σ (its relative
    # standard error is 1/√(2n) ≈ 0.5%); 3% is a 6-sigma band.
    x, t = make_sine_data(20_000, noise=0.3, rng=2)
    assert np.std(t - np.sin(2 * np.pi * x)) == pytest.approx(0.3, rel=0.03)


def test_make_sine_data_accepts_generator():
    x1, t1 = make_sine_data(30, rng=np.random.default_rng(5))
    x2, t2 = make_sine_data(30, rng=5)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(t1, t2)
    # The Generator is consumed: a second call continues the stream.
    g = np.random.default_rng(5)
    xa, _ = make_sine_data(30, rng=g)
    xb, _ = make_sine_data(30, rng=g)
    assert not np.array_equal(xa, xb)


@given(n=st.integers(1, 50), seed=st.integers(0, 2**32 - 1))
def test_rms_error_is_sqrt_2E_over_N(n, seed):
    rng = np.random.default_rng(seed)
    y, t = rng.standard_normal(n), rng.standard_normal(n)
    E = 0.5 * sum((float(a) - float(b)) ** 2 for a, b in zip(y, t))
    assert rms_error(y, t) == pytest.approx(math.sqrt(2 * E / n), rel=1e-13)


def test_rms_error_zero_for_perfect_prediction():
    y = np.array([1.0, -2.0, 3.5])
    assert rms_error(y, y.copy()) == 0.0


def test_rms_error_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shape"):
        rms_error(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="shape"):
        rms_error(np.zeros((3, 1)), np.zeros(3))


# ---------------------------------------------------------------------------
# Bad input: our own errors, with messages that say what is wrong
# ---------------------------------------------------------------------------

_X = np.random.default_rng(0).standard_normal((10, 3))
_t = np.random.default_rng(1).standard_normal(10)


def _with(arr, index, value):
    arr = arr.copy()
    arr[index] = value
    return arr


BAD_INPUTS = [
    # (id, callable, regex that the message must match)
    ("lstsq-length-mismatch", lambda: fit_least_squares(_X, _t[:9]), r"rows.*must match"),
    ("gd-length-mismatch", lambda: gradient_descent(_X, _t[:9], lr=0.1, steps=1), r"rows.*must match"),
    ("lstsq-nan-X", lambda: fit_least_squares(_with(_X, (2, 1), np.nan), _t), r"X contains .*NaN"),
    ("gd-nan-X", lambda: gradient_descent(_with(_X, (0, 0), np.nan), _t, lr=0.1, steps=1), r"X contains .*NaN"),
    ("lstsq-inf-t", lambda: fit_least_squares(_X, _with(_t, 4, np.inf)), r"t contains .*infinite"),
    ("gd-inf-t", lambda: gradient_descent(_X, _with(_t, 4, -np.inf), lr=0.1, steps=1), r"t contains .*infinite"),
    ("poly-nan-x", lambda: polynomial_features(np.array([0.1, np.nan]), 2), r"NaN"),
    ("degree-negative", lambda: polynomial_features(np.linspace(0, 1, 5), -1), r"degree"),
    ("poly-2col-x", lambda: polynomial_features(np.ones((5, 2)), 2), r"1-D"),
    ("lr-zero", lambda: gradient_descent(_X, _t, lr=0.0, steps=1), r"lr must be"),
    ("lr-negative", lambda: gradient_descent(_X, _t, lr=-0.1, steps=1), r"lr must be"),
    ("lr-nan", lambda: gradient_descent(_X, _t, lr=float("nan"), steps=1), r"lr must be"),
    ("schedule-zero", lambda: gradient_descent(_X, _t, lr=lambda k: 0.1 if k < 3 else 0.0, steps=10), r"schedule returned 0\.0 at step 3"),
    ("schedule-negative", lambda: gradient_descent(_X, _t, lr=lambda k: -0.1, steps=10), r"schedule returned"),
    ("lstsq-empty", lambda: fit_least_squares(np.empty((0, 3)), np.empty(0)), r"empty"),
    ("gd-empty", lambda: gradient_descent(np.empty((0, 3)), np.empty(0), lr=0.1, steps=1), r"empty"),
    ("lstsq-3d-X", lambda: fit_least_squares(np.ones((10, 3, 1)), _t), r"X must be 2-D"),
    ("gd-3d-X", lambda: gradient_descent(np.ones((10, 3, 1)), _t, lr=0.1, steps=1), r"X must be 2-D"),
    ("lstsq-2d-t", lambda: fit_least_squares(_X, _t[:, None]), r"t must be 1-D"),
    ("batch-size-zero", lambda: gradient_descent(_X, _t, lr=0.1, steps=1, batch_size=0), r"batch_size"),
    ("batch-size-too-big", lambda: gradient_descent(_X, _t, lr=0.1, steps=1, batch_size=11), r"batch_size must be at most N = 10"),
    ("steps-negative", lambda: gradient_descent(_X, _t, lr=0.1, steps=-1), r"steps must be an integer >= 0"),
    ("lstsq-l2-negative", lambda: fit_least_squares(_X, _t, l2=-1e-3), r"l2"),
    ("gd-l2-negative", lambda: gradient_descent(_X, _t, lr=0.1, steps=1, l2=-1.0), r"l2"),
    ("noise-negative", lambda: make_sine_data(10, noise=-0.1), r"noise"),
    ("n-zero", lambda: make_sine_data(0), r"\bn must be an integer >= 1"),
    ("w0-wrong-shape", lambda: gradient_descent(_X, _t, lr=0.1, steps=1, w0=np.zeros(4)), r"w0 must have shape \(3,\)"),
    ("w0-2d", lambda: gradient_descent(_X, _t, lr=0.1, steps=1, w0=np.zeros((3, 1))), r"w0 must be 1-D"),
    ("rms-nan", lambda: rms_error(np.array([1.0, np.nan]), np.zeros(2)), r"NaN"),
    ("rms-empty", lambda: rms_error(np.zeros(0), np.zeros(0)), r"empty"),
]


@pytest.mark.parametrize("call, pattern", [b[1:] for b in BAD_INPUTS], ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_raises_value_error(call, pattern):
    with pytest.raises(ValueError, match=pattern) as info:
        call()
    # Raised by our own validation, not deep inside NumPy.
    assert info.traceback[-1].frame.f_globals["__name__"] == "nnfs.regression"


BAD_TYPES = [
    ("lstsq-string-X", lambda: fit_least_squares(np.array([["a", "b"], ["c", "d"]]), np.zeros(2)), r"X must hold real numbers"),
    ("lstsq-string-t", lambda: fit_least_squares(np.ones((2, 2)), ["a", "b"]), r"t must hold real numbers"),
    ("gd-string-X", lambda: gradient_descent([["1", "2"], ["3", "4"]], [0.0, 1.0], lr=0.1, steps=1), r"real numbers"),
    ("poly-string-x", lambda: polynomial_features(["0.1", "0.2"], 2), r"x must hold real numbers"),
    ("rms-string-y", lambda: rms_error(["1", "2"], [1.0, 2.0]), r"y must hold real numbers"),
    ("lstsq-object-X", lambda: fit_least_squares(np.array([[1.0, None], [2.0, 3.0]], dtype=object), np.zeros(2)), r"real numbers"),
    ("degree-float", lambda: polynomial_features(np.linspace(0, 1, 5), 2.5), r"degree must be an integer"),
    ("steps-float", lambda: gradient_descent(_X, _t, lr=0.1, steps=2.5), r"steps must be an integer"),
    ("steps-none", lambda: gradient_descent(_X, _t, lr=0.1, steps=None), r"steps must be an integer"),
    ("batch-size-float", lambda: gradient_descent(_X, _t, lr=0.1, steps=1, batch_size=2.0), r"batch_size must be an integer"),
    ("l2-string", lambda: fit_least_squares(_X, _t, l2="0.1"), r"l2 must be a real number"),
    ("l2-bool", lambda: fit_least_squares(_X, _t, l2=True), r"l2 must be a real number"),
    ("noise-bool", lambda: make_sine_data(5, noise=True), r"noise must be a real number"),
    ("lr-string", lambda: gradient_descent(_X, _t, lr="0.1", steps=1), r"lr must be a real number"),
    ("n-float", lambda: make_sine_data(5.0), r"n must be an integer"),
]


@pytest.mark.parametrize("call, pattern", [b[1:] for b in BAD_TYPES], ids=[b[0] for b in BAD_TYPES])
def test_wrong_types_raise_type_error(call, pattern):
    with pytest.raises(TypeError, match=pattern) as info:
        call()
    assert info.traceback[-1].frame.f_globals["__name__"] == "nnfs.regression"


def test_ragged_input_is_reported_by_our_code():
    for call in (lambda: rms_error([[1.0, 2.0], [3.0]], [1.0, 2.0]), lambda: polynomial_features([[0.1], [0.2, 0.3]], 2)):
        with pytest.raises(ValueError, match="could not be read as an array") as info:
            call()
        assert info.traceback[-1].frame.f_globals["__name__"] == "nnfs.regression"


def test_divergence_raises_floating_point_error_mentioning_learning_rate(gd_problem):
    X, t = gd_problem
    with pytest.raises(FloatingPointError, match="learning rate"):
        gradient_descent(X, t, lr=1e3, steps=1000)


# ---------------------------------------------------------------------------
# Bad input, as a property: every public function, wrong shapes, dtypes,
# empties and NaNs; the error must come from nnfs.regression and name the
# argument and what was expected.
# ---------------------------------------------------------------------------
from helpers import raised_by_module  # noqa: E402

raises_here = raised_by_module("nnfs.regression")


@st.composite
def spoiled(draw, shape: tuple[int, ...]):
    """A bad version of a float array of ``shape``, and the words its error
    must contain (beside the argument's name)."""
    kind = draw(st.sampled_from(["rank", "empty", "nan", "inf", "str", "obj"]))
    good = np.ones(shape)
    if kind == "rank":
        extra = draw(st.integers(1, 3))
        return np.ones(shape + (extra,)), "-D"
    if kind == "empty":
        return np.ones((0,) + shape[1:]), "empty"
    if kind in ("nan", "inf"):
        idx = tuple(draw(st.integers(0, n - 1)) for n in shape)
        good[idx] = np.nan if kind == "nan" else -np.inf
        return good, "NaN or infinite"
    if kind == "str":
        return good.astype(str), "real numbers"
    return np.full(shape, None, dtype=object), "real numbers"


def call_regression(name: str, bad, N: int, D: int):
    """Call public function ``name`` with ``bad`` in its array argument."""
    X, t = np.ones((N, D)), np.ones(N)
    calls = {
        "fit.X": lambda: fit_least_squares(bad, t),
        "fit.t": lambda: fit_least_squares(X, bad),
        "gd.X": lambda: gradient_descent(bad, t, lr=0.1, steps=1),
        "gd.t": lambda: gradient_descent(X, bad, lr=0.1, steps=1),
        "gd.w0": lambda: gradient_descent(X, t, 0.1, 1, w0=bad),
        "poly.x": lambda: polynomial_features(bad, 2),
        "rms.y": lambda: rms_error(bad, t),
        "rms.t": lambda: rms_error(t, bad),
    }
    return calls[name]()


ARRAY_ARGS = {  # call name -> (argument name, shape of a good value)
    "fit.X": ("X", "ND"), "fit.t": ("t", "N"), "gd.X": ("X", "ND"),
    "gd.t": ("t", "N"), "gd.w0": ("w0", "D"), "poly.x": ("x", "N"),
    "rms.y": ("y", "N"), "rms.t": ("t", "N"),
}


@given(
    st.sampled_from(sorted(ARRAY_ARGS)),
    st.integers(2, 6),
    st.integers(1, 3),
    st.data(),
)
def test_bad_arrays_are_named_by_our_code(name, N, D, data):
    arg, dims = ARRAY_ARGS[name]
    shape = tuple({"N": N, "D": D}[c] for c in dims)
    bad, words = data.draw(spoiled(shape))
    if name == "poly.x" and bad.ndim == 2 and bad.shape[1] == 1:
        return  # an (N, 1) column is a documented, valid input
    with pytest.raises((TypeError, ValueError)) as info:
        call_regression(name, bad, N, D)
    assert raises_here(info), info.traceback[-1]
    message = str(info.value)
    assert arg in message, message
    if words == "-D" and name == "poly.x":
        words = "1-D"
    assert words in message or "shape" in message, message


BAD_SCALARS = [  # (argument, bad value, words in the error)
    ("l2", -1.0, ">= 0"), ("l2", float("nan"), "finite"),
    ("l2", "0.1", "real number"), ("l2", True, "real number"),
    ("lr", 0.0, "> 0"), ("lr", float("inf"), "finite"),
    ("lr", "fast", "real number"), ("steps", -1, ">= 0"),
    ("steps", 2.5, "integer"), ("batch_size", 0, ">= 1"),
    ("batch_size", 99, "at most"), ("rng", "seed", "np.random.Generator"),
    ("rng", 1.5, "np.random.Generator"), ("rng", -3, "np.random.Generator"),
    ("degree", -1, ">= 0"), ("degree", 2.0, "integer"),
    ("n", 0, ">= 1"), ("n", "5", "integer"), ("noise", -0.1, ">= 0"),
]


@given(st.permutations(BAD_SCALARS))
def test_bad_settings_are_named_by_our_code(cases):
    # every example tries every case, in a new order
    X, t = np.ones((4, 2)), np.arange(4.0)
    settings = {"lr": 0.1, "steps": 2, "batch_size": 2, "rng": 0, "l2": 0.0}
    for arg, value, words in cases:
        with pytest.raises((TypeError, ValueError)) as info:
            if arg in ("degree",):
                polynomial_features(t, value)
            elif arg in ("n", "noise"):
                make_sine_data(**{"n": 5, "noise": 0.1, arg: value})
            elif arg == "rng" and value == -3:
                make_sine_data(5, rng=value)
            else:
                gradient_descent(X, t, **{**settings, arg: value})
        assert raises_here(info), (arg, value, info.traceback[-1])
        message = str(info.value)
        assert arg in message and words in message, (arg, value, message)
