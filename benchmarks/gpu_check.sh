#!/usr/bin/env bash
# The one GPU command: the GPU-marked tests on the CuPy backend, then the benchmark suite.
#   benchmarks/gpu_check.sh [RESULTS_DIR]       (default: $OUT if set, else book/data)
#
# Runs as it is on a machine with an NVIDIA GPU and no network: nothing is installed.
# It needs python3 with numpy, CuPy (any CUDA major version: cupy-cuda12x from our
# `gpu` extra, or cupy-cuda13x), numba and numba-cuda, pytest and hypothesis; nnfs
# itself is imported from this checkout through PYTHONPATH, not pip.  Fashion-MNIST
# is read from $NNFS_DATA (carry the folder with the checkout) when it is set.
# The device machine's copy has no .git: pass the commit in, as in
#   NNFS_COMMIT=$(git rev-parse HEAD) ... (expanded here, before the command is sent)
# so that the results file records which code it measured.
#
# Writes at most three files into RESULTS_DIR: <gpu-name>.json, gpu-tests.log and
# gpu-check.log (this script's own output).  The whole command is budgeted for
# 6 minutes (tests 100 s, benchmarks 230 s, set-up and slack the rest), so that a
# rerun fits in a 15-minute device lease; it prints as it goes.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-book/data}}
py=${PYTHON:-python3}
mkdir -p "$out"
exec > >(tee "$out/gpu-check.log") 2>&1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# numba warns about small grids on a real GPU; the tests use tiny shapes on purpose.
export NNFS_BACKEND=cupy PYTHONUNBUFFERED=1 NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS=0
export NNFS_COMMIT=${NNFS_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
echo "== $(date -u +%FT%TZ) commit $NNFS_COMMIT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
"$py" - <<'PY'
import sys, numpy, cupy
print("python", sys.version.split()[0], "numpy", numpy.__version__, "cupy", cupy.__version__,
      "CUDA runtime", cupy.cuda.runtime.runtimeGetVersion())
import nnfs
print("nnfs from", nnfs.__file__)
PY
# A failing GPU test must not stop the benchmark from running: the log keeps the verdict.
echo "== GPU tests (at most 100 s)"
timeout 100 "$py" -m pytest -q -m gpu -p no:cacheprovider 2>&1 | tee "$out/gpu-tests.log" \
    || echo "GPU tests failed or timed out: see $out/gpu-tests.log"
gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1 | tr -c 'A-Za-z0-9.\n-' '_')
echo "== benchmark suite (at most 230 s)"
timeout 230 "$py" -m nnfs.bench --backend cupy --out "$out/${gpu_name}.json"
echo "results: $out/${gpu_name}.json"
