#!/usr/bin/env bash
# e2e_cli_progress.sh: the progress of a run (cli/progress.c). On a terminal (a pty made
# by python3's pty module) the line is rewritten in place and shows the latest sharpness
# once the probe measured one, and the final message starts a line of its own even when
# the run stops early; not on a terminal, plain lines at CURVSCOPE_PROGRESS_S intervals
# (0 here: one per step, so nothing depends on timing); train prints the EoS summary it
# computes. TAP.
#
#   bash tests/e2e_cli_progress.sh path/to/curvscope
. "$(dirname "$0")/tap.sh"
tap_setup e2e_cli_progress "$@"
SYN=(--data synth:classes,n=40 --model mlp:10-4-2 --threads 1)

# ---- on a terminal ----------------------------------------------------------------------
# Runs the command with stdout and stderr on one pty; the bytes it wrote go to tty.out.
python3 - "$BIN" train --db t.db "${SYN[@]}" --steps 200 --lr 0.5 --stop-acc 0.9 \
    --probe sharpness:every=2 >tty.out <<'EOF'
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b""
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
sys.exit(os.waitstatus_to_exitcode(status))
EOF
ok $? "train under a pty exits 0"
tr -d '\r' <tty.out | diag
grep -q $'\r  step ' tty.out; ok $? "on a terminal the progress line is rewritten in place (\\r)"
grep -aEq $'\r  step [0-9]+/200 .* sharpness [0-9.e+-]+ \\(step [0-9]+\\)' tty.out
ok $? "the progress line shows the latest sharpness and its step"
stopped=$(sqlite3 t.db "select max(step) from steps")
[ "$stopped" -lt 200 ]; ok $? "the run stopped early at 90% accuracy (step $stopped of 200)"
# every line of the terminal (split at \n; \r rewinds within one) that holds the final message
# starts with it: nothing of the progress line before it
python3 - tty.out <<'EOF'
import sys
text = open(sys.argv[1], "rb").read().decode()
lines = [l for l in text.replace("\r\n", "\n").split("\n") if "finished after" in l or "stopped after" in l]
assert lines, text
for l in lines:
    shown = l.split("\r")[-1]   # what a terminal shows of the line
    assert shown.startswith("run "), repr(l)
    assert "\r" not in l, repr(l)  # nothing of the progress line before it
EOF
ok $? "the final message starts a line of its own, not on the progress line"

# ---- not on a terminal -------------------------------------------------------------------
run env CURVSCOPE_PROGRESS_S=0 "$BIN" train --db p.db "${SYN[@]}" --steps 6 --probe sharpness:every=3
[ $RC -eq 0 ] && ! grep -q $'\r' err.txt; ok $? "not a terminal: no \\r on stderr (rc $RC)"
[ "$(grep -c '^curvscope: step [0-9]*/6 ' err.txt)" -ge 6 ]
ok $? "CURVSCOPE_PROGRESS_S=0: one plain line per step ($(grep -c '^curvscope: step' err.txt) lines)"
grep -Eq '^curvscope: step 6/6 .* sharpness [0-9.e+-]+ \(step 6\)' err.txt
ok $? "the plain lines carry the sharpness too ($(tail -1 err.txt))"
run env CURVSCOPE_PROGRESS_S=0 "$BIN" train --db p.db "${SYN[@]}" --steps 3 --quiet
! grep -q 'curvscope: step' err.txt; ok $? "--quiet: no progress lines"
run env CURVSCOPE_PROGRESS_S=soon "$BIN" train --db q.db "${SYN[@]}" --steps 3
[ $RC -eq 2 ] && [[ $ERR == *"CURVSCOPE_PROGRESS_S='soon'"* ]] && [ ! -e q.db ]
ok $? "CURVSCOPE_PROGRESS_S=soon: exit 2 naming it, no database (rc $RC: $ERR)"

# ---- train prints the EoS summary it computes ---------------------------------------------
run "$BIN" train --db e.db "${SYN[@]}" --steps 20 --lr 0.5 --probe sharpness:every=2 -q
[ $RC -eq 0 ] && [[ $OUT == *"hessian sharpness, "*"measurements):"* && $OUT == *"max sharpness"* && $OUT == *"phases:"* ]]
ok $? "train --probe sharpness prints the EoS summary ($(grep -c . <<<"$OUT") lines)"
max=$(sqlite3 e.db "select printf('%.6g', value) from metrics where name='max_sharpness'")
[[ $OUT == *"max sharpness $max;"* ]]; ok $? "the printed max sharpness is the stored one ($max)"

tap_end
