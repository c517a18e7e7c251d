#!/usr/bin/env bash
# Stop the single-node cluster started by start_local_cluster.sh (jobs are cancelled; state is kept).
set -u
log() { echo "[slurm-local] $*"; }
scancel --state=PENDING,RUNNING --full 2>/dev/null; scancel -u "$(id -un)" 2>/dev/null
for daemon in slurmd slurmctld slurmdbd; do
    if pgrep -x "$daemon" >/dev/null; then log "stopping $daemon"; pkill -x "$daemon"; fi
done
if pgrep -x mariadbd >/dev/null || pgrep -x mysqld >/dev/null; then log "stopping mariadb"; mysqladmin shutdown; fi
if pgrep -x munged >/dev/null; then log "stopping munged"; pkill -x munged; fi
for _ in $(seq 40); do pgrep -x 'slurmd|slurmctld|slurmdbd|mariadbd|munged' >/dev/null || exit 0; sleep 0.25; done
log "some daemons are still shutting down"
