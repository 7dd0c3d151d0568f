"""Tests of nnfs.track (Chapter 2: experiment tracking) and of nnfs.xor.train_xor_logged.

The Weights & Biases run is read back from disk with wandb's own reader
(`wandb leet inspect --json`), so the test checks what was written, not what
was handed to the library.
"""

from __future__ import annotations

import functools
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display in CI; must come before pyplot is imported
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from nnfs.track import History, WandbLogger  # noqa: E402
from nnfs.xor import init_xor_params, train_xor, train_xor_logged, xor_forward, xor_loss  # noqa: E402

from helpers import raised_by_module  # noqa: E402

pytestmark = pytest.mark.ch2

WANDB_CLI = Path(sys.executable).with_name("wandb")


raises_here = raised_by_module("nnfs.track")


def same_values(a, b) -> bool:
    """Equal lists of floats, with NaN equal to NaN (and only to NaN)."""
    return len(a) == len(b) and all((math.isnan(x) and math.isnan(y)) or x == y for x, y in zip(a, b))


def assert_same_history(h: History, g: History):
    assert g.name == h.name
    assert g.config == h.config
    assert sorted(g.metrics) == sorted(h.metrics)
    for key in h.metrics:
        steps_h, values_h = h.series(key)
        steps_g, values_g = g.series(key)
        assert steps_g == steps_h, key
        assert same_values(values_g, values_h), (key, values_g, values_h)


def log_nan(history: History, step: int, **metrics):
    with pytest.warns(RuntimeWarning):
        history.log(step, **metrics)


@pytest.fixture
def sample():
    h = History("baseline", config={"lr": 0.5, "n_hidden": 4, "hidden": "tanh", "layers": [4, 1],
                                    "opt": {"momentum": 0.9, "nesterov": False}, "note": None})
    h.log(0, loss=0.7, accuracy=0.5)
    h.log(10, loss=0.1 + 0.2)  # a value with a long decimal expansion
    log_nan(h, 20, loss=math.nan, accuracy=0.75)
    h.log(30, loss=1e-300, accuracy=1.0)
    return h


# ---------------------------------------------------------------------------
# History: JSON files
# ---------------------------------------------------------------------------


def test_round_trip(tmp_path, sample):
    path = tmp_path / "runs.json"
    sample.save(path)
    loaded = History.load(path, "baseline")
    assert_same_history(sample, loaded)
    assert loaded.series("loss") == ([0, 10, 20, 30], loaded.series("loss")[1])
    assert math.isnan(loaded.series("loss")[1][2])
    assert loaded.series("accuracy")[0] == [0, 20, 30]
    assert_same_history(sample, History.load(path))  # one run in the file: the name may be omitted
    json.loads(path.read_text())  # standard JSON (no NaN literal)


metric_values = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.just(math.nan))
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
configs = st.dictionaries(st.text(max_size=8),
                          st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                                       | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6),
                          max_size=4)


@given(name=st.text(min_size=1, max_size=12), config=configs,
       records=st.lists(st.tuples(st.integers(-5, 10**6), st.sampled_from(["loss", "acc", "λ rate", "x.y"]),
                                  metric_values), max_size=20))
def test_round_trip_property(name, config, records):
    h = History(name, config=config)
    for step, key, value in records:
        if math.isnan(value):
            log_nan(h, step, **{key: value})
        else:
            h.log(step, **{key: value})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "h.json"
        h.save(path)
        assert_same_history(h, History.load(path, name))


def test_several_runs_in_one_file(tmp_path, sample):
    path = tmp_path / "runs.json"
    other = History("wide", config={"n_hidden": 8})
    other.log(0, loss=0.69)
    sample.save(path)
    other.save(path)
    assert_same_history(sample, History.load(path, "baseline"))
    assert_same_history(other, History.load(path, "wide"))
    runs = History.load_all(path)
    assert sorted(runs) == ["baseline", "wide"]
    assert_same_history(other, runs["wide"])


def test_saving_a_run_again_replaces_it(tmp_path, sample):
    path = tmp_path / "runs.json"
    sample.save(path)
    History("other").save(path)
    replacement = History("baseline", config={"lr": 0.1})
    replacement.log(5, loss=0.2)
    replacement.save(path)
    assert_same_history(replacement, History.load(path, "baseline"))
    assert sorted(History.load_all(path)) == ["baseline", "other"]


def test_unknown_run_name(tmp_path, sample):
    path = tmp_path / "runs.json"
    sample.save(path)
    History("wide").save(path)
    with pytest.raises(KeyError) as info:
        History.load(path, "deep")
    assert raises_here(info)
    message = str(info.value)
    assert "deep" in message and "baseline" in message and "wide" in message
    with pytest.raises(KeyError, match="baseline"):  # two runs: the name cannot be omitted
        History.load(path)


@pytest.mark.parametrize("content", ["not json {", "", "[1, 2]", '{"runs": {}}', '{"format": "other", "runs": {}}',
                                     '{"format": "nnfs.track/1", "runs": []}'])
def test_not_a_history_file(tmp_path, content):
    path = tmp_path / "runs.json"
    path.write_text(content)
    with pytest.raises(ValueError) as info:
        History.load(path)
    assert raises_here(info)
    with pytest.raises(ValueError):  # and save refuses to overwrite it
        History("x").save(path)
    assert path.read_text() == content


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        History.load(tmp_path / "nope.json")


def test_config_must_be_json(tmp_path):
    with pytest.raises(TypeError) as info:
        History("r", config={"rng": object()})
    assert raises_here(info)
    with pytest.raises(TypeError):
        History("r", config={"lr": math.nan})


# ---------------------------------------------------------------------------
# History: logging
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, np.float64(np.inf)])
def test_non_finite_metric_warns_and_is_stored_as_nan(bad):
    h = History("r")
    h.log(0, loss=1.0)
    with pytest.warns(RuntimeWarning, match="loss") as record:
        h.log(1, loss=bad)
    assert record[0].filename == __file__  # the warning points at the caller
    steps, values = h.series("loss")
    assert steps == [0, 1]
    assert values[0] == 1.0 and math.isnan(values[1])


@pytest.mark.parametrize("bad", ["0.5", None, [0.5], True, 1 + 0j])
def test_unsupported_metric_type(bad):
    h = History("r")
    with pytest.raises(TypeError, match="loss") as info:
        h.log(0, loss=bad)
    assert raises_here(info)
    assert h.metrics == {}


def test_rejected_log_call_records_nothing():
    """A log call that raises must not leave some of its metrics recorded."""
    h = History("r")
    with pytest.raises(TypeError):
        h.log(0, loss=0.5, accuracy="high")
    assert h.metrics == {}


@pytest.mark.parametrize("step", [1.0, "3", None, True, np.float64(2.0)])
def test_non_integer_step(step):
    h = History("r")
    with pytest.raises(TypeError) as info:
        h.log(step, loss=0.5)
    assert raises_here(info)


def test_numpy_numbers_are_accepted():
    h = History("r")
    h.log(np.int64(3), loss=np.float32(0.25), acc=np.float64(0.5), n=7)
    assert h.series("loss") == ([3], [0.25])
    assert type(h.series("loss")[0][0]) is int and type(h.series("loss")[1][0]) is float
    assert h.last("n") == 7.0


def test_series_of_unknown_metric():
    h = History("r")
    h.log(0, loss=0.5, accuracy=0.25)
    with pytest.raises(KeyError) as info:
        h.series("los")
    assert raises_here(info)
    assert "accuracy" in str(info.value) and "loss" in str(info.value)


def test_series_returns_copies():
    h = History("r")
    h.log(0, loss=0.5)
    steps, values = h.series("loss")
    steps.append(99)
    values.append(99.0)
    assert h.series("loss") == ([0], [0.5])


def test_plot(sample):
    ax = sample.plot()
    try:
        assert isinstance(ax, matplotlib.axes.Axes)
        lines = ax.get_lines()
        assert len(lines) == 2
        by_label = {line.get_label(): line for line in lines}
        assert set(by_label) == {"baseline: loss", "baseline: accuracy"}
        x, y = by_label["baseline: loss"].get_data()
        assert list(x) == [0, 10, 20, 30]
        assert same_values(list(y), sample.series("loss")[1])
    finally:
        plt.close(ax.figure)

    fig, ax0 = plt.subplots()
    try:
        assert sample.plot(keys=["loss"], ax=ax0) is ax0
        assert len(ax0.get_lines()) == 1
    finally:
        plt.close(fig)


# ---------------------------------------------------------------------------
# Weights & Biases
# ---------------------------------------------------------------------------


@pytest.fixture
def wandb_env(tmp_path, monkeypatch):
    """Keep wandb quiet, offline, and inside tmp_path."""
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_MODE", "offline")
    for var, sub in [("WANDB_CONFIG_DIR", "config"), ("WANDB_CACHE_DIR", "cache"), ("WANDB_DATA_DIR", "data")]:
        monkeypatch.setenv(var, str(tmp_path / sub))
    return tmp_path


def read_wandb_run(run_dir: Path) -> list[dict]:
    """The records of a run directory, as printed by `wandb leet inspect --json`."""
    result = subprocess.run([str(WANDB_CLI), "leet", "inspect", "--json", str(run_dir)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def wandb_history(records: list[dict]) -> list[dict]:
    """The logged rows, without wandb's own columns (_runtime, _timestamp, ...), but with _step."""
    rows = []
    for r in records:
        if r["type"] == "history":
            item = r["history"]["item"]
            rows.append({k: v for k, v in item.items() if not k.startswith("_") or k == "_step"})
    return rows


def test_wandb_logger_writes_an_offline_run(wandb_env):
    config = {"lr": 0.5, "n_hidden": 4, "hidden": "tanh"}
    logged = [(0, 0.7, 0.5), (5, 1 / 3, 0.75), (12, 0.1 + 0.2, 1.0)]
    logger = WandbLogger("nnfs-tests", name="xor-check", config=config, dir=wandb_env)
    for step, loss, acc in logged:
        logger.log(step, loss=loss, accuracy=acc)
    logger.finish()

    run_dir = logger.run_dir
    assert run_dir.is_dir() and run_dir.name.startswith("offline-run-")
    assert run_dir.resolve().is_relative_to(wandb_env.resolve())
    records = read_wandb_run(run_dir)

    rows = wandb_history(records)
    assert rows == [{"_step": s, "loss": loss, "accuracy": acc} for s, loss, acc in logged]

    runs = [r["run"] for r in records if r["type"] == "run"]
    assert runs, "no run record"
    recorded_config = runs[0]["config"]["update"]
    assert {k: recorded_config[k] for k in config} == config
    assert runs[0]["display_name"] == "xor-check"
    assert runs[0]["project"] == "nnfs-tests"


def test_train_xor_logged_to_wandb_and_history(wandb_env):
    """The same training run reported to both loggers leaves the same record in both."""
    config = {"n_hidden": 4, "lr": 0.5, "epochs": 120, "seed": 3}
    history = History("run", config=config)
    logger = WandbLogger("nnfs-tests", name="logged", config=config, dir=wandb_env)
    train_xor_logged(config, [history, logger], log_every=50)

    rows = wandb_history(read_wandb_run(logger.run_dir))
    assert [row["_step"] for row in rows] == history.series("loss")[0] == [0, 50, 100, 120]
    assert [row["loss"] for row in rows] == history.series("loss")[1]
    assert [row["accuracy"] for row in rows] == history.series("accuracy")[1]


def test_wandb_logger_without_wandb(monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # makes `import wandb` raise ImportError
    with pytest.raises(ImportError, match=r"\[track\]") as info:
        WandbLogger("nnfs-tests")
    assert raises_here(info)


# ---------------------------------------------------------------------------
# train_xor_logged
# ---------------------------------------------------------------------------


class RecordingLogger:
    def __init__(self, calls: list, name: str):
        self.calls, self.name = calls, name

    def log(self, step, **metrics):
        self.calls.append((self.name, "log", step, metrics))

    def finish(self):
        self.calls.append((self.name, "finish"))


@pytest.mark.parametrize("epochs, log_every, expected_steps", [
    (230, 50, [0, 50, 100, 150, 200, 230]),  # a last epoch that is not a multiple of log_every
    (200, 50, [0, 50, 100, 150, 200]),
    (30, 50, [0, 30]),
    (7, 1, list(range(8))),
])
def test_train_xor_logged_calls_every_logger(epochs, log_every, expected_steps):
    config = {"n_hidden": 4, "lr": 0.5, "epochs": epochs, "seed": 9}
    calls = []
    params = train_xor_logged(config, [RecordingLogger(calls, "a"), RecordingLogger(calls, "b")], log_every=log_every)

    for name in "ab":
        mine = [c for c in calls if c[0] == name]
        assert [c[1] for c in mine] == ["log"] * len(expected_steps) + ["finish"]
        assert [c[2] for c in mine[:-1]] == expected_steps
    assert calls[-2:] == [("a", "finish"), ("b", "finish")]
    logs_a = [c[3] for c in calls if c[0] == "a" and c[1] == "log"]
    logs_b = [c[3] for c in calls if c[0] == "b" and c[1] == "log"]
    assert logs_a == logs_b

    # Reference: the same network trained in one go from the same start.
    start = init_xor_params(1, 4, np.random.default_rng(9))
    trained, losses = train_xor(start, 0.5, epochs, "tanh", "cross_entropy")
    for step, metrics in zip(expected_steps, logs_a):
        assert set(metrics) == {"loss", "accuracy"}
        expected = losses[step, 0] if step < epochs else xor_loss(trained, "tanh", "cross_entropy")[0]
        assert metrics["loss"] == pytest.approx(expected, rel=1e-12, abs=0)
    for k in trained:
        np.testing.assert_allclose(params[k], trained[k], rtol=1e-12, atol=0)

    # The last record describes the returned parameters.
    last = logs_a[-1]
    assert last["loss"] == pytest.approx(float(xor_loss(params, "tanh", "cross_entropy")[0]), rel=1e-15, abs=0)
    _, y = xor_forward(params, [(0, 0), (0, 1), (1, 0), (1, 1)], "tanh")
    assert last["accuracy"] == np.mean((y[0] > 0.5) == np.array([False, True, True, False]))


def test_train_xor_logged_config_settings():
    config = {"n_hidden": 3, "lr": 1.0, "epochs": 40, "hidden": "sigmoid", "loss": "mse", "scale": 0.5, "seed": 4}
    history = History("r")
    params = train_xor_logged(config, [history], log_every=20)
    start = init_xor_params(1, 3, np.random.default_rng(4), scale=0.5)
    trained, losses = train_xor(start, 1.0, 40, "sigmoid", "mse")
    assert history.series("loss") == ([0, 20, 40], [losses[0, 0], losses[20, 0], xor_loss(trained, "sigmoid", "mse")[0]])
    for k in trained:
        np.testing.assert_allclose(params[k], trained[k], rtol=1e-12, atol=0)


class Boom(Exception):
    pass


class FailingLogger(RecordingLogger):
    def log(self, step, **metrics):
        super().log(step, **metrics)
        if step == 5:
            raise Boom


def test_train_xor_logged_finishes_loggers_when_training_fails():
    calls = []
    with pytest.raises(Boom):
        train_xor_logged({"n_hidden": 2, "lr": 0.5, "epochs": 10}, [FailingLogger(calls, "a"), RecordingLogger(calls, "b")],
                         log_every=5)
    assert [c[:3] for c in calls] == [("a", "log", 0), ("b", "log", 0), ("a", "log", 5), ("a", "finish"), ("b", "finish")]


# ---------------------------------------------------------------------------
# Bad input, as a property: wrong types, empties, NaNs and broken files for
# every public function; the error must come from nnfs.track and name what
# was expected.
# ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)  # one file per text, not per example
def _write(text: str) -> Path:
    path = Path(tempfile.mkdtemp()) / "runs.json"
    path.write_text(text)
    return path


def _history_file(runs: str) -> Path:
    return _write('{"format": "nnfs.track/1", "runs": ' + runs + "}")


BAD_CALLS = [  # (description, call, error type, words in the message)
    ("name int", lambda: History(3), TypeError, ["name", "str"]),
    ("config list", lambda: History("a", config=[1]), TypeError,
     ["config", "dict"]),
    ("config NaN", lambda: History("a", config={"lr": math.nan}), TypeError,
     ["config", "JSON"]),
    ("config object", lambda: History("a", config={"f": object()}),
     TypeError, ["config", "JSON"]),
    ("step str", lambda: History("a").log("1", loss=1.0), TypeError,
     ["step", "integer"]),
    ("step float", lambda: History("a").log(1.0, loss=1.0), TypeError,
     ["step", "integer"]),
    ("metric str", lambda: History("a").log(0, loss="0.5"), TypeError,
     ["loss", "real number"]),
    ("metric array", lambda: History("a").log(0, loss=np.ones(2)),
     TypeError, ["loss", "real number"]),
    ("metric None", lambda: History("a").log(0, loss=None), TypeError,
     ["loss", "real number"]),
    ("series missing", lambda: History("a").series("loss"), KeyError,
     ["loss"]),
    ("last missing", lambda: History("a").last("loss"), KeyError, ["loss"]),
    ("from_dict list", lambda: History.from_dict([1]), ValueError,
     ["History record"]),
    ("from_dict no metrics", lambda: History.from_dict({"name": "a"}),
     ValueError, ["History record", "metrics"]),
    ("from_dict ragged",
     lambda: History.from_dict(
         {"name": "a", "metrics": {"l": {"steps": [0], "values": []}}}
     ), ValueError, ["History record"]),
    ("load not JSON", lambda: History.load(_write("{not json")), ValueError,
     ["not valid JSON"]),
    ("load empty file", lambda: History.load(_write("")), ValueError,
     ["not valid JSON"]),
    ("load truncated", lambda: History.load(_write('{"format": "nnfs.tr')),
     ValueError, ["not valid JSON"]),
    ("load other JSON", lambda: History.load(_write("[1, 2]")), ValueError,
     ["not a History file"]),
    ("load bad run", lambda: History.load(_history_file('{"a": 1}')),
     ValueError, ["History record"]),
    ("load no such run",
     lambda: History.load(_history_file('{}'), name="a"), KeyError, ["'a'"]),
    ("load_all bad run", lambda: History.load_all(_history_file('{"a": 1}')),
     ValueError, ["History record"]),
    ("wandb mode", lambda: WandbLogger("p", mode="offlne"), ValueError,
     ["mode", "offline"]),
]


@given(st.permutations(BAD_CALLS))
def test_bad_input_is_named_by_our_code(cases):
    # every example tries every case, in a new order
    for description, call, error, words in cases:
        with pytest.raises(error) as info:
            call()
        assert raises_here(info), (description, info.traceback[-1])
        for word in words:
            assert word in str(info.value), (description, str(info.value))
