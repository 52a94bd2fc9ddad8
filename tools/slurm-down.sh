#!/usr/bin/env bash
# Stop the one-node SLURM started by tools/slurm-up.sh: exactly the daemons it started (their PIDs
# are in $PAWPIPE_SLURM_RUN), nothing else, and put back the SLURM configs it replaced. Running it
# twice, or with nothing started, is harmless.
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
# The machine's own SLURM configs back as they were before slurm-up.sh (none, or the saved copy).
for conf in slurm.conf slurmdbd.conf; do
  if [ -e "$RUN/$conf.orig" ]; then
    mv -f "$RUN/$conf.orig" "/etc/slurm/$conf" && echo "slurm-down: restored /etc/slurm/$conf"
  elif [ -e "$RUN/$conf.none" ]; then
    rm -f "/etc/slurm/$conf" "$RUN/$conf.none" && echo "slurm-down: removed /etc/slurm/$conf (there was none)"
  fi
done
exit $status
