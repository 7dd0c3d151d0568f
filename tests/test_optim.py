"""Tests of nnfs.optim (Chapter 3: SGD, Adam, AdamW and the cosine schedule).

Each optimiser is run side by side with its torch.optim counterpart in float64,
from identical parameters and with identical random gradients set by hand on
both sides, and must agree to rtol 1e-6 after every step (observed: ~1e-15).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from nnfs.backend import get_array_module, get_backend, model_to, to_device, to_host
from nnfs.nn import Linear, Parameter, ReLU, Sequential
from nnfs.optim import SGD, Adam, AdamW, CosineSchedule, Optimizer

from helpers import raised_by_module  # noqa: E402

pytestmark = pytest.mark.ch3

RTOL = 1e-6
N_STEPS = 5
SHAPES = [(4, 3), (3,), (2, 5)]


raises_here = raised_by_module("nnfs.optim")


# name -> (our optimiser, torch's, keyword arguments both understand)
CONFIGS = {
    "sgd": (SGD, torch.optim.SGD, dict(lr=0.1)),
    "sgd-momentum": (SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
    "sgd-weight-decay": (SGD, torch.optim.SGD, dict(lr=0.1, weight_decay=0.05)),
    "sgd-momentum-weight-decay": (SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.8, weight_decay=0.05)),
    "adam": (Adam, torch.optim.Adam, dict(lr=0.05)),
    "adam-weight-decay": (Adam, torch.optim.Adam, dict(lr=0.05, weight_decay=0.1)),
    "adam-betas-eps": (Adam, torch.optim.Adam, dict(lr=0.05, betas=(0.8, 0.99), eps=1e-3)),
    "adamw-0.01": (AdamW, torch.optim.AdamW, dict(lr=0.05, weight_decay=0.01)),
    "adamw-0.1": (AdamW, torch.optim.AdamW, dict(lr=0.05, weight_decay=0.1)),
}


@pytest.mark.parametrize("vary_lr", [False, True], ids=["constant-lr", "changing-lr"])
@pytest.mark.parametrize("config", list(CONFIGS))
def test_optimizer_matches_torch(config, vary_lr, backend):
    ours_cls, torch_cls, kwargs = CONFIGS[config]
    rng = np.random.default_rng(list(CONFIGS).index(config))
    start = [rng.standard_normal(shape) for shape in SHAPES]
    params = [Parameter(to_device(a.copy(), backend)) for a in start]
    t_params = [torch.tensor(a.copy(), requires_grad=True) for a in start]
    opt = ours_cls(params, **kwargs)
    t_opt = torch_cls(t_params, **kwargs, foreach=False)
    # A schedule changes lr between steps; both must use the lr of the current step.
    lrs = kwargs["lr"] * np.array([1.0, 0.5, 2.0, 0.1, 1.0]) if vary_lr else [kwargs["lr"]] * N_STEPS

    for step in range(N_STEPS):
        opt.lr = float(lrs[step])
        for group in t_opt.param_groups:
            group["lr"] = float(lrs[step])
        grads = [rng.standard_normal(shape) for shape in SHAPES]
        for p, t, g in zip(params, t_params, grads):
            p.grad[...] = to_device(g, backend)
            t.grad = torch.tensor(g.copy())
        opt.step()
        t_opt.step()
        for k, (p, t, a0) in enumerate(zip(params, t_params, start)):
            assert get_array_module(p.data) is get_backend(backend), f"param {k} left the {backend} backend"
            ours, ref = to_host(p.data), t.detach().numpy()
            np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=0, err_msg=f"step {step + 1}, param {k}")
            # The displacement from the start, too: an lr-sized error is visible there even when
            # it is small next to the parameter itself.
            np.testing.assert_allclose(ours - a0, ref - a0, rtol=RTOL, atol=1e-14,
                                       err_msg=f"step {step + 1}, param {k}, update")
        for p, g in zip(params, grads):  # step reads the gradient but never changes it
            np.testing.assert_array_equal(to_host(p.grad), g)


@pytest.mark.parametrize("config", list(CONFIGS))
def test_optimizer_keeps_float32(config, backend):
    ours_cls, _, kwargs = CONFIGS[config]
    rng = np.random.default_rng(0)
    params = [Parameter(to_device(rng.standard_normal(s).astype(np.float32), backend)) for s in SHAPES]
    data_arrays = [p.data for p in params]
    opt = ours_cls(params, **kwargs)
    for _ in range(3):
        for p in params:
            p.grad[...] = to_device(rng.standard_normal(p.shape), backend)
        opt.step()
    for p, a in zip(params, data_arrays):
        assert p.data.dtype == np.float32
        assert p.data is a  # updated in place: the model's layers hold these arrays
        assert np.all(np.isfinite(to_host(p.data)))


def test_optimizer_updates_a_model_through_its_parameters(backend):
    rng = np.random.default_rng(0)
    model = model_to(Sequential(Linear(3, 4, rng=rng), ReLU(), Linear(4, 2, rng=rng)), backend)
    before = [to_host(p.data).copy() for p in model.parameters()]
    opt = SGD(model.parameters(), lr=0.1)  # created after the move, as nnfs.backend.model_to asks
    for p in model.parameters():
        p.grad[...] = 1.0
    opt.step()
    for p, b in zip(model.parameters(), before):
        np.testing.assert_allclose(to_host(p.data), b - np.float32(0.1), rtol=1e-6)


def test_adamw_default_weight_decay_matches_torch_default():
    ours = AdamW([Parameter(np.zeros(2))]).param_groups[0]["weight_decay"]
    assert ours == torch.optim.AdamW([torch.zeros(2)]).defaults["weight_decay"]
    group = Adam([Parameter(np.zeros(2))]).param_groups[0]
    t_defaults = torch.optim.Adam([torch.zeros(2)]).defaults
    for key in ("lr", "betas", "eps", "weight_decay"):
        assert group[key] == t_defaults[key], key


# ---------------------------------------------------------------------------
# Parameter groups
# ---------------------------------------------------------------------------

# name -> (ours, torch's, constructor defaults, the two groups' own settings)
GROUP_CONFIGS = {
    "sgd-momentum": (SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9),
                     [dict(lr=0.05, weight_decay=0.1), dict(momentum=0.5)]),
    "adam": (Adam, torch.optim.Adam, dict(lr=0.05),
             [dict(lr=0.01, weight_decay=0.2), dict(betas=(0.8, 0.99))]),
    "adamw": (AdamW, torch.optim.AdamW, dict(lr=0.05, weight_decay=0.01),
              [dict(lr=0.01, weight_decay=0.3), dict(eps=1e-3)]),
}


def _two_groups(params, settings):
    return [{"params": params[:2], **settings[0]},
            {"params": params[2:], **settings[1]}]


@pytest.mark.parametrize("config", list(GROUP_CONFIGS))
def test_parameter_groups_match_torch(config):
    """Two groups with different lr and weight decay, step by step, float64."""
    ours_cls, torch_cls, defaults, settings = GROUP_CONFIGS[config]
    rng = np.random.default_rng(20 + list(GROUP_CONFIGS).index(config))
    start = [rng.standard_normal(shape) for shape in SHAPES]
    params = [Parameter(a.copy()) for a in start]
    t_params = [torch.tensor(a.copy(), requires_grad=True) for a in start]
    opt = ours_cls(_two_groups(params, settings), **defaults)
    t_opt = torch_cls(_two_groups(t_params, settings), **defaults,
                      foreach=False)
    for ours, ref in zip(opt.param_groups, t_opt.param_groups):
        for key in ("lr", "weight_decay"):
            assert ours[key] == ref[key]
    for step in range(N_STEPS):
        grads = [rng.standard_normal(shape) for shape in SHAPES]
        for p, t, g in zip(params, t_params, grads):
            p.grad[...] = g
            t.grad = torch.tensor(g.copy())
        opt.step()
        t_opt.step()
        for k, (p, t, a0) in enumerate(zip(params, t_params, start)):
            ref = t.detach().numpy()
            np.testing.assert_allclose(p.data - a0, ref - a0, rtol=1e-12,
                                       atol=1e-15,
                                       err_msg=f"step {step + 1}, param {k}")


def test_parameter_groups_really_differ():
    """The groups' settings reach the update: the test above is not vacuous."""
    ours_cls, _, defaults, settings = GROUP_CONFIGS["adamw"]
    start = [np.ones(shape) for shape in SHAPES]
    moved = []
    for groups in (True, False):
        params = [Parameter(a.copy()) for a in start]
        opt = ours_cls(_two_groups(params, settings) if groups else params,
                       **defaults)
        for p in params:
            p.grad[...] = 1.0
        opt.step()
        moved.append(np.concatenate([(a - p.data).ravel()
                                     for p, a in zip(params, start)]))
    assert not np.allclose(moved[0], moved[1])


def test_parameter_groups_fill_in_defaults_and_keep_lr_property():
    a, b = Parameter(np.zeros(2)), Parameter(np.zeros(3))
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1,
              momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.9]
    assert opt.params == [a, b] and opt.lr == 0.1
    opt.lr = 0.01                            # sets every group
    assert [g["lr"] for g in opt.param_groups] == [0.01, 0.01]
    plain = SGD([a, b], lr=0.1)              # an iterable of Parameters
    assert len(plain.param_groups) == 1
    assert plain.param_groups[0]["params"] == [a, b]


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
def test_a_parameter_in_two_groups_is_refused(cls):
    a, b = Parameter(np.zeros(2)), Parameter(np.zeros(3))
    with pytest.raises(ValueError, match="twice") as info:
        cls([{"params": [a, b]}, {"params": [a]}], lr=0.1)
    assert raises_here(info)
    with pytest.raises(ValueError, match="twice"):
        cls([a, a], lr=0.1)


@pytest.mark.parametrize(
    "groups, error, words",
    [
        ([{"lr": 0.1}], ValueError, "needs the key 'params'"),
        ([{"params": [], "momentun": 0.9}], ValueError, "momentun"),
        ([{"params": [np.zeros(2)]}], TypeError, "expected Parameters"),
        ([{"params": []}], ValueError, "no parameters"),
        ([{"params": [Parameter(np.zeros(1))], "lr": -1.0}], ValueError,
         "lr must be"),
        ([{"params": [Parameter(np.zeros(1))], "momentum": 2.0}],
         ValueError, "momentum must be"),
    ],
)
def test_bad_parameter_groups_are_refused(groups, error, words):
    with pytest.raises(error, match=words) as info:
        SGD(groups, lr=0.1)
    assert raises_here(info)


def test_cosine_schedule_scales_each_group_from_its_own_base_lr():
    a, b = Parameter(np.zeros(1)), Parameter(np.zeros(1))
    opt = SGD([{"params": [a], "lr": 0.1}, {"params": [b], "lr": 0.02}],
              lr=0.1)
    sched = CosineSchedule(opt, total_steps=10, warmup_steps=2)
    assert sched.base_lrs == [0.1, 0.02]
    # torch's LambdaLR with the same multiplier is the reference
    t_opt = torch.optim.SGD([{"params": [torch.zeros(1)], "lr": 0.1},
                             {"params": [torch.zeros(1)], "lr": 0.02}])
    t_sched = torch.optim.lr_scheduler.LambdaLR(
        t_opt, lambda k: closed_form_lr(k, 1.0, 10, 2, 0.0))
    for _ in range(12):
        ours = [g["lr"] for g in opt.param_groups]
        ref = [g["lr"] for g in t_opt.param_groups]
        np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-18)
        opt.step()
        sched.step()
        t_opt.step()
        t_sched.step()


# ---------------------------------------------------------------------------
# Argument checks and zero_grad
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
def test_optimizer_without_parameters_is_refused(cls):
    with pytest.raises(ValueError, match="no parameters") as info:
        cls([], lr=0.1)
    assert raises_here(info)
    with pytest.raises(ValueError, match="no parameters"):
        cls(iter([]), lr=0.1)  # an exhausted generator, e.g. model.parameters() of a ReLU


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
@pytest.mark.parametrize("lr", [0, 0.0, -0.1, math.nan, math.inf, "0.1", None])
def test_optimizer_rejects_bad_lr(cls, lr):
    with pytest.raises(ValueError, match="lr") as info:
        cls([Parameter(np.zeros(3))], lr=lr)
    assert raises_here(info)
    assert repr(lr) in str(info.value)


@pytest.mark.parametrize(
    "cls, kwargs, name",
    [
        (SGD, dict(momentum=-0.1), "momentum"),
        (SGD, dict(momentum=1.0), "momentum"),
        (SGD, dict(momentum=math.nan), "momentum"),
        (SGD, dict(weight_decay=-1e-4), "weight_decay"),
        (Adam, dict(betas=(1.0, 0.999)), r"betas\[0\]"),
        (Adam, dict(betas=(0.9, -0.1)), r"betas\[1\]"),
        (Adam, dict(eps=0.0), "eps"),
        (Adam, dict(eps=-1e-8), "eps"),
        (Adam, dict(weight_decay=math.inf), "weight_decay"),
        (AdamW, dict(weight_decay=-0.01), "weight_decay"),
    ],
)
def test_optimizer_rejects_bad_hyperparameters(cls, kwargs, name):
    with pytest.raises(ValueError, match=rf"{name} must be") as info:
        cls([Parameter(np.zeros(3))], lr=0.1, **kwargs)
    assert raises_here(info)


def test_optimizer_zero_grad_zeroes_in_place():
    params = [Parameter(np.ones((2, 3))), Parameter(np.ones(4))]
    for p in params:
        p.grad[...] = 7.0
    grads = [p.grad for p in params]
    opt = SGD(params, lr=0.1)
    opt.zero_grad()
    for p, g in zip(params, grads):
        assert p.grad is g
        np.testing.assert_array_equal(p.grad, 0)


def test_base_optimizer_step_is_abstract():
    opt = Optimizer([Parameter(np.zeros(1))], lr=1.0)
    assert opt.lr == 1.0 and isinstance(opt.lr, float)
    with pytest.raises(NotImplementedError):
        opt.step()


# ---------------------------------------------------------------------------
# CosineSchedule
# ---------------------------------------------------------------------------


def closed_form_lr(t: int, base: float, total: int, warmup: int,
                   min_lr: float) -> float:
    """The lr of optimiser step t, written out again from the chapter.

    Warm-up: base·(t+1)/W for the first W steps, so the last warm-up step
    uses base.  Then eq. (eq-cosine), α_t = α_min + ½(α₀ − α_min)(1 +
    cos(π(t − W)/(T − W))) for W <= t <= T, and α_min after that: the
    first step after the warm-up uses base, the last one (t = T − 1) is
    still above α_min, which is reached after the final step.
    """
    if t < warmup:
        return base * (t + 1) / warmup
    s = min(t, total) - warmup
    return min_lr + (base - min_lr) * (1 + math.cos(math.pi * s / (total - warmup))) / 2


def lrs_seen(base, total, warmup, min_lr, extra=0):
    """optimizer.lr in effect for each of the steps 0 .. total + extra - 1."""
    opt = SGD([Parameter(np.zeros(1))], lr=base)
    sched = CosineSchedule(opt, total_steps=total, warmup_steps=warmup, min_lr=min_lr)
    seen = []
    for _ in range(total + extra):
        seen.append(opt.lr)  # the lr this step uses
        opt.step()
        sched.step()
    return seen


@st.composite
def schedules(draw):
    total = draw(st.integers(1, 60), label="total_steps")
    warmup = draw(st.integers(0, total - 1), label="warmup_steps")
    base = 10.0 ** draw(st.floats(-4, 0), label="log10 base lr")
    min_lr = base * draw(st.sampled_from([0.0, 0.01, 0.5, 1.0]), label="min_lr / base")
    return total, warmup, base, min_lr


@given(schedules())
def test_cosine_schedule_matches_closed_form(case):
    total, warmup, base, min_lr = case
    seen = lrs_seen(base, total, warmup, min_lr, extra=3)
    expected = [closed_form_lr(t, base, total, warmup, min_lr) for t in range(total + 3)]
    np.testing.assert_allclose(seen, expected, rtol=1e-12, atol=1e-15 * base)


@given(schedules())
def test_cosine_schedule_shape(case):
    total, warmup, base, min_lr = case
    seen = lrs_seen(base, total, warmup, min_lr, extra=3)
    tol = 1e-12 * base
    if warmup:
        ramp = np.array(seen[:warmup])
        # Linear: equal increments of base / warmup, reaching base at the last warm-up step.
        np.testing.assert_allclose(np.diff(ramp), base / warmup, rtol=1e-9)
        assert ramp[0] == pytest.approx(base / warmup, rel=1e-12)
        assert ramp[-1] == pytest.approx(base, rel=1e-12)
    assert all(lr <= base + tol for lr in seen)
    decay = np.array(seen[max(warmup - 1, 0):])
    assert np.all(np.diff(decay) <= tol)  # monotone non-increasing after warm-up
    if min_lr < base:  # the last step still learns: no step is wasted at min_lr
        assert seen[total - 1] > min_lr + tol
    assert all(lr == pytest.approx(min_lr, rel=1e-12, abs=tol) for lr in seen[total:])  # then it stays there
    assert all(lr >= min_lr - tol for lr in seen[warmup:])
    assert seen[warmup] == pytest.approx(base, rel=1e-12)  # the cosine starts at base
    if total - warmup >= 2 and min_lr < base:
        assert min_lr < seen[warmup + 1] < base  # a real cosine, not a step down


@pytest.mark.parametrize("total, min_lr", [(10, 0.0), (25, 1e-3)])
def test_cosine_schedule_without_warmup_matches_torch(total, min_lr):
    """torch's CosineAnnealingLR gives eq. (eq-cosine) after k scheduler steps, k = 0..T; so does
    ours for optimiser step k (so that min_lr is reached after the last of the T steps)."""
    base = 0.1
    t_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base)
    t_sched = torch.optim.lr_scheduler.CosineAnnealingLR(t_opt, T_max=total, eta_min=min_lr)
    reference = [t_opt.param_groups[0]["lr"]]
    for _ in range(total):
        t_opt.step()
        t_sched.step()
        reference.append(t_opt.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs_seen(base, total, 0, min_lr, extra=1), reference, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize(
    "total, warmup",
    [(0, 0), (-5, 0), (10, 10), (10, 11), (10, -1)],
)
def test_cosine_schedule_rejects_bad_step_counts(total, warmup):
    opt = SGD([Parameter(np.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match=rf"total_steps.*warmup_steps.*{total}, {warmup}") as info:
        CosineSchedule(opt, total_steps=total, warmup_steps=warmup)
    assert raises_here(info)
    assert opt.lr == 0.1  # a refused schedule leaves the optimiser alone


@pytest.mark.parametrize("min_lr", [-0.01, 0.2], ids=["negative", "above-base-lr"])
def test_cosine_schedule_rejects_min_lr_outside_0_to_base_lr(min_lr):
    """A negative min_lr drives lr below 0 (gradient *ascent*); one above base_lr makes the
    "decay" an increase.  Both contradict the optimiser's own rule lr > 0 and the docstring
    ("a half cosine down to min_lr"), so the schedule must refuse them."""
    opt = SGD([Parameter(np.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="min_lr") as info:
        CosineSchedule(opt, total_steps=10, min_lr=min_lr)
    assert raises_here(info)


def test_cosine_schedule_drives_adam_like_torch_lambda_lr():
    """The schedule composed with Adam: same trajectory as torch's Adam under an equivalent LambdaLR."""
    base, total, warmup, min_lr = 0.05, 8, 3, 0.005
    rng = np.random.default_rng(9)
    start = rng.standard_normal((3, 2))
    p = Parameter(start.copy())
    t = torch.tensor(start.copy(), requires_grad=True)
    opt = Adam([p], lr=base)
    sched = CosineSchedule(opt, total_steps=total, warmup_steps=warmup, min_lr=min_lr)
    t_opt = torch.optim.Adam([t], lr=base, foreach=False)
    t_sched = torch.optim.lr_scheduler.LambdaLR(
        t_opt, lambda k: closed_form_lr(k, base, total, warmup, min_lr) / base)
    for _ in range(total):
        g = rng.standard_normal((3, 2))
        p.grad[...] = g
        t.grad = torch.tensor(g.copy())
        opt.step()
        sched.step()
        t_opt.step()
        t_sched.step()
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=RTOL, atol=0)


@given(schedules())
def test_cosine_lr_at_is_the_chapter_equation(case):
    """lr_at(t) against eq. (eq-cosine) for every t, including t >= T."""
    total, warmup, base, min_lr = case
    opt = SGD([Parameter(np.zeros(1))], lr=base)
    sched = CosineSchedule(opt, total_steps=total, warmup_steps=warmup,
                           min_lr=min_lr)
    for t in range(total + 3):
        expected = closed_form_lr(t, base, total, warmup, min_lr)
        assert sched.lr_at(t) == pytest.approx(expected, rel=1e-12,
                                               abs=1e-15 * base)
    assert sched.lr_at(total) == pytest.approx(min_lr, abs=1e-15 * base)
    if warmup:
        assert sched.lr_at(warmup - 1) == pytest.approx(base, rel=1e-12)
    assert sched.lr_at(warmup) == pytest.approx(base, rel=1e-12)
