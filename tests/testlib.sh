# Shared by the tool's test scripts (sourced): a temporary folder removed on
# exit, and the two checks. After sourcing: $tmp, $fail, check, expect.
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
check() { # check NAME EXPECTED_STATUS COMMAND...: the exit status; output in $tmp/out, $tmp/err
  name=$1; want=$2; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"; got=$?
  if [ "$got" -ne "$want" ]; then
    echo "FAIL $name: exit $got, expected $want"; cat "$tmp/out" "$tmp/err"; fail=1
  else
    echo "ok   $name"
  fi
}
expect() { # expect NAME FILE TEXT: $tmp/FILE holds the text
  grep -qF -- "$3" "$tmp/$2" || { echo "FAIL $1: '$3' not in:"; cat "$tmp/$2"; fail=1; }
}
