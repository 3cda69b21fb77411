#!/usr/bin/env bash
# e2e_slurm.sh: a sweep submitted to a real Slurm. The test starts its own munged (its own key
# and socket), slurmctld and slurmd (one node, 127.0.0.1, two free ports, proctrack/linuxproc,
# task/none: no systemd, no cgroups) with every file in its temporary directory, and stops
# them by pid at exit. curvscope sweep --slurm writes the scripts; submit.sh submits the job
# array and the merge job after it (afterany). Checked: every task's run reached the merged
# database with its grid point, and, in a second sweep with one array task cancelled before
# it ran, the merge job still runs, merges the others, names the missing task and fails.
# Where the binary links MPI (-Dmpi) and Slurm has PMIx: a train run as a 2-task job step
# (sbatch -n 2, srun --mpi=pmix) is data-parallel and equals the serial run (docs/SCALING.md).
# Skips (saying so) where Slurm or munge is not installed: scripts/setup.sh --test installs
# them. Needs root or a user that may run the daemons. TAP output.
#
#   bash tests/e2e_slurm.sh path/to/curvscope
. "$(dirname "$0")/tap.sh"
for c in munged mungekey slurmctld slurmd sbatch squeue scancel scontrol; do
  if ! command -v $c >/dev/null 2>&1; then
    echo "1..0 # SKIP $c is not installed (apt-get install slurmctld slurmd slurm-client munge;"\
         "scripts/setup.sh --test)"
    exit 0
  fi
done
tap_setup e2e_slurm "$@"
PIDS=()
stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  [ -S "$T/m/munge.sock" ] && munged -S "$T/m/munge.sock" --stop >/dev/null 2>&1
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$T"
}
trap stop_all EXIT

# ---- munge and Slurm, in $T -----------------------------------------------------------------
mkdir -m 700 m state spool
mungekey -c -k m/munge.key >/dev/null 2>&1 || dd if=/dev/urandom of=m/munge.key bs=1024 count=1 2>/dev/null
chmod 600 m/munge.key
munged -f --socket="$T/m/munge.sock" --key-file="$T/m/munge.key" --pid-file="$T/m/munged.pid" \
  --log-file="$T/m/munged.log" --seed-file="$T/m/munged.seed" >/dev/null 2>&1
ok $? "munged started on its own socket"
read -r P1 P2 < <(python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
ME=$(id -un)
cat >slurm.conf <<CONF
ClusterName=cstest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$P1
SlurmdPort=$P2
AuthType=auth/munge
AuthInfo=socket=$T/m/munge.sock
CredType=cred/munge
SlurmUser=$ME
SlurmdUser=$ME
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
NodeName=cstest-node NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=cstest-node Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$T/slurm.conf
slurmctld -i -D >ctld.out 2>&1 & PIDS+=($!)
slurmd -D -N cstest-node >slurmd.out 2>&1 & PIDS+=($!)
for i in $(seq 1 50); do
  [ "$(sinfo -h -o %T 2>/dev/null)" = idle ] && break
  sleep 0.2
done
[ "$(sinfo -h -o %T 2>/dev/null)" = idle ]; ok $? "slurmctld and slurmd up, node cstest-node idle"

# Waits (at most 60 s) until the queue is empty.
drain() {
  for i in $(seq 1 300); do
    [ -z "$(squeue -h 2>/dev/null)" ] && return 0
    sleep 0.2
  done
  return 1
}

# ---- a 2 x 2 sweep, all tasks ---------------------------------------------------------------
TRAIN=(train --data fashion-mnist:n=200,test=0 --model mlp:784-8-10 --steps 10)
run "$BIN" sweep --grid 'lr=0.02,0.05;batch=32,200' --slurm --partition debug --time 00:05:00 \
    --jobs 2 --db all.db --dir sw -- "${TRAIN[@]}"
[ $RC -eq 0 ] && [ -x sw/submit.sh ]; ok $? "sweep --slurm wrote the scripts (rc $RC: $ERR)"
run bash sw/submit.sh
[ $RC -eq 0 ] && [[ $OUT == "array job "* ]]; ok $? "submit.sh: $OUT $ERR"
MERGE=$(sed -n 's/.*merge job \([0-9]*\).*/\1/p' out.txt)
drain; ok $? "the array and the merge job ran to the end"
grep -q "4 tasks, 4 merged, 0 missing" sw/merge.log; ok $? "merge.log: 4 tasks merged, none missing"
[ "$(sqlite3 all.db "select group_concat(name || ':' || status, ' ') from (select * from runs order by name)")" = \
  "lr=0.02;batch=200:finished lr=0.02;batch=32:finished lr=0.05;batch=200:finished lr=0.05;batch=32:finished" ]
ok $? "all.db has the 4 grid points' runs, finished"
[ "$(sqlite3 all.db "select count(*) from runs where origin like '$T/sw/task-_.db'")" = 4 ]
ok $? "each run names its task's file as origin"
scontrol show job "$MERGE" 2>/dev/null | grep -q "JobState=COMPLETED"; ok $? "the merge job completed"

# ---- one task cancelled before it ran: the merge job names it -------------------------------
run "$BIN" sweep --grid 'lr=0.02,0.05,0.1' --slurm --jobs 1 --db part.db --dir sw2 -- "${TRAIN[@]}"
run bash sw2/submit.sh
ARRAY=$(sed -n 's/^array job \([0-9]*\).*/\1/p' out.txt)
MERGE=$(sed -n 's/.*merge job \([0-9]*\).*/\1/p' out.txt)
scancel "${ARRAY}_2"
drain; ok $? "with task 2 cancelled the merge job still ran (afterany)"
grep -q "3 tasks, 2 merged, 1 missing: tasks 2" sw2/merge.log
ok $? "merge.log names the missing task ($(tr '\n' ' ' <sw2/merge.log | head -c 300))"
[ "$(sqlite3 part.db "select count(*) from runs")" = 2 ]; ok $? "the 2 tasks that ran are in part.db"
scontrol show job "$MERGE" 2>/dev/null | grep -q "JobState=FAILED"; ok $? "and the merge job failed, so the sweep shows as incomplete"

# ---- a data-parallel run as a job step of 2 tasks, started by srun (docs/SCALING.md) -----------
# Only where the binary links MPI (-Dmpi) and Slurm has its PMIx plugin.
if ldd "$BIN" 2>/dev/null | grep -q libmpi && srun --mpi=list 2>&1 | grep -q pmix; then
  MT=(train --data synth:classes,n=203,d=8,k=3,test=37 --model mlp:8-16-3 --steps 8 --quiet)
  "$BIN" "${MT[@]}" --db mpi1.db >/dev/null
  run sbatch -n 2 --overcommit -o "$T/mpi.log" --wrap "OMPI_MCA_btl=self,vader \
    OMPI_MCA_btl_vader_single_copy_mechanism=none srun --overcommit --mpi=pmix $BIN ${MT[*]} --db $T/mpi2.db"
  drain
  grep -q "data-parallel on 2 MPI ranks" mpi.log
  r=$?
  ok $r "srun --mpi=pmix -n 2 runs train data-parallel ($(tr '\n' ' ' <mpi.log | head -c 300))"
  [ $r -eq 0 ] || { echo "sbatch: $OUT $ERR"; scontrol show job "${OUT##* }" | head -12; tail -n 4 slurmd.log; tail -n 6 ctld.out; tail -n 6 slurmctld.log; } | diag
  q="select printf('%.12e %.12e', loss, grad_norm) from steps where run_id=1 order by step"
  [ -n "$(sqlite3 mpi1.db "$q")" ] && [ "$(sqlite3 mpi1.db "$q")" = "$(sqlite3 mpi2.db "$q" 2>&1)" ]
  ok $? "its every step's loss and gradient norm equal the serial run's to 12 digits"
fi
tap_end
