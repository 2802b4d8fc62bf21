#!/usr/bin/env bash
# Every GPU check in one run (GPU machines are lent for minutes): verify, then training speed
# with the coaxial patches vs plain piper.train defaults (fp32, TF32 off), and their ratio.
#
#   pixi run -e cuda12 bash benchmarks/gpu_check.sh            # or: PY=.venv/bin/python bash benchmarks/gpu_check.sh
#   STEPS=30 BATCH=16 bash benchmarks/gpu_check.sh
#
# Exit 0 when verify passes and both timings ran; 1 otherwise. Prints figures only; the speed
# ratio is reported, not judged.
set -u -o pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
STEPS=${STEPS:-20}
WARMUP=${WARMUP:-3}
BATCH=${BATCH:-16}
OUT=${OUT:-$(mktemp -d)}
status=0

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "gpu_check: no NVIDIA GPU visible (nvidia-smi); nothing to measure" >&2
    exit 1
fi
nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "arch", torch.cuda.get_arch_list())'

echo "== verify (full: includes one training step on the GPU)"
if ! "$PY" -m tasks.verify | tee "$OUT/verify.txt"; then
    echo "gpu_check: verify failed (see remedies above)" >&2
    status=1
fi
"$PY" -m tasks.verify --json --quick >"$OUT/verify.json" 2>/dev/null || true

for mode in plain patched; do
    echo "== $mode: $WARMUP warm-up + $STEPS timed batches, batch size $BATCH"
    if ! "$PY" -m benchmarks.bench_train_step --mode "$mode" --steps "$STEPS" --warmup "$WARMUP" \
            --batch-size "$BATCH" 2>"$OUT/$mode.log" | tail -n 1 >"$OUT/$mode.json"; then
        echo "gpu_check: $mode run failed; last lines of its log:" >&2
        tail -n 20 "$OUT/$mode.log" >&2
        status=1
    fi
    cat "$OUT/$mode.json"
done

"$PY" - "$OUT/plain.json" "$OUT/patched.json" <<'PYEOF' || status=1
import json, sys
plain, patched = (json.load(open(p)) for p in sys.argv[1:3])
ratio = plain["median_step_s"] / patched["median_step_s"]
print(f"plain   {plain['precision']:>10}: {plain['median_step_s'] * 1000:8.1f} ms/batch")
print(f"patched {patched['precision']:>10}: {patched['median_step_s'] * 1000:8.1f} ms/batch")
print(f"speed-up patched vs plain: {ratio:.2f}x on {patched['device']}")
PYEOF
echo "gpu_check: logs in $OUT"
exit $status
