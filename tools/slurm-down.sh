#!/usr/bin/env bash
# Stop the one-node SLURM started by tools/slurm-up.sh: exactly the daemons it started (their PIDs
# are in $PAWPIPE_SLURM_RUN), nothing else. Running it twice, or with nothing started, is harmless.
set -uo pipefail

RUN=${PAWPIPE_SLURM_RUN:-/run/pawpipe-slurm}
status=0
for name in slurmd slurmctld slurmdbd mariadbd munged; do   # clients before their servers
  file="$RUN/$name.pid"
  [ -s "$file" ] || continue
  pid=$(cat "$file")
  # A PID can be reused once its process is gone: only stop it if it is still that daemon.
  if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
    kill -TERM "$pid"
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "slurm-down: $name (PID $pid) ignored SIGTERM for 30 s; killing it" >&2
      kill -KILL "$pid"
      status=1
    fi
    echo "slurm-down: stopped $name (PID $pid)"
  fi
  rm -f "$file"
done
exit $status
