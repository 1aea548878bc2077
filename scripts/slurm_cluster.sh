#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for the workflow's SLURM test (CI runs it as root).
#   scripts/slurm_cluster.sh install   Debian packages slurmctld, slurmd, slurm-client, munge
#   scripts/slurm_cluster.sh start     write /etc/slurm/slurm.conf, start munged, slurmctld, slurmd,
#                                      and wait until a real `srun true` succeeds
#   scripts/slurm_cluster.sh stop      stop the daemons
# Facts it relies on (measured here, see SLURM.md of the shared notes): no slurmdbd, so
# accounting is off and finished jobs must stay visible to squeue (MinJobAge=7200: the tests
# check every job of a 10-minute run against it; status polls need it above 18 s). The node has
# FAKE_GPUS fake GPUs (character devices /dev/fakegpuN, like /dev/null) so that jobs asking for
# gpu=1 schedule and receive CUDA_VISIBLE_DEVICES, as on a GPU cluster; nothing runs on them.
set -euo pipefail

install() {
    if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge
    fi
}

FAKE_GPUS=${FAKE_GPUS:-2}

fake_gpus() {
    local last=$((FAKE_GPUS - 1))
    for i in $(seq 0 "$last"); do
        [ -c "/dev/fakegpu$i" ] || mknod "/dev/fakegpu$i" c 1 3
    done
    echo "Name=gpu File=/dev/fakegpu[0-$last]" > /etc/slurm/gres.conf
}

write_config() {
    local node
    node=$(slurmd -C | head -1 | sed 's/ UpTime.*//')
    mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
    fake_gpus
    cat > /etc/slurm/slurm.conf <<CONF
ClusterName=dpsim
SlurmctldHost=$(hostname -s)
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MailProg=/bin/true
GresTypes=gpu
MinJobAge=7200
ReturnToService=2
DefMemPerCPU=1000
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
$node Gres=gpu:$FAKE_GPUS State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
}

start() {
    install
    write_config
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
    fi
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge && chown munge:munge /run/munge
    pgrep -x munged >/dev/null || runuser -u munge -- munged
    pgrep -x slurmctld >/dev/null || slurmctld
    pgrep -x slurmd >/dev/null || slurmd
    for _ in $(seq 1 60); do
        if timeout 10 srun --quiet true 2>/dev/null; then
            echo "SLURM cluster ready: $(sinfo -h -o '%P %D %T')"
            return 0
        fi
        scontrol update nodename="$(hostname -s)" state=resume 2>/dev/null || true
        sleep 1
    done
    echo "SLURM did not become ready; logs:" >&2
    tail -20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
    return 1
}

stop() {
    scancel --user="$(id -un)" 2>/dev/null || true
    pkill -x slurmd 2>/dev/null || true
    pkill -x slurmctld 2>/dev/null || true
    pkill -x munged 2>/dev/null || true
}

"${1:?usage: $0 install|start|stop}"
