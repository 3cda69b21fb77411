#!/usr/bin/env bash
# e2e_lifecycle.sh: what a run's row says when its process meets the world (issue 11): a
# write lock held by another program for longer than SQLite's 10 s busy timeout, kill -9,
# SIGHUP, SIGTERM, two quick Ctrl-Cs, a file-size limit and a full disk; the exit codes
# shells expect. Real processes, real signals, real SQLite files. TAP output.
#
#   bash tests/e2e_lifecycle.sh path/to/curvscope
. "$(dirname "$0")/tap.sh"
tap_setup e2e_lifecycle "$@"
PIDS=() MNT=
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  [ -n "$MNT" ] && umount "$MNT" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
DB=$T/life.db
q() { sqlite3 -batch -cmd ".timeout 5000" "${2:-$DB}" "$1"; }
SMALL=(--threads 1 --data synth:classes,n=200 --model mlp:10-32-2 -q)
WIDE=(--threads 1 --data synth:classes,n=2000 --model mlp:10-128-128-2 -q)

# wait_steps NAME [DB]: until run NAME has a committed step row (30 s at most); sets RID.
wait_steps() {
  RID=
  for _ in $(seq 1 300); do
    RID=$(q "select id from runs where name='$1' and exists(select 1 from steps where run_id=runs.id)" "${2:-$DB}" 2>/dev/null)
    [ -n "$RID" ] && return 0
    sleep 0.1
  done
  return 1
}
# wait_run NAME: until run NAME is in the database (30 s at most); sets RID.
wait_run() {
  RID=
  for _ in $(seq 1 300); do
    RID=$(q "select id from runs where name='$1'" 2>/dev/null)
    [ -n "$RID" ] && return 0
    sleep 0.1
  done
  return 1
}
# wait_gone PID [S]: until the process has exited (S s at most, default 20; then kill -9), then
# reaps it: RCW = its status.
wait_gone() {
  for _ in $(seq 1 $((${2:-20} * 10))); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$1" 2>/dev/null && kill -9 "$1"
  wait "$1"; RCW=$?
}
status_of() { q "select status || '|' || coalesce(error, '') from runs where id=${1:-0}" "${2:-$DB}"; }

run "$BIN" train --db "$DB" "${SMALL[@]}" --steps 5 --name warm
[ $RC -eq 0 ]; ok $? "a first run creates the database (rc $RC: $ERR)"

# ---- bad lock settings: exit 2 naming the variable, nothing written ------------------------
run env CURVSCOPE_BUSY_MS=abc "$BIN" train --db "$DB" "${SMALL[@]}" --steps 5 --name bad
[ $RC -eq 2 ] && [[ $ERR == *CURVSCOPE_BUSY_MS* && $ERR == *abc* ]] && [ "$(q "select count(*) from runs where name='bad'")" = 0 ]
ok $? "CURVSCOPE_BUSY_MS=abc: exit 2 naming it, no run written (rc $RC: $ERR)"
run env CURVSCOPE_LOCK_WAIT_S=-1 "$BIN" runs --db "$DB"
[ $RC -eq 2 ] && [[ $ERR == *CURVSCOPE_LOCK_WAIT_S* ]]; ok $? "CURVSCOPE_LOCK_WAIT_S=-1: exit 2 naming it (rc $RC: $ERR)"

# ---- a write lock held by another program for more than 10 s ----------------------------
# Two runs train while a sqlite3 shell holds BEGIN EXCLUSIVE (taken once both have begun):
# "locked" (default wait, 60 s) must finish once the lock is gone; "impatient", allowed to
# wait 1 s, must give up with a clear error. The shell lets go after 12 s, and not before
# "impatient" has given up (so a slow machine only makes the test longer).
"$BIN" train --db "$DB" "${SMALL[@]}" --steps 5000 --name locked >lk.out 2>lk.err &
LPID=$!; PIDS+=($LPID)
CURVSCOPE_LOCK_WAIT_S=1 "$BIN" train --db "$DB" "${SMALL[@]}" --steps 20000 --name impatient >im.out 2>im.err &
IPID=$!; PIDS+=($IPID)
wait_run locked; LID=$RID
wait_run impatient; IMID=$RID
{
  echo ".timeout 20000"
  echo "BEGIN EXCLUSIVE;"
  t_end=$(($(date +%s) + 12)) t_cap=$(($(date +%s) + 90))
  while { kill -0 $IPID 2>/dev/null || [ "$(date +%s)" -lt $t_end ]; } && [ "$(date +%s)" -lt $t_cap ]; do
    sleep 0.1
  done
  date +%s.%N >released
  echo "COMMIT;"
} | sqlite3 "$DB" &
HPID=$!; PIDS+=($HPID)
for _ in $(seq 1 100); do  # until the shell holds the lock (commits of the runs take ms)
  sqlite3 -cmd ".timeout 300" "$DB" "BEGIN IMMEDIATE; ROLLBACK;" 2>/dev/null || break
done
t_lock=$(date +%s.%N)  # held from here at least
n_lock=$(q "select count(*) from steps where run_id=$LID")
sqlite3 -cmd ".timeout 300" "$DB" "BEGIN IMMEDIATE; ROLLBACK;" 2>/dev/null
[ $? -ne 0 ] && [ "$n_lock" -lt 5000 ]
ok $? "the sqlite3 shell holds the write lock early in the runs (run $LID had $n_lock of 10002 rows then)"
wait_gone $IPID; irc=$RCW
wait $HPID
wait_gone $LPID 180; lrc=$RCW  # it still has most of its 5000 steps to train: slow on a busy machine
held=$(echo "$(cat released) - $t_lock" | bc)
[ $lrc -eq 0 ] && [ "$(status_of $LID)" = "finished|" ]
ok $? "the run under the lock ends 'finished', exit 0 (rc $lrc, $(status_of $LID); $(tr '\n' ' ' <lk.err))"
[ "$(q "select count(*) from steps where run_id=$LID and step between 0 and 5000")" = 5001 ]
ok $? "every step row is there: $(q "select count(*) from steps where run_id=$LID") of 5001"
[ "$(echo "$held > 10" | bc)" = 1 ]; ok $? "the lock was held longer than SQLite's 10 s busy timeout ($held s)"
last=$(q "select printf('%.3f', (julianday(created_at) - 2440587.5) * 86400 + (select max(wall_s) from steps where run_id=$LID)) from runs where id=$LID")
[ "$(echo "$last < $(cat released)" | bc)" = 1 ]
ok $? "training went on under the lock: its last step came $(echo "$(cat released) - $last" | bc) s before the lock was released"
[ $irc -eq 1 ] && grep -q "$DB has been locked by another connection for" im.err
ok $? "with CURVSCOPE_LOCK_WAIT_S=1 the run gives up: exit 1 naming the file and the lock (rc $irc: $(tr '\n' ' ' <im.err))"
run "$BIN" runs --db "$DB"
[[ $(status_of $IMID) == interrupted* ]] &&
  [ "$(q "select finished_at = heartbeat_at from runs where id=$IMID")" = 1 ]
ok $? "the run that gave up is then interrupted, finished_at = its last heartbeat ($(status_of $IMID))"

# ---- kill -9: the next command marks the run at once ------------------------------------
"$BIN" train --db "$DB" "${SMALL[@]}" --steps 100000000 --name killed >/dev/null 2>&1 &
KPID=$!; PIDS+=($KPID)
wait_steps killed; KID=$RID
sleep 0.5
kill -9 $KPID; wait $KPID 2>/dev/null
beat=$(q "select heartbeat_at from runs where id=$KID")
[ "$(q "select status from runs where id=$KID")" = running ]; ok $? "after kill -9 the row still says running"
t0=$(date +%s.%N)
run "$BIN" runs --db "$DB"
dt=$(echo "$(date +%s.%N) - $t0" | bc)
echo "$OUT" | grep -Eq "^ *$KID +killed +interrupted"
ok $? "curvscope runs shows it interrupted at once ($dt s; $(echo "$OUT" | grep -E "^ *$KID " | tr -s ' '))"
[ "$(q "select finished_at from runs where id=$KID")" = "$beat" ] && [ -n "$beat" ]
ok $? "its finished_at is the last heartbeat ($beat), not the time of detection"
[[ $ERR == *"marked interrupted"* ]] && [[ $(status_of $KID) == *"ended without ending the run"* ]]
ok $? "runs says so and the error says why ($(status_of $KID))"

# ---- signals: the process ends its own run, exit 128 + signal -----------------------------
# sig_run NAME SIGNAL COUNT [ARGS...]: a long training; once it has steps, COUNT signals,
# each sent as soon as the process has said it got the one before (signals sent back to
# back would merge into one). The final step measures the sharpness (a Lanczos solve), so
# the later signals come while the run is being saved.
sig_run() {
  local name=$1 sig=$2 count=$3; shift 3
  "$BIN" train --db "$DB" "${WIDE[@]}" --steps 100000000 --name "$name" "$@" >"$name.out" 2>"$name.err" &
  local pid=$! k
  PIDS+=($pid)
  wait_steps "$name"; SID=$RID
  sleep 0.3
  for k in $(seq 1 "$count"); do
    kill -"$sig" $pid 2>/dev/null
    for _ in $(seq 1 500); do
      [ "$(grep -c curvscope: "$name.err")" -ge "$k" ] || ! kill -0 $pid 2>/dev/null && break
      sleep 0.01
    done
  done
  wait_gone $pid
}
PROBE=(--probe sharpness:every=100000000,k=2)
# saved ID RC WANT: run ID ended by its own process as interrupted, final step checkpointed
saved() {
  local last; last=$(q "select max(step) from steps where run_id=$1")
  [ "$2" -eq "$3" ] && [ "$(status_of "$1")" = "interrupted|" ] &&
    [ "$(q "select count(*) from checkpoints where run_id=$1 and step=$last")" = 1 ]
}
sig_run hup HUP 1
saved $SID $RCW 129; ok $? "SIGHUP: exit 129, run 'interrupted' by the process itself, last step checkpointed (rc $RCW, $(status_of $SID))"
sig_run twice INT 2 "${PROBE[@]}"
saved $SID $RCW 130; ok $? "two SIGINTs at once: exit 130, run still ended cleanly as 'interrupted' (rc $RCW, $(status_of $SID))"
grep -q "once more to quit" twice.err; ok $? "the second Ctrl-C arrived while saving, and says what a third would do"
sig_run term TERM 1
saved $SID $RCW 143; ok $? "SIGTERM: exit 143 after saving the run (rc $RCW, $(status_of $SID))"
sig_run thrice INT 3 "${PROBE[@]}"
[ $RCW -eq 130 ]; ok $? "a third SIGINT exits at once with 130 (rc $RCW)"
run "$BIN" runs --db "$DB"
[[ $(status_of $SID) == interrupted* ]]; ok $? "and the next command marks that run interrupted ($(status_of $SID))"

# study eos: the run in progress is saved, no further step size starts, exit 143 (a step
# size too small to learn, so the preset's stop at 99% accuracy never comes)
"$BIN" study eos --db "$DB" --threads 1 --data synth:classes,n=500 --model mlp:10-64-2 --lr 0.000001,0.000002 \
    --steps 100000000 --every 1000000 --quiet >st.out 2>st.err &
SPID=$!; PIDS+=($SPID)
wait_steps "eos lr=1e-06"; EID=$RID
sleep 0.3
kill -TERM $SPID; wait_gone $SPID
[ $RCW -eq 143 ] && [ "$(status_of "$EID")" = "interrupted|" ] && [ "$(q "select count(*) from runs where name like 'eos lr=2e-06'")" = 0 ]
ok $? "study eos on SIGTERM: exit 143, its run interrupted, the next step size not started (rc $RCW, $(status_of "$EID"))"

# ---- a file-size limit: SIGXFSZ ignored, the write error becomes the run's error -----------
FDB=$T/fsize.db
run "$BIN" train --db "$FDB" "${SMALL[@]}" --steps 1 --name seed
( ulimit -f 1024; exec "$BIN" train --db "$FDB" --threads 1 --data synth:classes,n=200 \
    --model mlp:10-64-2 -q --steps 100000 --checkpoint-every 1 --name capped ) >fs.out 2>fs.err
frc=$?
FID=$(q "select id from runs where name='capped'" "$FDB")
[ $frc -eq 1 ] && grep -q "$FDB" fs.err; ok $? "under ulimit -f the run stops with exit 1 naming the file (rc $frc: $(tr '\n' ' ' <fs.err))"
[[ $(status_of "$FID" "$FDB") == "failed|"*"disk I/O error"* ]]
ok $? "the run is 'failed' with the write error ($(status_of "$FID" "$FDB"); $(tr '\n' ' ' <fs.err))"
run "$BIN" runs --db "$FDB"
[[ $(status_of "$FID" "$FDB") == "failed|"*"disk I/O error"* ]]; ok $? "a later command keeps that error"

# ---- a full disk (a 2 MB tmpfs; skipped where mounting is not allowed) --------------------
mkdir -p full
if mount -t tmpfs -o size=2m tmpfs full 2>/dev/null; then
  MNT=$T/full
  run "$BIN" train --db full/f.db "${SMALL[@]}" --steps 1 --name seed
  run "$BIN" train --db full/f.db --threads 1 --data synth:classes,n=200 --model mlp:10-64-2 -q \
      --steps 100000 --checkpoint-every 1 --name filled
  FULLID=$(q "select id from runs where name='filled'" full/f.db)
  [ $RC -eq 1 ] && [[ $ERR == *"disk is full"* ]]; ok $? "on a full disk the run stops with exit 1 (rc $RC: $ERR)"
  # Ending the run needs one more page; when the disk filled up at a transaction's very
  # first page there is none, and the process must say so; once there is room again the
  # next command marks the run.
  ERRFULL=$ERR
  mount -o remount,size=8m full
  run "$BIN" runs --db full/f.db
  fst=$(status_of "$FULLID" full/f.db)
  [[ $fst == "failed|"*"disk is full"* ]] ||
    { [[ $ERRFULL == *"could not be recorded either"* ]] && [[ $fst == interrupted* ]]; }
  ok $? "the run is 'failed' with 'disk is full', or said it could not be and is then interrupted ($fst)"
  umount full && MNT=
else
  echo "ok $((n + 1)) # skip cannot mount a tmpfs here (not root, or no CAP_SYS_ADMIN)"; n=$((n + 1))
fi

tap_end
