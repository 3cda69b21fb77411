#!/usr/bin/env bash
# e2e_install.sh: libcurvscope as a user gets it (issue 17, docs/LIBRARY.md). `meson install
# --destdir` into the test's own directory, then, against that tree only: every installed
# header compiles on its own with `pkg-config --cflags curvscope` and includes nothing that is
# not installed; the shared library exports exactly the functions the headers declare and
# carries the API version in its soname; both examples are built with `pkg-config --cflags
# --libs curvscope` (shared) and with `--static` (no libcurvscope.so needed), and run:
# own_linop against the closed-form spectrum of its matrix (computed here), and
# top_eigs_checkpoint against `curvscope analyze` (ARPACK, another solver) on the same stored
# checkpoint and against the loss the training loop recorded at that step. TAP output.
#
#   bash tests/e2e_install.sh path/to/curvscope BUILD_DIR SOURCE_DIR [MESON]
#
# Under the sanitizer build the library is instrumented and a program linked by pkg-config
# alone lacks the sanitizer runtime, so the script skips there (the in-tree examples run
# under the sanitizers as unit tests: example_own_linop).
. "$(dirname "$0")/tap.sh"
tap_setup e2e_install "$@"
BUILD=$(cd "${2:?usage: e2e_install.sh CURVSCOPE BUILD_DIR SOURCE_DIR [MESON]}" && pwd) || exit 1
SRC=$(cd "${3:?usage: e2e_install.sh CURVSCOPE BUILD_DIR SOURCE_DIR [MESON]}" && pwd) || exit 1
MESON=${4:-meson}
export LC_ALL=C
# relclose A B TOL: |A-B| <= TOL*max(|B|, 1e-12)
relclose() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN{d=a-b; if(d<0)d=-d; m=b<0?-b:b; if(m<1e-12)m=1e-12; exit !(a!="" && b!="" && d<=t*m)}'; }

if readelf -d "$BUILD/lib/libcurvscope.so" 2>/dev/null | grep -Eq 'lib(a|ub)san'; then
  echo "ok 1 # SKIP sanitizer build: the installed library needs the sanitizer runtime, which pkg-config does not give"
  echo "1..1"
  exit 0
fi

# ---- install ---------------------------------------------------------------------------
DEST=$T/dest
run "$MESON" install -C "$BUILD" --no-rebuild --destdir "$DEST" --quiet
[ $RC -eq 0 ]; ok $? "meson install --destdir exits 0 (rc $RC: $ERR)"
PC=$(find "$DEST" -name curvscope.pc | head -1)
[ -n "$PC" ]; ok $? "curvscope.pc is installed (${PC#$DEST})"
[ -n "$PC" ] || tap_end
# The .pc names the configured prefix; point it at the DESTDIR copy of it.
PREFIX=$(PKG_CONFIG_PATH=${PC%/*} pkg-config --variable=prefix curvscope)
pc() { PKG_CONFIG_PATH="${PC%/*}${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}" pkg-config \
         --define-variable=prefix="$DEST$PREFIX" "$@" curvscope; }
CFLAGS=$(pc --cflags) LIBS=$(pc --libs) SLIBS=$(pc --static --libs)
INC=$DEST$PREFIX/include
LIBDIR=$(pc --variable=libdir)
echo "cflags: $CFLAGS" | diag
echo "libs: $LIBS" | diag
echo "static libs: $SLIBS" | diag
[[ $LIBS == *-lcurvscope* && $CFLAGS == *"-I$INC"* ]]; ok $? "pkg-config --cflags --libs curvscope point into the installed tree"
missing=
for want in -lopenblas -larpack -llapacke -lsqlite3 -lpng -lz -lm -fopenmp; do
  [[ " $SLIBS " == *" $want"* ]] || missing+=" $want"
done
[ -z "$missing" ]; ok $? "pkg-config --static --libs has the whole link line (missing:${missing:- none})"

# ---- headers ---------------------------------------------------------------------------
HEADERS=$(cd "$INC" && find curvscope -name '*.h' | sort)
echo "$HEADERS" | grep -qx curvscope/curvscope.h; ok $? "the umbrella header curvscope/curvscope.h is installed"
bad=
for h in $HEADERS; do
  printf '#include <%s>\nint main(void) { return 0; }\n' "$h" >h.c
  cc -std=c11 -Wall -Wextra -Werror -fsyntax-only $CFLAGS h.c 2>h.err || bad+=" $h($(head -c 300 h.err))"
done
[ -z "$bad" ]; ok $? "each of the $(echo "$HEADERS" | wc -l) installed headers compiles on its own with the pkg-config cflags only (failed:${bad:- none})"
leaks=$(cd "$INC" && grep -Hn '#include' $HEADERS | grep -E 'sqlite3|arpack|_internal|cli/|json\.h|spec\.h' )
[ -z "$leaks" ]; ok $? "no installed header includes SQLite, ARPACK or an internal header ($leaks)"

if command -v c++ >/dev/null; then
  printf '#include <curvscope/curvscope.h>\nint main() { Err e = {}; return cs_status_name(e.code)[0] && cs_version()[0] ? 0 : 1; }\n' >cxx.cc
  run c++ -Wall -Wextra -Werror cxx.cc $CFLAGS $LIBS -o cxx
  [ $RC -eq 0 ] && LD_LIBRARY_PATH="$LIBDIR" ./cxx; ok $? "a C++ program includes curvscope/curvscope.h (extern \"C\"), links and runs ($ERR)"
fi

# ---- the shared library ----------------------------------------------------------------
SO=$LIBDIR/libcurvscope.so
exported=$(nm -D --defined-only "$SO" | awk '$2 ~ /^[TDBRVWi]$/ {print $3}' | sed 's/@.*//' | sort -u)
declared=$(bash "$SRC/lib/public_symbols.sh" "$INC")
extra=$(comm -23 <(echo "$exported") <(echo "$declared") | tr '\n' ' ')
absent=$(comm -13 <(echo "$exported") <(echo "$declared") | tr '\n' ' ')
[ -n "$declared" ] && [ -z "$extra$absent" ]
ok $? "libcurvscope.so exports exactly the $(echo "$declared" | wc -l) functions the headers declare (not declared: ${extra:-none}; declared, not exported: ${absent:-none}; lib/curvscope.map)"
major=$(sed -n 's/^#define CURVSCOPE_VERSION_MAJOR //p' "$INC/curvscope/version.h")
minor=$(sed -n 's/^#define CURVSCOPE_VERSION_MINOR //p' "$INC/curvscope/version.h")
patch=$(sed -n 's/^#define CURVSCOPE_VERSION_PATCH //p' "$INC/curvscope/version.h")
[ "$major" = 0 ] && want_soname=libcurvscope.so.0.$minor || want_soname=libcurvscope.so.$major
soname=$(readelf -d "$SO" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "$want_soname" ]; ok $? "soname $soname carries the API version $major.$minor"
[ "$(pc --modversion)" = "$major.$minor.$patch" ] && [ "$("$BIN" --version)" = "curvscope $major.$minor.$patch" ]
ok $? "curvscope.pc, version.h and curvscope --version agree ($(pc --modversion), $major.$minor.$patch, $("$BIN" --version))"

# ---- the examples, shared and static ---------------------------------------------------
for ex in own_linop top_eigs_checkpoint; do
  # -lm: own_linop calls sqrt itself (the library's own needs are in its NEEDED entries).
  run cc -std=c11 -Wall -Wextra -Werror "$SRC/examples/$ex.c" $CFLAGS $LIBS -lm -o "$ex.shared"
  [ $RC -eq 0 ]; ok $? "$ex builds with pkg-config --cflags --libs curvscope ($ERR)"
  # -l:libcurvscope.a: the archive, though the shared library sits beside it.
  run cc -std=c11 -Wall -Wextra -Werror "$SRC/examples/$ex.c" $CFLAGS ${SLIBS/-lcurvscope/-l:libcurvscope.a} \
      -o "$ex.static"
  [ $RC -eq 0 ]; ok $? "$ex builds static with pkg-config --static --libs curvscope ($ERR)"
  readelf -d "$ex.shared" 2>/dev/null | grep -q "\[$soname\]"; ok $? "$ex.shared needs $soname"
  ! readelf -d "$ex.static" 2>/dev/null | grep -q libcurvscope; ok $? "$ex.static needs no libcurvscope.so"
done

# own_linop: the extreme eigenvalues of the n x n Clement matrix are ±(n-1), ±(n-3), ...
N=300 K=4
for kind in shared static; do
  if [ $kind = shared ]; then run env LD_LIBRARY_PATH="$LIBDIR" ./own_linop.shared $N $K
  else run ./own_linop.static $N $K; fi
  echo "$OUT" | diag
  [ $RC -eq 0 ]; ok $? "own_linop ($kind) exits 0 ($ERR)"
  [[ $OUT == "curvscope $major.$minor.$patch:"* ]]; ok $? "own_linop ($kind) reports cs_version() $major.$minor.$patch"
  got=$(echo "$OUT" | awk '/^(top|bottom)\[/ {print $3}')
  want=$(awk -v n=$N -v k=$K 'BEGIN{for(j=0;j<k;j++) print n-1-2*j; for(j=0;j<k;j++) print -(n-1)+2*j}')
  fails_here=0
  [ "$(echo "$got" | wc -l)" = $((2 * K)) ] || fails_here=1
  paste <(echo "$got") <(echo "$want") >pairs.txt
  while read -r g w; do relclose "$g" "$w" 1e-8 || fails_here=1; done <pairs.txt
  [ $fails_here -eq 0 ]; ok $? "own_linop ($kind): the $K largest and $K smallest match ±(n-1-2j) to 1e-8 (got $(echo $got))"
done

# top_eigs_checkpoint on a run with fixed Fourier features: rebuilding the net needs the
# run's seed as training drew it, so a wrong rebuild shows in the loss and the spectrum.
DB=$T/runs.db
run "$BIN" train --db "$DB" --threads 1 --data synth:sines,freqs=1-3,n=64 --model mlp:1-16-1 \
    --embed fourier:m=8,sigma=2 --steps 20 --checkpoint-every 10 --lr 0.05 --name lib -q
[ $RC -eq 0 ]; ok $? "train a run with checkpoints at 0, 10, 20 (rc $RC: $ERR)"
ID=$(sqlite3 -batch -cmd ".timeout 5000" "$DB" "select id from runs where name='lib'")
run "$BIN" analyze --db "$DB" --run "$ID" --step 10 --top 3 --threads 1 --solver arpack
[ $RC -eq 0 ]; ok $? "curvscope analyze --step 10 --top 3 --solver arpack (rc $RC: $ERR)"
ref=$(echo "$OUT" | awk '/^ *top\[/ {print $3}')
recorded=$(sqlite3 -batch -cmd ".timeout 5000" "$DB" "select loss from steps where run_id=$ID and step=10")
for kind in shared static; do
  if [ $kind = shared ]; then run env LD_LIBRARY_PATH="$LIBDIR" ./top_eigs_checkpoint.shared "$DB" "$ID" 10 3
  else run ./top_eigs_checkpoint.static "$DB" "$ID" 10 3; fi
  echo "$OUT" | diag
  [ $RC -eq 0 ]; ok $? "top_eigs_checkpoint ($kind) exits 0 ($ERR)"
  loss=$(echo "$OUT" | sed -n 's/^run .*, step 10, .* loss \(.*\)$/\1/p')
  relclose "$loss" "$recorded" 1e-5; ok $? "top_eigs_checkpoint ($kind): loss at step 10 is the one training recorded ($loss vs $recorded)"
  got=$(echo "$OUT" | awk '/^ *top\[/ {print $3}')
  fails_here=0
  [ "$(echo "$got" | wc -l)" = 3 ] && [ "$(echo "$ref" | wc -l)" = 3 ] || fails_here=1
  paste <(echo "$got") <(echo "$ref") >pairs.txt
  while read -r g w; do relclose "$g" "$w" 1e-6 || fails_here=1; done <pairs.txt
  [ $fails_here -eq 0 ]; ok $? "top_eigs_checkpoint ($kind): top 3 match curvscope analyze to 1e-6 ($(echo $got) vs $(echo $ref))"
done
run env LD_LIBRARY_PATH="$LIBDIR" ./top_eigs_checkpoint.shared "$DB" "$ID" 7
[ $RC -ne 0 ] && [[ $ERR == *"no checkpoint at step 7"*"0, 10, 20"* ]]
ok $? "a step without a checkpoint is an error naming the steps that have one ($ERR)"

run env LD_LIBRARY_PATH="$LIBDIR" ./top_eigs_checkpoint.shared "$DB" 99
[ $RC -ne 0 ] && [[ $ERR == *"no run 99"* ]]; ok $? "a run that is not there is an error naming it ($ERR)"
# A checkpoint of the wrong length (cut to one value here) is refused, not read past.
sqlite3 -batch -cmd ".timeout 5000" "$DB" "update checkpoints set params = substr(params, 1, 8) where run_id=$ID and step=10"
run env LD_LIBRARY_PATH="$LIBDIR" ./top_eigs_checkpoint.shared "$DB" "$ID" 10
NP=$(sqlite3 -batch -cmd ".timeout 5000" "$DB" "select n_params from runs where id=$ID")
[ $RC -ne 0 ] && [[ $ERR == *"has 1 values, its model $NP"* ]]
ok $? "a checkpoint whose length is not the model's is refused by cs_run_checkpoint ($ERR)"

tap_end
