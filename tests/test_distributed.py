"""Tests of nnfs.distributed (Chapter 6: data-parallel training over MPI).

The central test is data-parallel equivalence: two MPI ranks that each take
half of every global batch and sum their weighted gradients with one Allreduce
must end with the weights of ordinary single-process training on the same
global batches, to 1e-10 in float64 (observed: ~1e-16). A test of that test
shows it can fail: with 3 ranks and a global batch of 100 (shards of 34, 33
and 33), averaging by 1/P instead of |B_r|/|B| moves the weights by far more
than 1e-8, while the weighted average still matches.

MPI is expensive to start (~1.5 s per mpirun), so the whole file launches it
three times: the worker tests/mpi_worker.py on 2 ranks and on 3 ranks (it
trains, broadcasts and reports to an .npz file; the asserting happens here),
and one script whose rank 1 raises. Without mpi4py or mpirun the MPI tests are
skipped with the reason, except on CI (the CI variable is set), which installs
the mpi extra and so fails them instead.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mpi_worker as worker
from nnfs import distributed
from nnfs.distributed import global_batches, mpirun, shard, train_data_parallel
from nnfs.nn import SoftmaxCrossEntropy

from helpers import raised_by_module  # noqa: E402

pytestmark = pytest.mark.ch6

TOL = 1e-10          # data-parallel vs single-process weights (float64); observed ~1e-16
MEAN_GAP = 1e-8      # the 1/P average with unequal shards must miss the reference by more than this
ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(worker.__file__).resolve()
BATCH_2, STEPS_2 = 50, 10     # 4 batches an epoch: 10 steps span three epochs
BATCH_3, STEPS_3 = 100, 6     # not divisible by 3: shards of 34, 33, 33


raises_here = raised_by_module("nnfs.distributed")


# ---------------------------------------------------------------------------
# shard
# ---------------------------------------------------------------------------


@given(size=st.integers(1, 64), extra=st.integers(0, 1000))
def test_shard_splits_into_contiguous_near_equal_parts(size, extra):
    n = size + extra
    parts = [shard(n, rank, size) for rank in range(size)]
    assert all(isinstance(p, slice) and p.step is None for p in parts)
    assert parts[0].start == 0 and parts[-1].stop == n
    assert all(a.stop == b.start for a, b in zip(parts, parts[1:]))  # contiguous, in rank order
    items = list(range(n))
    assert [i for p in parts for i in items[p]] == items           # every item exactly once, in order
    sizes = [p.stop - p.start for p in parts]
    assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1


@given(size=st.integers(1, 64), data=st.data())
def test_shard_rejects_fewer_items_than_ranks(size, data):
    n = data.draw(st.integers(0, size - 1)) if size > 1 else 0
    rank = data.draw(st.integers(0, size - 1))
    with pytest.raises(ValueError, match=f"{n} examples over {size} ranks") as info:
        shard(n, rank, size)
    assert raises_here(info)


@given(size=st.integers(1, 64), data=st.data())
def test_shard_rejects_a_rank_out_of_range(size, data):
    rank = data.draw(st.one_of(st.integers(-100, -1), st.integers(size, size + 100)))
    with pytest.raises(ValueError, match=f"rank {rank} of size {size}") as info:
        shard(1000, rank, size)
    assert raises_here(info)


@pytest.mark.parametrize("size", [0, -1])
def test_shard_rejects_size_below_one(size):
    with pytest.raises(ValueError, match="size >= 1") as info:
        shard(10, 0, size)
    assert raises_here(info)


# ---------------------------------------------------------------------------
# global_batches
# ---------------------------------------------------------------------------


@given(n=st.integers(1, 60), data=st.data(), steps=st.integers(0, 30), seed=st.integers(0, 2**32 - 1))
def test_global_batches_are_deterministic_epochs_without_repeats(n, data, steps, seed):
    batch_size = data.draw(st.integers(1, n))
    batches = list(global_batches(n, batch_size, steps, seed))
    again = list(global_batches(n, batch_size, steps, seed))
    assert len(batches) == steps  # also when the steps span several epochs
    assert len(again) == steps and all(np.array_equal(a, b) for a, b in zip(batches, again))
    for b in batches:
        assert b.shape == (batch_size,) and np.issubdtype(b.dtype, np.integer)
        assert len(set(b.tolist())) == batch_size and 0 <= b.min() and b.max() < n
    per_epoch = n // batch_size  # the last partial batch of an epoch is dropped
    for start in range(0, steps, per_epoch):
        epoch = np.concatenate(batches[start:start + per_epoch])
        assert len(set(epoch.tolist())) == len(epoch), "an index repeats within an epoch"


def test_global_batches_span_epochs_and_reshuffle():
    batches = list(global_batches(10, 3, 7, seed=0))  # 3 batches an epoch: epochs of 3, 3 and 1 batches
    assert len(batches) == 7
    first, second = np.concatenate(batches[:3]), np.concatenate(batches[3:6])
    assert len(set(first.tolist())) == 9 and len(set(second.tolist())) == 9
    assert not np.array_equal(first, second)  # a new permutation each epoch
    other_seed = list(global_batches(10, 3, 7, seed=1))
    assert not all(np.array_equal(a, b) for a, b in zip(batches, other_seed))


@pytest.mark.parametrize("batch_size", [0, -3, 11])
def test_global_batches_rejects_a_bad_batch_size(batch_size):
    # The check runs at the call, not when the first batch is asked for.
    with pytest.raises(ValueError, match="batch_size must lie in 1..10") as info:
        global_batches(10, batch_size, 5, seed=0)
    assert raises_here(info)


def test_global_batches_rejects_negative_steps():
    with pytest.raises(ValueError, match="steps must be >= 0") as info:
        global_batches(10, 2, -1, seed=0)
    assert raises_here(info)


def test_train_data_parallel_rejects_an_unknown_average():
    net = worker.model()
    x, y = worker.problem()
    with pytest.raises(ValueError, match="average") as info:  # checked before the communicator is touched
        train_data_parallel(net, SoftmaxCrossEntropy(), worker.optimizer(net), x, y, 10, 1, comm=None,
                            average="median")
    assert raises_here(info)


# ---------------------------------------------------------------------------
# Properties of bad input: wrong types, shapes, dtypes, empty arrays and NaN,
# all refused by nnfs.distributed before any communication
# ---------------------------------------------------------------------------

NOT_INTS = st.one_of(st.floats(allow_nan=True), st.just(True), st.text(max_size=3), st.none(),
                     st.just(np.float64(2.0)), st.just([2]))


class NoComm:
    """A one-rank communicator that fails the test if anything is communicated."""

    def Get_rank(self):
        return 0

    def Get_size(self):
        return 1

    def __getattr__(self, name):
        raise AssertionError(f"communicated ({name}) before the arguments were checked")


class OneRank(NoComm):
    """A one-rank communicator whose collectives do nothing (as MPI.COMM_SELF)."""

    def Barrier(self):
        pass

    def Allreduce(self, sendbuf, recvbuf, op=None):
        pass

    def Bcast(self, buffer, root=0):
        pass

    def allgather(self, value):
        return [value]

    def allreduce(self, value, op=None):
        return value


@given(bad=NOT_INTS, which=st.sampled_from(["n", "rank", "size"]))
def test_property_shard_rejects_a_non_integer_naming_the_argument(bad, which):
    args = {"n": 10, "rank": 0, "size": 2, which: bad}
    with pytest.raises(TypeError, match=rf"^{which} must be an integer; got ") as info:
        shard(**args)
    assert raises_here(info)


@given(bad=NOT_INTS, which=st.sampled_from(["n", "batch_size", "steps", "seed"]))
def test_property_global_batches_rejects_a_non_integer_at_the_call(bad, which):
    args = {"n": 10, "batch_size": 2, "steps": 3, "seed": 0, which: bad}
    with pytest.raises(TypeError, match=rf"^{which} must be an integer; got ") as info:
        global_batches(**args)
    assert raises_here(info)


def _train(x, y, batch_size=4, comm=None):
    net = worker.model()
    return train_data_parallel(net, SoftmaxCrossEntropy(), worker.optimizer(net), x, y, batch_size, 1,
                               comm if comm is not None else NoComm())


@given(shape=st.lists(st.integers(0, 3), min_size=0, max_size=1))
def test_property_train_data_parallel_rejects_x_that_is_not_a_batch_of_rows(shape):
    x = np.zeros(shape)
    with pytest.raises(ValueError, match=r"x must have shape \(n, \.\.\.\) with n >= 1") as info:
        _train(x, np.zeros(shape[:1], dtype=int))
    assert raises_here(info)


def test_train_data_parallel_rejects_an_empty_data_set():
    with pytest.raises(ValueError, match=r"x must have shape \(n, \.\.\.\) with n >= 1; got \(0, 20\)") as info:
        _train(np.zeros((0, 20)), np.zeros(0, dtype=int))
    assert raises_here(info)


@given(n_labels=st.integers(0, 30).filter(lambda k: k != 12), extra_axis=st.booleans())
def test_property_train_data_parallel_needs_one_label_per_row(n_labels, extra_axis):
    x = np.zeros((12, 20))
    y = np.zeros((n_labels, 1) if extra_axis else (n_labels,), dtype=int)
    with pytest.raises(ValueError, match=r"y must have shape \(12,\), one label per row of x") as info:
        _train(x, y)
    assert raises_here(info)


@given(x_dtype=st.sampled_from([np.float64, np.float32, np.int64, np.bool_, np.complex128]),
       y_dtype=st.sampled_from([np.int64, np.int32, np.uint8, np.float64, np.bool_]))
def test_property_train_data_parallel_names_the_dtypes_it_expects(x_dtype, y_dtype):
    x, y = np.zeros((12, 20), dtype=x_dtype), np.zeros(12, dtype=y_dtype)
    if np.dtype(x_dtype).kind == "f" and np.dtype(y_dtype).kind in "iu":
        return                                             # a good pair; trained elsewhere
    with pytest.raises(TypeError, match=r"expected floating-point x and integer y; got "
                                        rf"{np.dtype(x_dtype)} and {np.dtype(y_dtype)}") as info:
        _train(x, y)
    assert raises_here(info)


@given(where=st.tuples(st.integers(0, 11), st.integers(0, 19)), bad=st.sampled_from([np.nan, np.inf, -np.inf]))
def test_property_train_data_parallel_rejects_nan_or_inf_in_x(where, bad):
    x = np.zeros((12, 20))
    x[where] = bad
    with pytest.raises(ValueError, match="x must be finite; it contains NaN or infinity") as info:
        _train(x, np.zeros(12, dtype=int))
    assert raises_here(info)


def test_train_data_parallel_rejects_lists_and_fewer_examples_per_step_than_ranks():
    with pytest.raises(TypeError, match="x must be an array; got list") as info:
        _train([[0.0] * 20] * 12, np.zeros(12, dtype=int))
    assert raises_here(info)

    class ThreeRanks(NoComm):
        def Get_size(self):
            return 3

    x, y = worker.problem()
    with pytest.raises(ValueError, match="batch_size 2 is smaller than the number of ranks 3") as info:
        _train(x, y, batch_size=2, comm=ThreeRanks())
    assert raises_here(info)


def test_train_data_parallel_on_one_rank_is_ordinary_training_and_logs_every_part(monkeypatch):
    """With a one-rank communicator, data-parallel training is the plain loop, and the log adds up."""
    fake_mpi = types.SimpleNamespace(IN_PLACE="IN_PLACE", SUM="SUM")   # MPI is neither needed nor started
    monkeypatch.setattr(distributed, "mpi", lambda: fake_mpi)
    x, y = worker.problem()
    net = worker.model()
    log = train_data_parallel(net, SoftmaxCrossEntropy(), worker.optimizer(net), x, y, 40, 5, OneRank(),
                              seed=worker.BATCH_SEED)
    reference, losses = single_process(40, 5)
    for p, w in zip(net.parameters(), reference):
        np.testing.assert_array_equal(p.data, w)
    np.testing.assert_array_equal(log["loss"], losses)
    assert log["bytes"] == 8 * sum(w.size for w in reference)
    for key in ("compute_s", "wait_s", "allreduce_s", "copy_s", "comm_s"):
        assert len(log[key]) == 5 and min(log[key]) >= 0, key
    parts = np.add(np.add(log["wait_s"], log["allreduce_s"]), log["copy_s"])
    assert np.all(parts <= np.array(log["comm_s"]) + 1e-9)   # the three parts lie within comm_s


@pytest.mark.parametrize("weight", [0.0, -0.5, float("nan"), float("inf"), "0.5", None])
def test_allreduce_gradients_rejects_a_weight_that_is_not_a_positive_number(weight):
    with pytest.raises(ValueError, match=r"weight must be a finite number > 0 \(\|B_r\| / \|B\|\)") as info:
        distributed.allreduce_gradients(worker.model().parameters(), NoComm(), weight)
    assert raises_here(info)


def test_allreduce_gradients_needs_at_least_one_parameter():
    with pytest.raises(ValueError, match="expected at least one Parameter; got none") as info:
        distributed.allreduce_gradients([], NoComm(), 0.5)
    assert raises_here(info)


@pytest.mark.parametrize("sizes, repeats, error, match", [
    ([], 5, ValueError, "expected at least one size"),
    ([4, 0], 5, ValueError, "every size must be >= 1; got 0"),
    ([4, 2.5], 5, TypeError, "every size must be an integer; got 2.5"),
    ([4], 0, ValueError, "repeats must be >= 1; got 0"),
    ([4], 1.0, TypeError, "repeats must be an integer; got 1.0"),
])
def test_allreduce_times_checks_its_arguments_before_communicating(sizes, repeats, error, match):
    with pytest.raises(error, match=match) as info:
        distributed.allreduce_times(NoComm(), sizes, repeats)
    assert raises_here(info)


@pytest.mark.parametrize("call, error, match", [
    (lambda: distributed.make_mlp(0), ValueError, "hidden must be >= 1; got 0"),
    (lambda: distributed.make_mlp(12.0), TypeError, "hidden must be an integer; got 12.0"),
    (lambda: distributed.load_training_subset(0), ValueError, r"n must lie in 1..60000 \(the training images\)"),
    (lambda: distributed.load_training_subset(60_001), ValueError, "n must lie in 1..60000"),
    (lambda: distributed.load_training_subset(float("nan")), TypeError, "n must be an integer; got nan"),
    (lambda: mpirun(["-c", "pass"], n=0), ValueError, r"n \(the number of ranks\) must be >= 1; got 0"),
    (lambda: mpirun(["-c", "pass"], n=2.0), TypeError, "n must be an integer; got 2.0"),
    (lambda: mpirun("-c pass"), TypeError, "args must be a list of strings"),
    (lambda: mpirun(["-n", 3]), TypeError, "args must be a list of strings"),
], ids=["hidden 0", "hidden float", "subset 0", "subset too big", "subset nan", "ranks 0", "ranks float",
        "args str", "args int"])
def test_the_helpers_name_what_they_expected(call, error, match):
    with pytest.raises(error, match=match) as info:
        call()
    assert raises_here(info)


# ---------------------------------------------------------------------------
# Without MPI: the lazy import and the launcher's errors
# ---------------------------------------------------------------------------


def _run_fresh(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter that imports nnfs from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_module_imports_without_mpi4py_and_mpi_says_how_to_install():
    code = textwrap.dedent(
        """
        import sys
        sys.modules["mpi4py"] = None  # `import mpi4py` now fails, as if it were not installed
        import nnfs.distributed as d
        assert d.shard(5, 1, 2) == slice(3, 5)
        assert len(list(d.global_batches(6, 2, 4, seed=0))) == 4
        try:
            d.mpi()
        except ImportError as exc:
            print(exc)
        else:
            raise SystemExit("mpi() did not raise ImportError")
        """
    )
    result = _run_fresh(code)
    assert result.returncode == 0, result.stderr
    assert "pip install" in result.stdout and "mpi4py" in result.stdout, result.stdout


def test_import_does_not_load_mpi4py():
    result = _run_fresh("import sys, nnfs.distributed; assert 'mpi4py' not in sys.modules, 'imported eagerly'")
    assert result.returncode == 0, result.stderr


def test_mpirun_without_a_launcher_is_a_helpful_file_not_found_error(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))  # no mpirun next to it
    monkeypatch.setenv("PATH", "")                                   # and none on the PATH
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="mpirun") as info:
        mpirun(["-c", "pass"])
    assert "pip install" in str(info.value)
    assert raises_here(info)


@pytest.fixture
def fake_launch(tmp_path, monkeypatch):
    """An mpirun next to a fake interpreter, and a subprocess.run that records its calls instead of running them."""
    python = tmp_path / "python"
    (tmp_path / "mpirun").touch()
    monkeypatch.setattr(sys, "executable", str(python))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    calls, answer = [], [0]  # answer[0]: the exit status the fake mpirun returns

    def run(command, **kwargs):
        calls.append((command, kwargs))
        return subprocess.CompletedProcess(command, answer[0], "stdout text", "stderr text")

    monkeypatch.setattr(distributed.subprocess, "run", run)
    return calls, answer, tmp_path


def test_mpirun_command_and_environment(fake_launch, monkeypatch):
    calls, _, folder = fake_launch
    monkeypatch.setenv("MKL_NUM_THREADS", "4")  # a value the user set is kept
    result = mpirun(["-m", "nnfs.distributed", "train"], n=3, oversubscribe=True)
    (command, kwargs), = calls
    assert command == [str(folder / "mpirun"), "-n", "3", "--oversubscribe", str(folder / "python"),
                       "-m", "mpi4py", "-m", "nnfs.distributed", "train"]
    env = kwargs["env"]
    assert env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "1" and env["MKL_NUM_THREADS"] == "4"
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        assert env["OMPI_ALLOW_RUN_AS_ROOT"] == env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] == "1"
    assert result.stdout == "stdout text"
    mpirun(["x.py"], n=2)
    assert "--oversubscribe" not in calls[-1][0]


def test_mpirun_failure_is_a_runtime_error_with_the_output(fake_launch):
    _, answer, _ = fake_launch
    answer[0] = 7
    with pytest.raises(RuntimeError, match="status 7") as info:
        mpirun(["x.py"])
    assert "stdout text" in str(info.value) and "stderr text" in str(info.value)
    assert raises_here(info)


# ---------------------------------------------------------------------------
# With MPI
# ---------------------------------------------------------------------------


def mpi_missing_reason() -> str | None:
    """Why MPI cannot be launched here (None if it can), found without initialising MPI in this process."""
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed"
    if not Path(sys.executable).with_name("mpirun").exists() and shutil.which("mpirun") is None:
        return f"no mpirun next to {sys.executable} or on the PATH"
    return None


def skip_or_fail(reason: str) -> None:
    """Skip a test that needs MPI, but fail it on CI, which installs the mpi extra."""
    message = f"needs MPI: {reason} (install the mpi extra: pip install -e '.[mpi]')"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI is set and CI installs the mpi extra, so this fails instead of skipping")
    pytest.skip(message)


def test_missing_mpi_skips_locally_and_fails_on_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="mpi4py is not installed"):
        skip_or_fail("mpi4py is not installed")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        skip_or_fail("mpi4py is not installed")


@pytest.fixture(scope="module")
def launch():
    """``mpirun`` with a time limit, once MPI is known to be launchable (skip or fail otherwise)."""
    if (reason := mpi_missing_reason()) is not None:
        skip_or_fail(reason)
    return functools.partial(mpirun, timeout=120)


def run_worker(launch, folder: Path, ranks: int, batch_size: int, steps: int, averages: list[str]) -> dict:
    out = folder / f"ranks{ranks}.npz"
    # mpirun runs each rank under `python -m mpi4py`, which aborts every rank when one raises.
    launch([str(WORKER), str(out), "--batch-size", str(batch_size), "--steps", str(steps),
            "--average", *averages], n=ranks, oversubscribe=ranks > 2)  # 2 cores
    with np.load(out) as report:
        return dict(report)


@pytest.fixture(scope="module")
def two_ranks(launch, tmp_path_factory):
    return run_worker(launch, tmp_path_factory.mktemp("mpi2"), 2, BATCH_2, STEPS_2, ["weighted"])


@pytest.fixture(scope="module")
def three_ranks(launch, tmp_path_factory):
    return run_worker(launch, tmp_path_factory.mktemp("mpi3"), 3, BATCH_3, STEPS_3, ["weighted", "mean"])


REPORTS = {2: "two_ranks", 3: "three_ranks"}  # the worker's report for each number of ranks


def single_process(batch_size: int, steps: int) -> tuple[list[np.ndarray], np.ndarray]:
    """The reference: ordinary training on the same global batches; final weights and per-step losses."""
    x, y = worker.problem()
    net, loss_fn = worker.model(), SoftmaxCrossEntropy()
    optimizer = worker.optimizer(net)
    losses = []
    for batch in global_batches(len(x), batch_size, steps, worker.BATCH_SEED):
        optimizer.zero_grad()
        losses.append(loss_fn(net(x[batch]), y[batch]))
        net.backward(loss_fn.backward())
        optimizer.step()
    return [p.data for p in net.parameters()], np.array(losses)


def max_gap(report: dict, average: str, reference: list[np.ndarray]) -> float:
    return max(float(np.abs(report[f"{average}_param{i}"] - w).max()) for i, w in enumerate(reference))


@pytest.mark.mpi
def test_two_ranks_match_single_process_training(two_ranks):
    reference, losses = single_process(BATCH_2, STEPS_2)
    initial = [p.data for p in worker.model().parameters()]
    assert max(float(np.abs(w - w0).max()) for w, w0 in zip(reference, initial)) > 1e-3  # training moved them
    assert int(two_ranks["size"]) == 2
    assert max_gap(two_ranks, "weighted", reference) <= TOL
    assert two_ranks["weighted_loss"].shape == (STEPS_2,)
    np.testing.assert_allclose(two_ranks["weighted_loss"], losses, rtol=0, atol=TOL)
    assert float(two_ranks["weighted_rank_spread"]) <= TOL  # every rank ends with the same weights
    assert int(two_ranks["weighted_bytes"]) == 8 * sum(w.size for w in reference)  # one float64 Allreduce


@pytest.mark.mpi
def test_three_ranks_weighted_average_matches_and_plain_mean_does_not(three_ranks):
    """The test of the test: unequal shards make the 1/P average measurably wrong."""
    reference, losses = single_process(BATCH_3, STEPS_3)
    assert int(three_ranks["size"]) == 3
    assert max_gap(three_ranks, "weighted", reference) <= TOL
    np.testing.assert_allclose(three_ranks["weighted_loss"], losses, rtol=0, atol=TOL)
    assert float(three_ranks["weighted_rank_spread"]) <= TOL
    assert max_gap(three_ranks, "mean", reference) > MEAN_GAP
    assert float(three_ranks["mean_rank_spread"]) <= TOL  # wrong, but the same on every rank


@pytest.mark.mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_broadcast_gives_every_rank_the_weights_of_rank_0(ranks, request):
    report = request.getfixturevalue(REPORTS[ranks])
    before, after = report["broadcast_before"], report["broadcast_after"]
    assert before.shape[0] == after.shape[0] == ranks
    assert all(np.abs(before[r] - before[0]).max() > 0.1 for r in range(1, ranks))  # they did differ
    assert all(np.array_equal(after[r], before[0]) for r in range(ranks))


@pytest.mark.mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_broadcast_of_different_models_is_a_value_error_on_every_rank(ranks, request):
    messages = [str(m) for m in request.getfixturevalue(REPORTS[ranks])["mismatch_messages"]]
    assert len(messages) == ranks
    for rank, message in enumerate(messages):
        assert message, f"rank {rank} did not raise"
        assert f"rank {rank} has parameters (shape, dtype)" in message
        mine = f"({worker.D}, {worker.HIDDEN + rank})"
        others = [f"({worker.D}, {worker.HIDDEN + r})" for r in range(ranks) if r != rank]
        assert mine in message and any(o in message for o in others), message


FAILING_SCRIPT = """
import os, time
from mpi4py import MPI
comm = MPI.COMM_WORLD
if comm.Get_rank() == 1:
    raise RuntimeError("rank 1 fails on purpose")
request = comm.Ibarrier()  # the other ranks wait for rank 1, but give up after a few seconds
deadline = time.monotonic() + 3
while not request.Test():
    if time.monotonic() > deadline:
        print(f"rank {comm.Get_rank()} was left waiting for rank 1", flush=True)
        os._exit(3)
    time.sleep(0.01)
"""


@pytest.fixture(scope="module")
def failing_run(launch, tmp_path_factory) -> str:
    """The RuntimeError message of mpirun on a script whose rank 1 raises while rank 0 waits for it."""
    script = tmp_path_factory.mktemp("failing") / "fails_on_rank_1.py"
    script.write_text(FAILING_SCRIPT)
    with pytest.raises(RuntimeError) as info:
        launch([str(script)], n=2)
    return str(info.value)


@pytest.mark.mpi
def test_mpirun_surfaces_the_exception_of_a_failing_rank(failing_run):
    assert "exited with status" in failing_run
    assert "RuntimeError: rank 1 fails on purpose" in failing_run


@pytest.mark.mpi
def test_a_failing_rank_stops_the_others(failing_run):
    """Ranks run under `python -m mpi4py`, so rank 1's exception aborts rank 0 instead of leaving it waiting."""
    assert "was left waiting" not in failing_run
