#!/usr/bin/env bash
# A one-node SLURM on this machine, for trying profiles/slurm and for the tests marked `slurm`.
#   sudo bash tools/slurm-up.sh        # installs Debian's packages if missing, starts the daemons
#   sudo bash tools/slurm-down.sh      # stops exactly the daemons this script started
# The node gets this machine's cores (nproc) and 90% of its memory. Job accounting goes through
# slurmdbd + MariaDB, so `sacct` (how profiles/slurm learns job states) works as on a real cluster.
# No systemd, no cgroups: jobs run as the submitting user on this machine, in its environment.
# Daemons already running are used as they are and left alone by slurm-down.sh.
set -euo pipefail

RUN=${PAWPIPE_SLURM_RUN:-/run/pawpipe-slurm}          # PID files of the daemons started here
SPOOL=${PAWPIPE_SLURM_SPOOL:-/var/spool/pawpipe-slurm} # controller state, slurmd spool, logs
CLUSTER=pawpipe
PARTITION=${PAWPIPE_SLURM_PARTITION:-debug}
PACKAGES="slurm-wlm slurm-client munge slurmdbd mariadb-server"

die() { echo "slurm-up: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (it installs packages and starts system daemons)"

# Whether a daemon with this exact command name is running; prints its PID.
running() { pgrep -x "$1" | head -n1; }
# Record a daemon this script started, so that slurm-down.sh stops it and nothing else.
record() { echo "$2" >"$RUN/$1.pid"; }
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local seconds=$1 what=$2; shift 2
  for _ in $(seq "$seconds"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  die "$what did not come up within ${seconds}s; logs in $SPOOL/log"
}

if ! dpkg -s $PACKAGES >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q $PACKAGES || { apt-get update -q && apt-get install -y -q $PACKAGES; }
fi

mkdir -p "$RUN" "$SPOOL"/{ctld,slurmd,log} /etc/slurm /run/munge /run/mysqld
chown slurm:slurm "$SPOOL/ctld" "$SPOOL/log"
HOST=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)

# munge: authentication between the SLURM commands and daemons.
if [ -z "$(running munged)" ]; then
  [ -s /etc/munge/munge.key ] || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
  chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge
  chmod 0700 /etc/munge /var/lib/munge /var/log/munge
  chmod 0400 /etc/munge/munge.key
  rm -f /run/munge/munged.pid   # a stale one would name a process that is gone
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
  wait_for 10 munged test -s /run/munge/munged.pid
  record munged "$(cat /run/munge/munged.pid)"
fi
munge -n | unmunge >/dev/null || die "munge does not authenticate (see /var/log/munge/munged.log)"

# MariaDB: the accounting database behind slurmdbd.
if [ -z "$(running mariadbd)" ]; then
  chown mysql:mysql /run/mysqld
  [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  setsid /usr/sbin/mariadbd --user=mysql --pid-file=/run/mysqld/mysqld.pid \
    --log-error="$SPOOL/log/mariadb.log" </dev/null >/dev/null 2>&1 &
  record mariadbd $!
fi
wait_for 60 MariaDB mysqladmin ping
mysql -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
          CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'pawpipe';
          GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"

# The configs this script writes replace the machine's own (kept in $RUN, put back by slurm-down.sh):
# a slurm.conf left naming a controller that is gone would make every SLURM client, and snakemake's
# SLURM plugin at each start, wait ~10 s for it.
for conf in slurm.conf slurmdbd.conf; do
  if [ ! -e "$RUN/$conf.orig" ] && [ ! -e "$RUN/$conf.none" ]; then
    if [ -e "/etc/slurm/$conf" ]; then cp -p "/etc/slurm/$conf" "$RUN/$conf.orig"; else touch "$RUN/$conf.none"; fi
  fi
done

cat >/etc/slurm/slurmdbd.conf <<CONF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
PidFile=$RUN/slurmdbd.daemon.pid
LogFile=$SPOOL/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=pawpipe
StorageLoc=slurm_acct_db
CONF
chown slurm:slurm /etc/slurm/slurmdbd.conf
chmod 600 /etc/slurm/slurmdbd.conf

# The scheduler polls job states often (profiles/slurm checks every few seconds), so the
# controller keeps finished jobs visible to squeue for MinJobAge seconds as well.
cat >/etc/slurm/slurm.conf <<CONF
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/slurmd
SlurmctldPidFile=$RUN/slurmctld.daemon.pid
SlurmdPidFile=$RUN/slurmd.daemon.pid
SlurmctldLogFile=$SPOOL/log/slurmctld.log
SlurmdLogFile=$SPOOL/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
MinJobAge=300
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF

if [ -z "$(running slurmdbd)" ]; then
  rm -f "$RUN/slurmdbd.daemon.pid"
  /usr/sbin/slurmdbd   # daemonises; writes its PID file
  wait_for 10 slurmdbd test -s "$RUN/slurmdbd.daemon.pid"
  record slurmdbd "$(cat "$RUN/slurmdbd.daemon.pid")"
fi
wait_for 30 slurmdbd sacctmgr -n list cluster
sacctmgr -i add cluster "$CLUSTER" >/dev/null 2>&1 || true
sacctmgr -i add account pawpipe Cluster="$CLUSTER" Description=pawpipe Organization=pawpipe >/dev/null 2>&1 || true
sacctmgr -i add user "${SUDO_USER:-$(id -un)}" Account=pawpipe DefaultAccount=pawpipe >/dev/null 2>&1 || true

if [ -z "$(running slurmctld)" ]; then
  rm -f "$RUN/slurmctld.daemon.pid"
  /usr/sbin/slurmctld
  wait_for 10 slurmctld test -s "$RUN/slurmctld.daemon.pid"
  record slurmctld "$(cat "$RUN/slurmctld.daemon.pid")"
else
  scontrol reconfigure
fi
if [ -z "$(running slurmd)" ]; then
  rm -f "$RUN/slurmd.daemon.pid"
  /usr/sbin/slurmd
  wait_for 10 slurmd test -s "$RUN/slurmd.daemon.pid"
  record slurmd "$(cat "$RUN/slurmd.daemon.pid")"
fi

node_idle() { [ "$(sinfo -h -n "$HOST" -o %T 2>/dev/null)" = idle ]; }
for _ in $(seq 60); do
  node_idle && break
  scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
  sleep 1
done
node_idle || die "node $HOST is not idle: $(sinfo -h -N -o '%T %E' 2>&1); logs in $SPOOL/log"
sinfo -N -o '%P %N %T %c %m %G'
