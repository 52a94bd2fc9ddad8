#!/usr/bin/env bash
# The demo run twice on this machine, in fresh working directories: locally (snakemake --cores all)
# and through profiles/slurm on the cluster that sinfo reaches (e.g. tools/slurm-up.sh). Prints both
# wall times, their ratio and whether the CV is the same.
#   bash tools/slurm-vs-local.sh [extra snakemake arguments, e.g. --configfile my.yaml]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/pawpipe-slurm-vs-local.XXXXXX)
run() {  # run NAME ARGS...: the whole workflow in $work/NAME; prints its wall time in seconds
  local dir="$work/$1"; shift
  mkdir -p "$dir/config" && cp "$repo/config/config.yaml" "$dir/config/"
  local start=$SECONDS
  python -m snakemake -s "$repo/Snakefile" -d "$dir" "$@" >"$dir/snakemake.out" 2>&1 \
    || { echo "snakemake $* failed; see $dir/snakemake.out" >&2; exit 1; }
  echo $((SECONDS - start))
}
local_s=$(run local --cores all "$@")
slurm_s=$(run slurm --profile "$repo/profiles/slurm" "$@")
python - "$work" "$local_s" "$slurm_s" <<'PY'
import json, sys
from pathlib import Path
work, local_s, slurm_s = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
cv = [json.loads(next((work / name / "models").glob("*/cv.json")).read_text())["scores"] for name in ("local", "slurm")]
print(f"local: {local_s} s   slurm: {slurm_s} s   slurm/local: {slurm_s / local_s:.2f}x")
print(f"CV {'identical' if cv[0] == cv[1] else 'DIFFERENT'}: blend RMSE {cv[0]['blend']:.4f} local, {cv[1]['blend']:.4f} slurm")
print(f"runs kept in {work}")
PY
