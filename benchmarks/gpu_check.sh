#!/usr/bin/env bash
# One command for a lent GPU (issue #23): four checks in order within a time budget.
#
#   bash benchmarks/gpu_check.sh                              # on the GPU machine (cuda, full scale)
#   bash benchmarks/gpu_check.sh --device cpu --scale test    # plumbing dry run, a minute or two
#
# Parts (each under `timeout` with its own cap; a part whose estimate does not fit in what is left
# of --budget is skipped and reported as such; every part writes JSON under $OUT):
#   1. BASE pretraining through the real loader (FLAC files on local disk -> build_audio_data ->
#      BatchStream workers -> step), ours vs stock in one run, bf16; variants: compiled step, CUDA
#      graphs (mode="reduce-overhead"), compiled AdamW step; audio-s/s, MFU (FlopCounterMode
#      against 790 TFLOP/s), peak memory. Goal >= 5,000 audio-s/s.       -> $OUT/part1_base.json
#   2. LARGE-LV60, 4 x 20 s, same loader, stock vs part 1's best variant. Goal >= 1,500.
#                                                                           -> $OUT/part2_large.json
#   3. `wav2vec-hf demo --device cuda --scale small` end to end (cpu dry run: --scale test); its
#      folder is $WORK/demo-SCALE (not under $OUT: only 8 files come back from there); claims.md and
#      claims.json are copied to $OUT.                                      -> $OUT/part3_demo.json
#   4. BASE CTC inference in bf16 over the files + the package's LM beam search in a process pool
#      on every core: end-to-end transcription audio-s/s.                   -> $OUT/part4_ctc.json
# Then one summary table on stdout and $OUT/summary.json; the whole output is also in
# $OUT/gpu_check.log. That makes 8 files at most under $OUT (the device tool returns no more).
#
# Options: --device cuda|cpu (default cuda), --scale full|test (default: full on cuda, test on
# cpu), --budget SECONDS (default 540), --parts 1,2,3,4, --demo-scale test|tiny|small|base,
# --work-dir DIR (default /tmp/wav2vec_hf_gpu_check: audio files, demo folder), --no-wheels.
# Environment: OUT (default ./gpu_check_out), PYTHON (default .venv/bin/python if present, else
# python3), SITE (where carried wheels are installed, default /tmp/wav2vec_hf_site).
#
# Python packages: the package runs from src/ (PYTHONPATH, no install). Wheels found in .whl/
# (benchmarks/fetch_gpu_wheels.sh fetches benchmarks/gpu_wheels.txt there; name .whl in the device
# tool's carry) are installed with --target $SITE when the interpreter is Python 3.12.
set -uo pipefail

usage() { sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; }

DEVICE=cuda
SCALE=""
BUDGET=540
PARTS=1,2,3,4
WORK=""
DEMO_SCALE=""
NO_WHEELS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --scale) SCALE=$2; shift 2 ;;
    --budget) BUDGET=$2; shift 2 ;;
    --parts) PARTS=$2; shift 2 ;;
    --work-dir) WORK=$2; shift 2 ;;
    --demo-scale) DEMO_SCALE=$2; shift 2 ;;
    --no-wheels) NO_WHEELS=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "gpu_check.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
if [ -z "$SCALE" ]; then
  if [ "$DEVICE" = cuda ]; then SCALE=full; else SCALE=test; fi
fi
case "$SCALE" in full | test) ;; *) echo "gpu_check.sh: --scale full or test" >&2; exit 2 ;; esac

SECONDS=0
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
OUT=${OUT:-$ROOT/gpu_check_out}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
WORK=${WORK:-/tmp/wav2vec_hf_gpu_check}
mkdir -p "$WORK" && WORK=$(cd "$WORK" && pwd)
STATUS=$WORK/status.tsv
ENV_JSON=$WORK/env.json
AUDIO=$WORK/audio
: >"$STATUS"
rm -f "$OUT"/part*.json "$OUT"/claims.md "$OUT"/claims.json "$OUT"/summary.json
exec > >(tee "$OUT/gpu_check.log") 2>&1
TEE_PID=$!

if [ -n "${PYTHON:-}" ]; then
  PY=$PYTHON
elif [ -x "$ROOT/.venv/bin/python" ]; then
  PY=$ROOT/.venv/bin/python
else
  PY=python3
fi
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1 MPLBACKEND=Agg

RESERVE=10 # seconds kept for the summary
if [ "$SCALE" = full ]; then
  FILES=1024 FILE_SECONDS=20
  P1_ARGS=(--preset base --goal 5000)
  P1_EST=150 P1_CAP=300
  P2_ARGS=(--preset large-lv60 --goal 1500)
  P2_EST=150 P2_CAP=220
  DEMO_SCALE=${DEMO_SCALE:-small}
  DEMO_ARGS=()
  P3_EST=150
  P4_ARGS=(--preset base --files 512)
  P4_EST=60 P4_CAP=120
else
  FILES=24 FILE_SECONDS=3
  P1_ARGS=(--preset tiny --steps 3 --warmup 1 --num-workers 1)
  P1_EST=20 P1_CAP=240
  P2_ARGS=(--preset small --batch-size 2 --num-samples 32000 --steps 2 --warmup 1 --num-workers 1)
  P2_EST=20 P2_CAP=180
  DEMO_SCALE=${DEMO_SCALE:-test}
  DEMO_ARGS=(--no-claim-check) # the test scale's numbers mean nothing
  P3_EST=60
  P4_ARGS=(--preset tiny --files 8 --batch-size 2)
  P4_EST=15 P4_CAP=120
fi
DATA_ARGS=(--data-dir "$AUDIO" --files "$FILES" --file-seconds "$FILE_SECONDS")

record() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$STATUS"; }
wanted() { [[ ",$PARTS," == *",${1#part},"* ]]; }
left() { echo $((BUDGET - SECONDS - RESERVE)); }

# run_part NAME ESTIMATE CAP COMMAND...: CAP 0 means all that is left. Sets RAN, RC, TOOK.
run_part() {
  local name=$1 estimate=$2 cap=$3
  shift 3
  RAN=0 RC="" TOOK=0
  if ! wanted "$name"; then
    record "$name" skipped 0 "" "not in --parts $PARTS"
    return
  fi
  local remaining
  remaining=$(left)
  if ((remaining < estimate)); then
    record "$name" skipped 0 "" "needs ~${estimate} s, ${remaining} s of the ${BUDGET} s budget left"
    echo "=== $name skipped: needs ~${estimate} s, ${remaining} s left ==="
    return
  fi
  if ((cap == 0 || cap > remaining)); then cap=$remaining; fi
  echo "=== $name (cap ${cap} s; ${remaining} s of the budget left; t=${SECONDS} s) ==="
  local start=$SECONDS
  timeout --kill-after=15 "$cap" "$@"
  RC=$?
  TOOK=$((SECONDS - start))
  RAN=1
  local status=ok reason=""
  if ((RC == 124 || RC == 137)); then
    status=timeout reason="stopped at its ${cap} s cap"
  elif ((RC != 0)); then
    status=failed reason="exit ${RC}, see gpu_check.log"
  fi
  record "$name" "$status" "$TOOK" "$RC" "$reason"
  echo "=== $name: $status after ${TOOK} s ==="
}

echo "gpu_check: device $DEVICE, scale $SCALE, budget ${BUDGET} s, parts $PARTS; OUT=$OUT WORK=$WORK"

# --- setup: carried wheels, then what imports (recorded in summary.json) ----------------------
SITE_PATH=""
if ((NO_WHEELS == 0)) && compgen -G "$ROOT/.whl/*.whl" >/dev/null; then
  if "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))'; then
    SITE=${SITE:-/tmp/wav2vec_hf_site}
    if "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target "$SITE" "$ROOT"/.whl/*.whl; then
      SITE_PATH=$SITE
      echo "setup: installed $(ls "$ROOT"/.whl/*.whl | wc -l) wheels into $SITE"
    else
      echo "setup: installing the wheels of .whl failed (parts that need them will fail)"
    fi
  else
    echo "setup: .whl holds wheels for Python 3.12; $("$PY" -V 2>&1) runs here: not installed"
  fi
fi
export PYTHONPATH="$ROOT/src:$ROOT/benchmarks${SITE_PATH:+:$SITE_PATH}${PYTHONPATH:+:$PYTHONPATH}"
"$PY" benchmarks/gpu_check_report.py env "$ENV_JSON"
record setup ok "$SECONDS" 0 ""

# --- part 1: BASE through the real loader ------------------------------------------------------
run_part part1 "$P1_EST" "$P1_CAP" "$PY" benchmarks/pretrain_loader_throughput.py --device "$DEVICE" \
  "${P1_ARGS[@]}" "${DATA_ARGS[@]}" --json "$OUT/part1_base.json" \
  --time-budget "$(($(left) < P1_CAP ? $(left) - 20 : P1_CAP - 20))"

# --- part 2: LARGE-LV60, 4 x 20 s, stock vs part 1's best variant ------------------------------
BEST=$("$PY" benchmarks/gpu_check_report.py best-variant "$OUT/part1_base.json")
run_part part2 "$P2_EST" "$P2_CAP" "$PY" benchmarks/pretrain_loader_throughput.py --device "$DEVICE" \
  "${P2_ARGS[@]}" "${DATA_ARGS[@]}" --variants "flops,stock,$BEST" --json "$OUT/part2_large.json" \
  --time-budget "$(($(left) < P2_CAP ? $(left) - 20 : P2_CAP - 20))"

# --- part 3: the demo end to end (all that is left, less part 4's estimate when it fits) -------
P3_CAP=0
if wanted part4 && (($(left) - P4_EST >= P3_EST)); then P3_CAP=$(($(left) - P4_EST)); fi
DEMO_DIR=$WORK/demo-$DEMO_SCALE
run_part part3 "$P3_EST" "$P3_CAP" "$PY" -m wav2vec_hf.cli demo --device "$DEVICE" --scale "$DEMO_SCALE" \
  --output-dir "$DEMO_DIR" "${DEMO_ARGS[@]}"
if ((RAN)); then
  "$PY" benchmarks/gpu_check_report.py demo --demo-dir "$DEMO_DIR" --out "$OUT" --seconds "$TOOK" \
    --rc "$RC" --scale "$DEMO_SCALE"
fi

# --- part 4: CTC inference + LM decoding ----------------------------------------------------
run_part part4 "$P4_EST" "$P4_CAP" "$PY" benchmarks/ctc_transcribe_throughput.py --device "$DEVICE" \
  "${P4_ARGS[@]}" --data-dir "$AUDIO" --folder-files "$FILES" --file-seconds "$FILE_SECONDS" \
  --json "$OUT/part4_ctc.json"

# --- summary -----------------------------------------------------------------------------------
META=$(printf '{"device_option": "%s", "scale": "%s", "demo_scale": "%s", "parts_requested": "%s"}' \
  "$DEVICE" "$SCALE" "$DEMO_SCALE" "$PARTS")
"$PY" benchmarks/gpu_check_report.py summary --out "$OUT" --status "$STATUS" --env "$ENV_JSON" \
  --budget "$BUDGET" --used "$SECONDS" --meta "$META"
FAILED=$(cut -f2 "$STATUS" | grep -c -E '^(failed|timeout)$')
exec >&- 2>&-
wait "$TEE_PID" 2>/dev/null
exit $((FAILED > 0 ? 1 : 0))
