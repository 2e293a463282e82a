#!/usr/bin/env bash
# A throwaway single-node SLURM (Debian's slurm-wlm + munge) for CI and for trying a profile.
#   sudo scripts/slurm-local.sh start    # install if needed, write the config, start the daemons
#   sudo scripts/slurm-local.sh status   # sinfo, and which daemons run
#   sudo scripts/slurm-local.sh stop     # stop munged, slurmctld and slurmd (by their pid files)
# Root only: it installs packages and writes /etc/slurm. Without systemd: the daemons run in the
# foreground (-D) under setsid. No accounting database (AccountingStorageType=none), so the
# profile profiles/slurm-local asks squeue for job states; MinJobAge keeps finished jobs listed.
# One node, partitions cpu (default) and gpu, one fake GPU (gres on /dev/null) so that
# --gpus=1 jobs are accepted. See docs/slurm.md.
set -euo pipefail

STATE=${SLURM_LOCAL_STATE:-/var/lib/slurm-local}
LOGS=${SLURM_LOCAL_LOGS:-/var/log/slurm-local}
CONF_DIR=/etc/slurm
MARK="# written by semspace scripts/slurm-local.sh"

die() { echo "slurm-local: $*" >&2; exit 1; }

need_root() { [[ $(id -u) == 0 ]] || die "run as root (it installs slurm-wlm and writes $CONF_DIR)"; }

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
        return
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # --no-install-recommends: no mail server, no systemd units started in a container.
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

write_config() {
    if [[ -f $CONF_DIR/slurm.conf ]] && ! grep -qF "$MARK" "$CONF_DIR/slurm.conf"; then
        die "$CONF_DIR/slurm.conf exists and was not written by this script; not touching it"
    fi
    mkdir -p "$CONF_DIR" "$STATE/ctld" "$STATE/d" "$LOGS"
    local host node
    host=$(hostname -s)
    # `slurmd -C` prints this machine's node line (CPUs, sockets, memory) for slurm.conf.
    node=$(slurmd -C | head -n 1)
    [[ $node == NodeName=* ]] || die "slurmd -C printed no node line: $node"
    cat >"$CONF_DIR/slurm.conf" <<EOF
$MARK
ClusterName=semspace-local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
# No cgroups in a container: track processes by parent id and bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# No slurmdbd: sacct answers "accounting storage is disabled", so job states come from squeue,
# which lists a finished job for MinJobAge seconds.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=86400
# A job that asks for more than the node has fails at submission instead of pending for ever.
EnforcePartLimits=ALL
ReturnToService=2
GresTypes=gpu
$node Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=ALL Default=NO MaxTime=INFINITE State=UP
EOF
    # Without a gres.conf line slurmd reports no GPU and --gpus=1 is rejected.
    printf '%s\nName=gpu File=/dev/null Count=1\n' "$MARK" >"$CONF_DIR/gres.conf"
    printf '%s\nConstrainDevices=no\n' "$MARK" >"$CONF_DIR/cgroup.conf"
}

start_munge() {
    if [[ ! -s /etc/munge/munge.key ]]; then
        mkdir -p /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
    chmod 0700 /etc/munge
    chmod 0400 /etc/munge/munge.key
    chmod 0755 /run/munge
    runuser -u munge -- munged
    for _ in $(seq 50); do
        munge -n >/dev/null 2>&1 && return
        sleep 0.1
    done
    die "munged did not answer"
}

pid_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
    need_root
    install_packages
    write_config
    pid_alive /run/munge/munged.pid || start_munge
    if ! pid_alive "$STATE/slurmctld.pid"; then
        # -i: ignore state left by an earlier run of this throwaway cluster.
        setsid slurmctld -D -i >>"$LOGS/slurmctld.out" 2>&1 </dev/null &
    fi
    if ! pid_alive "$STATE/slurmd.pid"; then
        setsid slurmd -D >>"$LOGS/slurmd.out" 2>&1 </dev/null &
    fi
    local node
    node=$(slurmd -C | head -n 1 | sed 's/^NodeName=\([^ ]*\).*/\1/')
    for _ in $(seq 120); do
        if sinfo -h -N -n "$node" -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
            sinfo
            return
        fi
        sleep 0.5
    done
    tail -n 20 "$LOGS"/*.log >&2 || true
    die "node $node did not come up (logs in $LOGS)"
}

# Stops one daemon by its pid file; waits until it is gone (SIGKILL after 10 s).
stop_pid() {
    local file=$1 pid
    [[ -f $file ]] || return 0
    pid=$(cat "$file")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}

stop() {
    need_root
    stop_pid "$STATE/slurmd.pid"
    stop_pid "$STATE/slurmctld.pid"
    stop_pid /run/munge/munged.pid
}

status() {
    local name file
    for name in slurmctld slurmd munged; do
        case $name in
            munged) file=/run/munge/munged.pid ;;
            *) file=$STATE/$name.pid ;;
        esac
        if pid_alive "$file"; then echo "$name: running (pid $(cat "$file"))"; else echo "$name: stopped"; fi
    done
    command -v sinfo >/dev/null && sinfo 2>/dev/null || true
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) die "usage: $0 start|stop|status" ;;
esac
