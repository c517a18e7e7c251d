#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine, from Debian's packages, with accounting (slurmdbd on
# MariaDB) so that sacct answers and submitit polls quietly. Idempotent: running daemons are left alone.
# Needs root on Debian/Ubuntu. Waits until `sinfo` shows the node idle. Stop it with stop_local_cluster.sh.
set -euo pipefail

CLUSTER=${SEQLAB_SLURM_CLUSTER:-seqlab}
PARTITION=${SEQLAB_SLURM_PARTITION:-debug}
DB_PASS=${SEQLAB_SLURM_DB_PASS:-seqlab-local}
NODE=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
log() { echo "[slurm-local] $*"; }

[ "$(id -u)" -eq 0 ] || { echo "start_local_cluster.sh: must run as root" >&2; exit 1; }

packages=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
chown slurm:slurm /var/spool/slurmctld /var/log/slurm

# --- munge: authentication between the daemons and the clients ------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --force >/dev/null 2>&1 || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 0400 /etc/munge/munge.key
if ! pgrep -x munged >/dev/null; then
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged
fi

# --- MariaDB + slurmdbd: job accounting, so sacct works ------------------------------------------------------
if ! pgrep -x mariadbd >/dev/null && ! pgrep -x mysqld >/dev/null; then
    log "starting mariadb"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
    (mysqld_safe --skip-networking=0 --bind-address=127.0.0.1 >/dev/null 2>&1 &)
    for _ in $(seq 60); do mysqladmin ping >/dev/null 2>&1 && break; sleep 0.5; done
fi
mysql -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '${DB_PASS}';
          GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"

cat > /etc/slurm/slurmdbd.conf <<CONF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=${DB_PASS}
StorageLoc=slurm_acct_db
PidFile=/run/slurmdbd.pid
LogFile=/var/log/slurm/slurmdbd.log
CONF
chown slurm:slurm /etc/slurm/slurmdbd.conf
chmod 0600 /etc/slurm/slurmdbd.conf

cat > /etc/slurm/slurm.conf <<CONF
# Written by seqlab's scripts/slurm/start_local_cluster.sh: a single-node cluster for trying seqlab's SLURM path.
ClusterName=${CLUSTER}
SlurmctldHost=${NODE}
SlurmUser=slurm
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobRequeue=1
KillWait=5
MinJobAge=600
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmdSpoolDir=/var/spool/slurmd
StateSaveLocation=/var/spool/slurmctld
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobCompType=jobcomp/none
NodeName=${NODE} CPUs=${CPUS} RealMemory=${MEM_MB} State=UNKNOWN
PartitionName=${PARTITION} Nodes=${NODE} Default=YES MaxTime=INFINITE State=UP
CONF

if ! pgrep -x slurmdbd >/dev/null; then
    log "starting slurmdbd"
    /usr/sbin/slurmdbd
    for _ in $(seq 60); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.5; done
fi
sacctmgr -i -n list cluster format=cluster | grep -qw "${CLUSTER}" || sacctmgr -i add cluster "${CLUSTER}" >/dev/null

if ! pgrep -x slurmctld >/dev/null; then
    log "starting slurmctld"
    /usr/sbin/slurmctld
fi
if ! pgrep -x slurmd >/dev/null; then
    log "starting slurmd"
    /usr/sbin/slurmd
fi

for _ in $(seq 120); do
    state=$(sinfo -h -n "${NODE}" -o %T 2>/dev/null || true)
    case "$state" in
        idle*|mixed*|allocated*) log "ready: node ${NODE} (${CPUS} CPUs) is ${state} in partition ${PARTITION}"; exit 0 ;;
        down*|drain*) scontrol update nodename="${NODE}" state=resume >/dev/null 2>&1 || true ;;
    esac
    sleep 0.5
done
echo "start_local_cluster.sh: the node did not become idle; see /var/log/slurm/" >&2
sinfo >&2 || true
exit 1
