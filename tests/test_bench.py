"""Tests of nnfs.bench (Chapter 4): the timing harness, the results files and their tables.

The statistics are checked against a percentile written out again here; the
results files against hand-made documents, valid and broken in each way the
loader promises to catch; and the suite itself on the NumPy backend (the
"works on CPU" check), in-process and as ``python -m nnfs.bench``.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from time import perf_counter_ns as time_ns

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import raised_by_module
from nnfs import bench

pytestmark = pytest.mark.ch4

ROOT = Path(__file__).resolve().parent.parent
PROVENANCE_KEYS = ("date_utc", "command", "backend", "numpy", "cpu")  # written out again, not imported
SECTIONS = {"matmul": ("n", "dtype", "median_s", "q1_s", "q3_s", "gflops"),
            "elementwise": ("size", "median_s", "gb_per_s"),
            "mlp_epoch": ("batch_size", "examples", "median_s", "examples_per_s")}


# ---------------------------------------------------------------------------
# summarize and measure
# ---------------------------------------------------------------------------


def percentile_linear(values, q: float) -> float:
    """The q-th percentile by linear interpolation between order statistics (NumPy's default method).

    Position h = (n − 1)·q/100 in the sorted values; interpolate between floor(h) and ceil(h).
    """
    v = sorted(float(t) for t in values)
    h = (len(v) - 1) * q / 100
    lo, hi = math.floor(h), math.ceil(h)
    return v[lo] + (h - lo) * (v[hi] - v[lo])


@pytest.mark.parametrize("times, expected", [
    ([0.5], dict(median_s=0.5, q1_s=0.5, q3_s=0.5, min_s=0.5, repeats=1)),
    ([3.0, 1.0, 2.0], dict(median_s=2.0, q1_s=1.5, q3_s=2.5, min_s=1.0, repeats=3)),
    ([4.0, 1.0, 3.0, 2.0], dict(median_s=2.5, q1_s=1.75, q3_s=3.25, min_s=1.0, repeats=4)),
    ([0.0, 0.0, 7.0], dict(median_s=0.0, q1_s=0.0, q3_s=3.5, min_s=0.0, repeats=3)),
])
def test_summarize_by_hand(times, expected):
    assert bench.summarize(times) == pytest.approx(expected, rel=1e-15)
    assert isinstance(bench.summarize(times)["repeats"], int)


@given(st.lists(st.floats(0, 10, allow_nan=False, allow_infinity=False), min_size=1, max_size=40))
def test_summarize_matches_linear_percentiles(times):
    s = bench.summarize(times)
    assert set(s) == {"median_s", "q1_s", "q3_s", "min_s", "repeats"}
    assert all(type(v) is float for k, v in s.items() if k != "repeats")  # JSON-ready Python floats
    assert s["repeats"] == len(times)
    assert s["min_s"] == min(times)
    for key, q in (("q1_s", 25), ("median_s", 50), ("q3_s", 75)):
        assert s[key] == pytest.approx(percentile_linear(times, q), rel=1e-12, abs=1e-300)
        assert s[key] == pytest.approx(float(np.percentile(np.asarray(times), q)), rel=1e-12, abs=1e-300)
    assert s["min_s"] <= s["q1_s"] <= s["median_s"] <= s["q3_s"] <= max(times)


def test_summarize_accepts_any_sequence_and_leaves_it_alone():
    times = [3.0, 1.0, 2.0]
    assert bench.summarize(np.array(times))["median_s"] == 2.0
    assert bench.summarize(tuple(times))["median_s"] == 2.0
    assert times == [3.0, 1.0, 2.0]


@pytest.mark.parametrize("times", [[], [1.0, float("nan")], [1.0, -1e-9], [float("inf")], [-0.5]],
                         ids=["empty", "nan", "negative", "inf", "only-negative"])
def test_summarize_rejects_bad_timings(times):
    with pytest.raises(ValueError, match="finite, non-negative timing"):
        bench.summarize(times)


@pytest.mark.parametrize("repeats, warmup", [(5, 1), (3, 0), (1, 2)])
def test_measure_calls_warmup_plus_repeats_times(repeats, warmup):
    calls = []
    result = bench.measure(lambda: calls.append(1), repeats=repeats, warmup=warmup)
    assert len(calls) == warmup + repeats
    assert set(result) == {"median_s", "q1_s", "q3_s", "min_s", "repeats"}
    assert result["repeats"] == repeats
    assert 0 <= result["min_s"] <= result["q1_s"] <= result["median_s"] <= result["q3_s"]


def test_measure_defaults_and_times_the_call():
    calls = []

    def slow():
        calls.append(1)
        t0 = time_ns()
        while time_ns() - t0 < 2_000_000:  # busy for 2 ms (sleep may return early on some systems)
            pass

    result = bench.measure(slow, repeats=3)
    assert len(calls) == 1 + 3  # one warm-up call by default
    assert result["min_s"] >= 0.002  # it times the call itself, in seconds
    assert result["median_s"] < 1.0


def test_measure_does_not_time_the_warmup():
    """The first call is slow (one-off costs); a median over the repeats must not see it."""
    state = {"first": True}

    def fn():
        if state["first"]:
            state["first"] = False
            t0 = time_ns()
            while time_ns() - t0 < 50_000_000:  # 50 ms
                pass

    result = bench.measure(fn, repeats=3, warmup=1)
    assert result["q3_s"] < 0.025


# ---------------------------------------------------------------------------
# The suite on NumPy (run once, shared by the tests that read its document)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def numpy_run(tmp_path_factory):
    """One quick NumPy run of the suite, written section by section to a file as it goes."""
    out = tmp_path_factory.mktemp("bench") / "progress.json"
    results = bench.run_suite("numpy", quick=True, argv=["python", "-m", "nnfs.bench", "--quick"], out=out)
    return results, out


@pytest.fixture(scope="module")
def numpy_results(numpy_run):
    return numpy_run[0]


def test_run_suite_numpy_document_is_valid_with_provenance(numpy_results):
    bench.validate_results(numpy_results, source="run_suite")
    assert numpy_results["schema"] == bench.SCHEMA == "nnfs.bench/1"
    prov = numpy_results["provenance"]
    for key in PROVENANCE_KEYS:
        assert key in prov, key
    assert prov["backend"] == "numpy"
    assert prov["numpy"] == np.__version__
    assert prov["command"] == "python -m nnfs.bench --quick"
    assert isinstance(prov["cpu"], str) and prov["cpu"]
    when = dt.datetime.fromisoformat(prov["date_utc"])
    assert when.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.timezone.utc) - when) < dt.timedelta(minutes=10)
    assert "gpu" not in prov
    json.dumps(numpy_results)  # plain JSON types only


def test_run_suite_with_out_leaves_the_whole_document_on_disk(numpy_run):
    results, out = numpy_run
    assert bench.load_results(out) == results


def test_run_suite_numpy_has_no_errors(numpy_results):
    assert not numpy_results.get("errors")


def test_run_suite_rewrites_its_file_after_every_section_so_a_failed_run_keeps_what_it_measured(monkeypatch, tmp_path):
    """A run that dies in the third section leaves the first two on disk, and the loader calls the file partial."""
    canned = {"n": 64, "dtype": "float32", "median_s": 1e-5, "q1_s": 1e-5, "q3_s": 1e-5, "min_s": 1e-5, "repeats": 1,
              "gflops": 52.4}
    monkeypatch.setattr(bench, "_matmul_rows", lambda *args, **kwargs: [canned])
    monkeypatch.setattr(bench, "_elementwise_rows",
                        lambda *args, **kwargs: [{"size": 1000, "median_s": 1e-6, "gb_per_s": 12.0}])

    def dies(*args, **kwargs):
        raise MemoryError("out of memory in the MLP section")

    monkeypatch.setattr(bench, "_mlp_epochs", dies)
    out = tmp_path / "partial.json"
    with pytest.raises(MemoryError):  # a section of the NumPy run is not optional: the error is not swallowed
        bench.run_suite("numpy", quick=True, argv=["x"], out=out)
    on_disk = json.loads(out.read_text())
    assert on_disk["benchmarks"]["matmul"] == [canned]
    assert on_disk["benchmarks"]["elementwise"][0]["size"] == 1000
    assert "mlp_epoch" not in on_disk["benchmarks"]
    assert_load_fails(out, "'mlp_epoch'", "missing or empty")


def test_run_suite_numpy_rows(numpy_results):
    b = numpy_results["benchmarks"]
    # transfer and kernels are GPU-only
    assert set(b) == {"matmul", "elementwise", "mlp_epoch", "transformer_step", "cnn_step"}
    assert numpy_results["errors"] == {}
    assert [r["batch_size"] for r in b["transformer_step"]] == [32, 128]
    for r in b["transformer_step"]:
        assert r["tokens_per_s"] == pytest.approx(r["tokens"] / r["median_s"], rel=1e-12)
    assert [r["batch_size"] for r in b["cnn_step"]] == [64, 256]
    for r in b["cnn_step"]:
        assert r["images_per_s"] == pytest.approx(r["batch_size"] / r["median_s"], rel=1e-12)
    assert sorted((r["dtype"], r["n"]) for r in b["matmul"]) == sorted(
        (d, n) for d in ("float32", "float64") for n in (64, 128, 256, 512))
    for r in b["matmul"]:
        assert r["repeats"] == 5
        assert 0 < r["min_s"] <= r["q1_s"] <= r["median_s"] <= r["q3_s"]
        assert r["gflops"] == pytest.approx(2 * r["n"] ** 3 / r["median_s"] / 1e9, rel=1e-12)
    assert [r["size"] for r in b["elementwise"]] == [10**3, 10**5, 10**7]
    for r in b["elementwise"]:
        assert r["gb_per_s"] == pytest.approx(3 * 4 * r["size"] / r["median_s"] / 1e9, rel=1e-12)
    assert [r["batch_size"] for r in b["mlp_epoch"]] == [64, 256]
    for r in b["mlp_epoch"]:
        assert r["examples"] == 5000 and r["repeats"] == 3
        assert r["examples_per_s"] == pytest.approx(r["examples"] / r["median_s"], rel=1e-12)


def test_write_and_load_results_round_trip(numpy_results, tmp_path):
    path = bench.write_results(numpy_results, tmp_path / "results.json")
    assert path == tmp_path / "results.json"
    assert bench.load_results(path) == numpy_results
    assert bench.load_results(str(path)) == numpy_results


def test_render_tables_of_a_numpy_run(numpy_results):
    text = bench.render_tables(numpy_results)
    prov = numpy_results["provenance"]
    assert text.splitlines()[0] == (f"*Measured {prov['date_utc']} on {prov['cpu']} ({prov['cpu_count']} cores), "
                                    f"NumPy {prov['numpy']}, commit `{prov['commit']}`, "
                                    "with `python -m nnfs.bench --quick`.*")
    assert "| 512 | float64 |" in text and "| 10,000,000 |" in text and "| 256 | 5,000 |" in text
    assert "LeNet-style CNN" in text
    cnn = {r["batch_size"]: r for r in numpy_results["benchmarks"]["cnn_step"]}
    assert f"| 64 | {cnn[64]['median_s'] * 1e3:.1f} ms | {cnn[64]['images_per_s']:,.0f} |" in text
    assert "Host↔device" not in text and "cuBLAS" not in text


def test_run_suite_rejects_an_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend"):
        bench.run_suite("tpu", quick=True)


def test_main_with_cupy_on_a_machine_without_cupy_fails_clearly_and_writes_nothing(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "cupy", None)
    out = tmp_path / "gpu.json"
    assert bench.main(["--backend", "cupy", "--quick", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not installed" in err and "NNFS_BACKEND=numpy" in err
    assert not out.exists()


def test_main_rejects_an_unknown_backend_option(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        bench.main(["--backend", "tpu", "--out", str(tmp_path / "x.json")])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_cli_numpy_quick_writes_a_valid_file(tmp_path):
    """`python -m nnfs.bench --backend numpy --quick --out FILE` works on a CPU-only machine."""
    out = tmp_path / "cpu.json"
    env = {k: v for k, v in os.environ.items() if k != "NNFS_BACKEND"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-m", "nnfs.bench", "--backend", "numpy", "--quick", "--out", str(out)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout
    results = bench.load_results(out)
    assert results["provenance"]["backend"] == "numpy"
    assert results["provenance"]["command"] == f"python -m nnfs.bench --backend numpy --quick --out {out}"


# ---------------------------------------------------------------------------
# Results files: a hand-made valid document, and every way to break it
# ---------------------------------------------------------------------------


def gpu_document() -> dict:
    """A small, hand-made, valid cupy results document, with the GPU-only sections."""
    return {
        "schema": "nnfs.bench/1",
        "provenance": {"date_utc": "2025-01-02T03:04:05+00:00",
                       "command": "python -m nnfs.bench --backend cupy --out book/data/test-gpu.json",
                       "backend": "cupy", "python": "3.11.7", "numpy": "2.1.0", "platform": "Linux-test",
                       "cpu": "Test CPU 9000", "cpu_count": 64, "cupy": "13.3.0", "gpu": "NVIDIA Test GPU 80GB",
                       "compute_capability": "9.0", "sm_count": 132, "gpu_memory_gib": 79.6,
                       "cuda_driver_api": "12.8", "cuda_runtime": "12.6", "driver": "570.86.15",
                       "commit": "0123abc"},
        "benchmarks": {
            "matmul": [
                {"n": 1024, "dtype": "float32", "median_s": 0.0005, "q1_s": 0.0004, "q3_s": 0.0006,
                 "min_s": 0.0004, "repeats": 10, "gflops": 2 * 1024**3 / 0.0005 / 1e9},
                {"n": 1024, "dtype": "float64", "median_s": 0.004, "q1_s": 0.003, "q3_s": 0.005,
                 "min_s": 0.003, "repeats": 10, "gflops": 2 * 1024**3 / 0.004 / 1e9},
            ],
            "elementwise": [{"size": 10**7, "median_s": 2e-5, "q1_s": 1.9e-5, "q3_s": 2.1e-5, "min_s": 1.8e-5,
                             "repeats": 10, "gb_per_s": 3 * 4 * 10**7 / 2e-5 / 1e9, "cpu_median_s": 4e-3}],
            "mlp_epoch": [{"batch_size": 256, "examples": 60000, "median_s": 1.25, "q1_s": 1.2, "q3_s": 1.3,
                           "min_s": 1.2, "repeats": 3, "examples_per_s": 48000.0}],
            "matmul_tf32": [{"n": 1024, "dtype": "tf32", "median_s": 0.00025, "q1_s": 0.0002, "q3_s": 0.0003,
                             "min_s": 0.0002, "repeats": 10, "gflops": 2 * 1024**3 / 0.00025 / 1e9,
                             "max_abs_error": 0.0123}],
            "transfer": [{"size": 10**8, "to_device_s": 0.02, "to_device_gb_per_s": 20.0,
                          "to_device_pinned_s": 0.008, "to_device_pinned_gb_per_s": 50.0,
                          "to_host_s": 0.025, "to_host_gb_per_s": 16.0}],
            "first_call": {"first_call_s": 0.1234, "warm_call_s": 4.5e-6, "launch_overhead_s": 4.5e-6},
            "kernels": [{"kernel": "tiled (numba)", "n": 4096, "median_s": 0.05, "gflops": 2748.8,
                         "percent_of_cublas": 12.5, "relative_error": 3.2e-7}],
        },
        "errors": {},
    }


def cpu_document() -> dict:
    doc = gpu_document()
    doc["provenance"] = {"date_utc": "2025-01-02T03:04:05+00:00", "command": "python -m nnfs.bench --out cpu.json",
                         "backend": "numpy", "numpy": "2.1.0", "cpu": "Test CPU 9000", "cpu_count": 8}
    for section in GPU_ONLY_SECTIONS:
        del doc["benchmarks"][section]
    del doc["benchmarks"]["elementwise"][0]["cpu_median_s"]
    return doc


GPU_ONLY_SECTIONS = ("matmul_tf32", "transfer", "first_call", "kernels")


def write_json(path: Path, doc) -> Path:
    path.write_text(json.dumps(doc))
    return path


def test_render_tables_from_a_gpu_results_file(tmp_path):
    results = bench.load_results(write_json(tmp_path / "test-gpu.json", gpu_document()))
    lines = bench.render_tables(results).splitlines()
    assert lines[0] == ("*Measured 2025-01-02T03:04:05+00:00 on NVIDIA Test GPU 80GB (driver 570.86.15, "
                        "CUDA runtime 12.6, CuPy 13.3.0), commit `0123abc`, "
                        "with `python -m nnfs.bench --backend cupy --out book/data/test-gpu.json`.*")
    for row in ["| 1024 | float32 | 0.500 ms | 0.400 to 0.600 ms | 4295.0 |",
                "| 1024 | float64 | 4.000 ms | 3.000 to 5.000 ms | 536.9 |",
                "| 10,000,000 | 20.0 µs | 6000.0 | 4000.0 µs |",
                "| 256 | 60,000 | 1.25 | 48,000 |",
                "| 1024 | 0.250 ms | 8.6 | 1.2e-02 |",
                "| 100,000,000 | 20.000 ms | 20.0 | 8.000 ms | 50.0 | 25.000 ms | 16.0 |",
                "| tiled (numba) | 4,096 | 2749 | 12.5 % | 3.2e-07 |"]:
        assert row in lines, row
    text = "\n".join(lines)
    for heading in ("Host↔device copies", "TF32 tensor cores", "First call and launch overhead", "Our kernels"):
        assert heading in text, heading
    assert "123.4 ms" in text and "4.5 µs" in text  # the first call and the warm call
    assert "failed on this machine" not in text
    # Each table has a header row and an alignment row before its data.
    assert lines.index("| n | dtype | median | middle half | GFLOP/s |") + 2 == lines.index(
        "| 1024 | float32 | 0.500 ms | 0.400 to 0.600 ms | 4295.0 |")


def test_render_tables_from_a_cpu_results_file(tmp_path):
    results = bench.load_results(write_json(tmp_path / "cpu.json", cpu_document()))
    text = bench.render_tables(results)
    # an older CPU file without a commit still renders, and says so
    assert text.splitlines()[0] == ("*Measured 2025-01-02T03:04:05+00:00 on Test CPU 9000 (8 cores), NumPy 2.1.0, "
                                    "commit `not recorded`, with `python -m nnfs.bench --out cpu.json`.*")
    assert "| 1024 | float32 | 0.500 ms | 0.400 to 0.600 ms | 4295.0 |" in text
    assert "| 10,000,000 | 20.0 µs | 6000.0 |" in text.splitlines()
    for heading in ("Host↔device", "TF32", "First call", "Our kernels", "failed on this machine"):
        assert heading not in text, heading


def test_hand_made_documents_are_valid():
    bench.validate_results(gpu_document(), source="gpu")
    bench.validate_results(cpu_document(), source="cpu")


def assert_load_fails(path: Path, *fragments: str):
    with pytest.raises(ValueError) as info:
        bench.load_results(path)
    message = str(info.value)
    assert str(path) in message, message  # names the file
    for fragment in fragments:  # and the problem
        assert fragment in message, message
    return message


def test_load_rejects_a_truncated_file(tmp_path):
    text = json.dumps(gpu_document(), indent=1)
    path = tmp_path / "interrupted.json"
    path.write_text(text[: len(text) // 2])
    assert_load_fails(path, "not valid JSON", "interrupted")


def test_load_rejects_an_empty_file(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text("")
    assert_load_fails(path, "not valid JSON")


@pytest.mark.parametrize("schema", ["nnfs.bench/2", None, "other"])
def test_load_rejects_a_wrong_schema(tmp_path, schema):
    doc = gpu_document()
    doc["schema"] = schema
    assert_load_fails(write_json(tmp_path / "schema.json", doc), "schema", "nnfs.bench/1")


@pytest.mark.parametrize("doc", [[], "results", 3, None], ids=["list", "string", "number", "null"])
def test_load_rejects_json_that_is_not_a_document(tmp_path, doc):
    assert_load_fails(write_json(tmp_path / "odd.json", doc), "not an nnfs.bench results document")


@pytest.mark.parametrize("key", PROVENANCE_KEYS)
def test_load_rejects_a_missing_provenance_key(tmp_path, key):
    doc = gpu_document()
    del doc["provenance"][key]
    assert_load_fails(write_json(tmp_path / "prov.json", doc), "provenance", key)


@pytest.mark.parametrize("prov", [None, "somewhere", []], ids=["null", "string", "list"])
def test_load_rejects_a_provenance_that_is_not_a_mapping(tmp_path, prov):
    doc = gpu_document()
    doc["provenance"] = prov
    assert_load_fails(write_json(tmp_path / "prov.json", doc), "provenance")


@pytest.mark.parametrize("section", GPU_ONLY_SECTIONS)
def test_load_rejects_a_cupy_result_missing_a_gpu_section(tmp_path, section):
    doc = gpu_document()
    del doc["benchmarks"][section]
    assert_load_fails(write_json(tmp_path / "gpu.json", doc), repr(section), "missing or empty")


@pytest.mark.parametrize("section", GPU_ONLY_SECTIONS)
def test_a_cupy_result_may_lack_a_gpu_section_that_records_its_error(tmp_path, section):
    doc = gpu_document()
    del doc["benchmarks"][section]
    doc["errors"][section] = "CUDADriverError: CUDA_ERROR_OUT_OF_MEMORY"
    results = bench.load_results(write_json(tmp_path / "gpu.json", doc))
    text = bench.render_tables(results)
    assert f"*Section `{section}` failed on this machine: CUDADriverError: CUDA_ERROR_OUT_OF_MEMORY*" in text


def test_load_rejects_a_cupy_result_without_its_gpu(tmp_path):
    doc = gpu_document()
    del doc["provenance"]["gpu"]
    assert_load_fails(write_json(tmp_path / "nogpu.json", doc), "cupy", "GPU")


@pytest.mark.parametrize("benchmarks", [None, [], "x"], ids=["null", "list", "string"])
def test_load_rejects_missing_benchmarks(tmp_path, benchmarks):
    doc = gpu_document()
    doc["benchmarks"] = benchmarks
    assert_load_fails(write_json(tmp_path / "nobench.json", doc), "benchmarks")
    del doc["benchmarks"]
    assert_load_fails(write_json(tmp_path / "nobench.json", doc), "benchmarks")


@pytest.mark.parametrize("section", list(SECTIONS))
@pytest.mark.parametrize("how", ["missing", "empty", "null"])
def test_load_rejects_a_missing_or_empty_section(tmp_path, section, how):
    doc = cpu_document()
    if how == "missing":
        del doc["benchmarks"][section]
    else:
        doc["benchmarks"][section] = [] if how == "empty" else None
    assert_load_fails(write_json(tmp_path / "partial.json", doc), repr(section), "missing or empty")


@pytest.mark.parametrize("section, key", [(s, k) for s, keys in SECTIONS.items() for k in keys])
def test_load_rejects_a_row_missing_a_key(tmp_path, section, key):
    doc = gpu_document()
    rows = doc["benchmarks"][section]
    rows.append(copy.deepcopy(rows[0]))
    del rows[-1][key]
    index = len(rows) - 1
    assert_load_fails(write_json(tmp_path / "row.json", doc), f"{section}[{index}]", repr(key))


@pytest.mark.parametrize("row", [None, 3, "n dtype median_s q1_s q3_s gflops"], ids=["null", "number", "string"])
def test_load_rejects_a_row_that_is_not_an_object(tmp_path, row):
    """A malformed row is a malformed file: ValueError naming the file (load_results' contract), not a TypeError."""
    doc = gpu_document()
    doc["benchmarks"]["matmul"].append(row)
    assert_load_fails(write_json(tmp_path / "row.json", doc), "matmul[2]")


def test_write_results_refuses_an_invalid_document_and_writes_nothing(tmp_path):
    doc = gpu_document()
    del doc["benchmarks"]["mlp_epoch"]
    path = tmp_path / "never.json"
    with pytest.raises(ValueError, match="'mlp_epoch' is missing or empty"):
        bench.write_results(doc, path)
    assert not path.exists()


def test_validate_results_names_its_source():
    with pytest.raises(ValueError, match=r"^my-run: "):
        bench.validate_results({"schema": "nope"}, source="my-run")


# ---------------------------------------------------------------------------
# The GPU rungs of the chapter's speed ladders, read from a results file
# ---------------------------------------------------------------------------

FIXTURE = ROOT / "tests" / "data" / "gpu_results_fixture.json"  # synthetic, not a measurement


def test_gpu_rungs_from_the_synthetic_fixture_file():
    rungs = bench.gpu_rungs(bench.load_results(FIXTURE), source=str(FIXTURE))
    # the provenance the ladder prints: device, commit and date of the run
    assert (rungs["gpu"], rungs["commit"], rungs["date_utc"]) == (
        "Fixture GPU 1000 (synthetic, for tests only)", "f1x7ur3", "2026-01-02T03:04:05+00:00")
    # the largest float32 product (1024; the 2048 row is float64), and TF32 at the same size
    assert rungs["matmul"] == [
        {"name": "CuPy float32", "n": 1024, "median_s": 0.0005, "gflops": 2 * 1024**3 / 0.0005 / 1e9},
        {"name": "CuPy TF32", "n": 1024, "median_s": 0.00025, "gflops": 2 * 1024**3 / 0.00025 / 1e9}]
    assert rungs["missing"] == {}
    # the MLP epoch at batch 128 (the chapter's CPU rung), not 64 or 256
    assert rungs["mlp"] == {"name": "CuPy float32 (batch 128)", "batch_size": 128,
                            "examples_per_s": 60000 / 1.5}


def test_gpu_rungs_picks_the_batch_size_nearest_128_and_the_smaller_on_a_tie():
    doc = bench.load_results(FIXTURE)
    doc["benchmarks"]["mlp_epoch"] = [r for r in doc["benchmarks"]["mlp_epoch"] if r["batch_size"] != 128]
    assert bench.gpu_rungs(doc)["mlp"]["batch_size"] == 64     # 64 and 256 are not equally near: |64-128| < |256-128|
    doc["benchmarks"]["mlp_epoch"][0]["batch_size"] = 192      # now 192 and 256: 192 is nearer
    assert bench.gpu_rungs(doc)["mlp"]["batch_size"] == 192


def test_gpu_rungs_without_tf32_says_why():
    doc = bench.load_results(FIXTURE)
    del doc["benchmarks"]["matmul_tf32"]
    doc["errors"]["matmul_tf32"] = "RuntimeError: the TF32 child process failed"
    rungs = bench.gpu_rungs(doc)
    assert [r["name"] for r in rungs["matmul"]] == ["CuPy float32"]
    assert rungs["missing"] == {"CuPy TF32": "RuntimeError: the TF32 child process failed"}
    doc = bench.load_results(FIXTURE)
    doc["benchmarks"]["matmul_tf32"] = [r for r in doc["benchmarks"]["matmul_tf32"] if r["n"] != 1024]
    assert bench.gpu_rungs(doc)["missing"] == {"CuPy TF32": "the run has no TF32 product of size 1024"}


def test_gpu_rungs_rejects_a_cpu_document():
    with pytest.raises(ValueError, match="cpu.json: gpu_rungs needs a result of the 'cupy' backend") as info:
        bench.gpu_rungs(cpu_document(), source="cpu.json")
    assert raises_here(info)


def test_gpu_rungs_rejects_a_run_without_float32_products():
    doc = gpu_document()
    doc["benchmarks"]["matmul"] = [r for r in doc["benchmarks"]["matmul"] if r["dtype"] != "float32"]
    with pytest.raises(ValueError, match="no float32 row") as info:
        bench.gpu_rungs(doc, source="gpu.json")
    assert raises_here(info)


def test_gpu_rungs_rejects_a_cupy_document_without_a_commit():
    doc = gpu_document()
    del doc["provenance"]["commit"]
    with pytest.raises(ValueError, match=r"provenance is missing \['commit'\].*commit") as info:
        bench.gpu_rungs(doc, source="gpu.json")
    assert raises_here(info)


def test_provenance_records_this_checkouts_commit():
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if git.returncode != 0:
        pytest.skip("not a git checkout")
    assert bench.provenance("numpy")["commit"] == git.stdout.strip()


def test_provenance_commit_falls_back_to_the_environment_then_unknown(monkeypatch):
    def no_git(*args, **kwargs):
        raise OSError("no git here")

    monkeypatch.setattr(subprocess, "run", no_git)
    monkeypatch.setenv("NNFS_COMMIT", "e4v1r0n")
    assert bench.provenance("numpy")["commit"] == "e4v1r0n"
    monkeypatch.delenv("NNFS_COMMIT")
    assert bench.provenance("numpy")["commit"] == "unknown"


# ---------------------------------------------------------------------------
# Bad input: errors raised by nnfs.bench, naming what was expected
# ---------------------------------------------------------------------------

raises_here = raised_by_module("nnfs.bench")
bad_number = st.sampled_from([float("nan"), float("inf"), -float("inf"), -1.0, -1e-9])


@settings(max_examples=40)
@given(times=st.one_of(
    st.just([]),                                                   # empty
    st.lists(st.floats(0, 1), min_size=1, max_size=5).flatmap(   # a NaN, an infinity or a negative among them
        lambda ts: st.tuples(bad_number, st.integers(0, len(ts))).map(lambda b: ts[:b[1]] + [b[0]] + ts[b[1]:])),
    st.lists(st.lists(st.floats(0, 1), min_size=2, max_size=2), min_size=1, max_size=3),  # 2-D
    st.just(3.0),                                                  # 0-D
    st.lists(st.text(min_size=1, max_size=3), min_size=1, max_size=3),  # not numbers
    st.just([[1.0], [1.0, 2.0]]),                                  # ragged
))
def test_summarize_rejects_bad_timings_with_a_message_of_its_own(times):
    with pytest.raises(ValueError, match="1-D sequence of at least one finite, non-negative timing") as info:
        bench.summarize(times)
    assert raises_here(info)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(fn=42), TypeError, "fn must be callable; got int"),
    (dict(repeats=0), ValueError, "repeats must be an integer >= 1; got 0"),
    (dict(repeats=2.5), ValueError, "repeats must be an integer >= 1; got 2.5"),
    (dict(repeats=True), ValueError, "repeats must be an integer >= 1; got True"),
    (dict(warmup=-1), ValueError, "warmup must be an integer >= 0; got -1"),
    (dict(warmup=float("nan")), ValueError, "warmup must be an integer >= 0; got nan"),
])
def test_measure_rejects_bad_arguments_before_calling_anything(kwargs, error, message):
    calls = []
    args = {"fn": lambda: calls.append(1), **kwargs}
    with pytest.raises(error, match=message) as info:
        bench.measure(**args)
    assert raises_here(info) and calls == []


NUMERIC_KEYS = [(section, key) for section, keys in SECTIONS.items() for key in keys if key != "dtype"]


@settings(max_examples=40)
@given(where=st.sampled_from(NUMERIC_KEYS),
       value=st.one_of(bad_number, st.just(None), st.just("fast"), st.just(True), st.just([1.0])))
def test_validate_rejects_a_value_that_is_not_a_finite_non_negative_number(where, value):
    section, key = where
    doc = gpu_document()
    doc["benchmarks"][section][0][key] = value
    with pytest.raises(ValueError, match=rf"gpu.json: {section}\[0\]\['{key}'\] must be a finite number >= 0") as info:
        bench.validate_results(doc, source="gpu.json")
    assert raises_here(info)


@pytest.mark.parametrize("value", [None, 32, float("nan")])
def test_validate_rejects_a_dtype_that_is_not_a_string(value):
    doc = gpu_document()
    doc["benchmarks"]["matmul"][0]["dtype"] = value
    with pytest.raises(ValueError, match=r"matmul\[0\]\['dtype'\] must be a string") as info:
        bench.validate_results(doc, source="gpu.json")
    assert raises_here(info)


@pytest.mark.parametrize("fn", [bench.render_tables, bench.crossover_size, bench.gpu_rungs])
@pytest.mark.parametrize("doc", [{}, {"schema": "nnfs.bench/1"}, "not a document"], ids=["empty", "bare", "str"])
def test_readers_reject_invalid_documents_clearly(fn, doc):
    with pytest.raises(ValueError, match="nnfs.bench results document|provenance is missing") as info:
        fn(doc)
    assert raises_here(info)


def test_readers_reject_a_nan_in_a_results_document():
    doc = gpu_document()
    doc["benchmarks"]["elementwise"][0]["median_s"] = float("nan")
    for fn in (bench.render_tables, bench.crossover_size, bench.gpu_rungs):
        with pytest.raises(ValueError, match=r"elementwise\[0\]\['median_s'\] must be a finite number") as info:
            fn(doc)
        assert raises_here(info)


def test_build_conditions_and_provenance_name_the_chapters_executed_at_once(monkeypatch):
    monkeypatch.delenv("NNFS_BUILD_WORKERS", raising=False)
    assert bench.build_conditions() == "with no other chapter executing at the same time"
    assert bench.provenance("numpy")["build_workers"] == 1
    monkeypatch.setenv("NNFS_BUILD_WORKERS", "3")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert bench.build_conditions() == ("while 2 other chapter(s) executed at the same time, "
                                        "each with 1 BLAS thread(s)")
    assert bench.provenance("numpy")["build_workers"] == 3
