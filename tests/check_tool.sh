#!/bin/sh
# The emim tool: help, version, usage errors, the op table document, and a
# small validate run on the CPU twin.
set -u
EMIM=${EMIM_BUILDDIR:-.}/emim
SRC=${EMIM_SRCDIR:-.}
fail=0
check() { # check NAME EXPECTED_STATUS COMMAND...
  name=$1; want=$2; shift 2
  "$@" >out.$$ 2>err.$$; got=$?
  if [ "$got" -ne "$want" ]; then
    echo "FAIL $name: exit $got, expected $want"; cat out.$$ err.$$; fail=1
  else
    echo "ok   $name"
  fi
}
check help 0 "$EMIM" --help
grep -q "validate" out.$$ || { echo "FAIL help lists no validate"; fail=1; }
check version 0 "$EMIM" --version
grep -q "libemim" out.$$ || { echo "FAIL version"; fail=1; }
check no-command 2 "$EMIM"
check bad-command 2 "$EMIM" frobnicate
grep -q "unknown command 'frobnicate'" err.$$ || { echo "FAIL bad-command message"; cat err.$$; fail=1; }
check bad-option 2 "$EMIM" --no-such-option info
check bad-backend 2 "$EMIM" --backend=cuda info
grep -q "cuda" err.$$ || { echo "FAIL bad-backend message"; fail=1; }
check bad-env 2 env EMIM_BACKEND=cuda "$EMIM" info
grep -q "EMIM_BACKEND" err.$$ || { echo "FAIL bad-env message"; fail=1; }
check bad-threads 2 "$EMIM" --threads=0 info
check validate-bad-op 1 "$EMIM" -b cpu validate --ops=frobnicate
grep -q "frobnicate" err.$$ || { echo "FAIL validate-bad-op message"; fail=1; }
check info-cpu 0 "$EMIM" -b cpu info
check validate-cpu 0 "$EMIM" -q -b cpu validate --ops=add,sum,rand
grep -q "^[0-9]* passed, 0 failed" out.$$ || { echo "FAIL validate-cpu summary"; cat out.$$; fail=1; }
check ops-markdown 0 "$EMIM" ops --markdown
if ! cmp -s out.$$ "$SRC/doc/ops.md"; then
  echo "FAIL doc/ops.md differs from 'emim ops --markdown' (regenerate it):"; diff out.$$ "$SRC/doc/ops.md"; fail=1
fi
rm -f out.$$ err.$$
exit $fail
