#!/usr/bin/env bash
# A single-node Slurm cluster on this machine from Debian's slurm-wlm, for the opt-in Slurm test:
#
#   sudo scripts/slurm_single_node.sh            # install, configure, start; prints sinfo
#   TEACHERSIM_SLURM=1 .venv/bin/python -m pytest -q tests/test_cluster.py -k slurm
#   sudo scripts/slurm_single_node.sh --stop     # stop the daemons again
#
# One node (this host, reached on 127.0.0.1) with all its CPUs and most of its memory, one
# partition `debug`. It starts munged, slurmctld and slurmd directly (no systemd needed, so it also
# works in containers) and uses no cgroups (proctrack/linuxproc, task/none). Only for testing:
# nothing here is hardened, and slurmctld and slurmd listen on all interfaces (ports 6817 and
# 6818; Slurm has no listen-address setting), so use it on a test machine and --stop it after.
# Debian 12 (slurm-wlm 22.05) and later; run as root. Tried on Debian 12 in a container.
set -euo pipefail

PARTITION=debug
CONF_DIR=/etc/slurm
NODE=$(hostname -s)

stop() {
  for daemon in slurmd slurmctld munged; do
    if pidof "$daemon" >/dev/null; then
      kill $(pidof "$daemon") || true
    fi
  done
}

if [[ ${1:-} == --stop ]]; then
  stop
  echo "slurm_single_node: stopped"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "slurm_single_node: run as root (sudo $0)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq slurm-wlm munge >/dev/null
fi

# munge: one key shared by the controller and the node (here the same machine)
if [[ ! -s /etc/munge/munge.key ]]; then
  if command -v mungekey >/dev/null; then mungekey --create --force; else create-munge-key -f; fi
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
chmod 755 /run/munge

CPUS=$(nproc)
MEM_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
mkdir -p "$CONF_DIR" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat >"$CONF_DIR/slurm.conf" <<EOF
# written by teachersim scripts/slurm_single_node.sh: one node, one partition, for testing only
ClusterName=teachersim
SlurmctldHost=${NODE}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmdSpoolDir=/var/spool/slurmd
StateSaveLocation=/var/spool/slurmctld
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
MinJobAge=60
NodeName=${NODE} NodeAddr=127.0.0.1 CPUs=${CPUS} RealMemory=${MEM_MB} State=UNKNOWN
PartitionName=${PARTITION} Nodes=${NODE} Default=YES MaxTime=INFINITE State=UP
EOF

stop
sleep 1
runuser -u munge -- /usr/sbin/munged
slurmctld
slurmd
for _ in $(seq 1 30); do
  if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
    break
  fi
  scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
  sleep 1
done
sinfo
if ! sinfo -h -o %T | grep -qE '^(idle|mixed|allocated)'; then
  echo "slurm_single_node: the node did not become idle; see /var/log/slurm/" >&2
  exit 1
fi
echo "slurm_single_node: ready: partition '${PARTITION}' on ${NODE} with ${CPUS} CPUs and ${MEM_MB} MB"
