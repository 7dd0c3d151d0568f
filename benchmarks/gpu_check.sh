#!/usr/bin/env bash
# The one GPU command: the GPU-marked tests on the CuPy backend, then the benchmark suite.
#   benchmarks/gpu_check.sh [RESULTS_DIR]       (default: book/data)
# Needs a Python environment with `pip install -e ".[gpu,test]"` (CuPy for CUDA 12, numba) and
# an NVIDIA GPU. Writes RESULTS_DIR/<gpu-name>.json and RESULTS_DIR/gpu-tests.log.
# Budgeted for under 8 minutes on an NVIDIA H200.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-book/data}
py=${PYTHON:-python3}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
# numba warns about small grids on a real GPU; the tests use tiny shapes on purpose.
export NNFS_BACKEND=cupy PYTHONUNBUFFERED=1 NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS=0
# A failing GPU test must not stop the benchmark from running: the log keeps the verdict.
timeout 150 "$py" -m pytest -q -m gpu -p no:cacheprovider 2>&1 | tee "$out/gpu-tests.log" \
    || echo "GPU tests failed or timed out: see $out/gpu-tests.log"
gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1 | tr -c 'A-Za-z0-9.\n-' '_')
timeout 270 "$py" -m nnfs.bench --backend cupy --out "$out/${gpu_name}.json"
echo "results: $out/${gpu_name}.json"
