#!/usr/bin/env bash
# Every GPU check in one run of at most ~8 minutes (GPU machines are lent for minutes): verify,
# then on a generated 400-clip dataset (1-10 s) at --quality medium, batch 16 and 32: steps/s of
# plain piper (fp32, TF32 off, piper's own step) and of the project's step, median GPU
# utilisation (nvidia-smi sampled every 0.5 s in the background) and the validation mel loss
# after the same number of steps. Prints one table and the ratios; logs go to $OUT.
#
#   pixi run -e cuda12 gpu-check                 # or: PY=python3 OUT=/tmp/gc bash benchmarks/gpu_check.sh
#   SMOKE=1 CLIPS=8 VAL_CLIPS=2 BATCHES=2 STEPS=2 WARMUP=1 QUALITY=x_low MAX_SECONDS=2 SEGMENT=4096 \
#       bash benchmarks/gpu_check.sh             # CPU smoke run: no GPU, no nvidia-smi, tiny sizes
#
# On a lent machine without pixi: install the wheels into .site and export PYTHONPATH=$PWD/.site:$PWD
# first (shared/guide/gpu.md), then run this with OUT=$OUT.
#
# Exit 0 when verify passed and every timing ran; 1 otherwise. Figures are reported, not judged.
set -u -o pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$(command -v python3 || command -v python)}
OUT=${OUT:-$(mktemp -d)}
SMOKE=${SMOKE:-0}
CLIPS=${CLIPS:-400}
VAL_CLIPS=${VAL_CLIPS:-16}
QUALITY=${QUALITY:-medium}
BATCHES=${BATCHES:-16 32}
STEPS=${STEPS:-40}
WARMUP=${WARMUP:-5}
MAX_SECONDS=${MAX_SECONDS:-10}
SEGMENT=${SEGMENT:-8192}
RUN_TIMEOUT=${RUN_TIMEOUT:-90}   # seconds per timed run; 4 runs + verify + data stay under 8 min
BUDGET=${BUDGET:-380}             # no new run starts after this many seconds
mkdir -p "$OUT"
# ~600 MB of clips for 400 x 1-10 s at 22050 Hz: kept out of $OUT, which a lent machine sends back.
DATA=${DATA:-${TMPDIR:-/tmp}/coaxial-gpu-check/clips-$QUALITY-$CLIPS.pt}
status=0
gpu=1
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    gpu=0
    if [ "$SMOKE" != 1 ]; then
        echo "gpu_check: no NVIDIA GPU visible (nvidia-smi); nothing to measure (SMOKE=1 runs it on the CPU)" >&2
        exit 1
    fi
    echo "gpu_check: smoke run on the CPU (no nvidia-smi: utilisation not sampled)"
fi
if [ $gpu = 1 ]; then
    nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt"
fi
timeout 60 "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "arch", torch.cuda.get_arch_list())'

echo "== verify"
verify_args=()
[ $gpu = 1 ] || verify_args=(--quick)
if ! timeout 150 "$PY" -m tasks.verify ${verify_args[@]+"${verify_args[@]}"} >"$OUT/verify.txt" 2>&1; then
    echo "gpu_check: verify failed or timed out; its output:" >&2
    status=1
fi
tail -n 20 "$OUT/verify.txt"

echo "== data: $CLIPS generated clips of 1-$MAX_SECONDS s ($QUALITY)"
common=(--quality "$QUALITY" --clips "$CLIPS" --val-clips "$VAL_CLIPS" --max-seconds "$MAX_SECONDS"
        --segment-size "$SEGMENT" --data "$DATA")
# Built once (piper's espeak bridge phonemises); every timed run then loads the same clips.
if ! timeout 240 "$PY" -m benchmarks.bench_train_step --mode plain "${common[@]}" --data-only \
        >"$OUT/data.log" 2>&1; then
    echo "gpu_check: generating the data failed; last lines:" >&2
    tail -n 20 "$OUT/data.log" >&2
    exit 1
fi
tail -n 1 "$OUT/data.log"

for batch in $BATCHES; do
    for mode in plain patched; do
        name=$mode-b$batch
        if [ "$SECONDS" -gt "$BUDGET" ]; then
            echo "gpu_check: $name skipped: ${SECONDS}s used of the ${BUDGET}s budget" >&2
            status=1
            continue
        fi
        echo "== $name: $WARMUP warm-up + $STEPS timed batches"
        sampler=
        if [ $gpu = 1 ]; then
            nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits -lms 500 >"$OUT/smi-$name.csv" &
            sampler=$!
        fi
        # torch.profiler over the last warm-up batches (not the timed ones): where the host waits.
        if ! timeout "$RUN_TIMEOUT" "$PY" -m benchmarks.bench_train_step --mode "$mode" "${common[@]}" \
                --batch-size "$batch" --steps "$STEPS" --warmup "$WARMUP" --profile "$OUT/profile-$name.txt" \
                >"$OUT/$name.log" 2>&1; then
            echo "gpu_check: $name failed or timed out; last lines of its log:" >&2
            tail -n 15 "$OUT/$name.log" >&2
            status=1
        fi
        [ -n "$sampler" ] && kill "$sampler" 2>/dev/null && wait "$sampler" 2>/dev/null
        grep '^{' "$OUT/$name.log" | tail -n 1 >"$OUT/$name.json"
    done
done

timeout 60 "$PY" - "$OUT" $BATCHES <<'PYEOF' | tee "$OUT/table.txt" || status=1
import json, statistics, sys
from pathlib import Path
out, batches = Path(sys.argv[1]), sys.argv[2:]

def result(name):
    text = (out / f"{name}.json").read_text().strip() if (out / f"{name}.json").is_file() else ""
    row = json.loads(text) if text else {}
    smi = out / f"smi-{name}.csv"
    samples = [int(v) for v in smi.read_text().split() if v.isdigit()] if smi.is_file() else []
    row["gpu_util"] = statistics.median(samples) if samples else None
    return row

def cell(value, fmt):
    return format(value, fmt) if isinstance(value, (int, float)) else "-"

print(f"{'batch':>5} {'mode':8} {'precision':10} {'steps/s':>8} {'median s':>9} {'max s':>7} "
      f"{'GPU util %':>10} {'val mel':>8}")
rows = {}
for batch in batches:
    for mode in ("plain", "patched"):
        r = rows[(batch, mode)] = result(f"{mode}-b{batch}")
        print(f"{batch:>5} {mode:8} {r.get('precision', '-'):10} {cell(r.get('steps_per_s'), '8.3f')} "
              f"{cell(r.get('median_batch_s'), '9.3f')} {cell(r.get('max_batch_s'), '7.2f')} "
              f"{cell(r.get('gpu_util'), '10.0f')} {cell(r.get('val_mel'), '8.4f')}")
device = next((r["device"] for r in rows.values() if r.get("device")), "?")
ok = True
for batch in batches:
    plain, patched = rows[(batch, "plain")], rows[(batch, "patched")]
    if not plain.get("steps_per_s") or not patched.get("steps_per_s"):
        print(f"batch {batch}: no ratio (a run is missing)")
        ok = False
        continue
    mel = (patched["val_mel"] / plain["val_mel"] - 1) * 100 if plain.get("val_mel") else float("nan")
    for mode in ("plain", "patched"):
        prof = out / f"profile-{mode}-b{batch}.txt"
        if prof.is_file():
            print(f"batch {batch} {mode} profile: {prof.read_text().splitlines()[0]}")
    print(f"batch {batch}: project/plain steps/s {patched['steps_per_s'] / plain['steps_per_s']:.2f}x, "
          f"val mel {mel:+.1f} % after {patched['warmup'] + patched['steps']} batches, on {device}")
sys.exit(0 if ok else 1)
PYEOF
echo "gpu_check: logs in $OUT (${SECONDS}s)"
# One archive as well: a lent machine sends back only a few files.
tar -czf "$OUT.tgz" -C "$(dirname "$OUT")" "$(basename "$OUT")" 2>/dev/null && mv "$OUT.tgz" "$OUT/logs.tgz"
exit $status
