# shellcheck shell=bash
# What every e2e script shares: one PASS/FAIL line per case, `N passed, N failed` at the end
# (the plain closing line CI reads), and the refusal to run without root. Sourced, not run:
# the script defines `cleanup` before calling `abort`.

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $*"; }
note() { echo "# $*"; }
finish() {
  echo "$PASSED passed, $FAILED failed"
  if [ "$FAILED" -eq 0 ]; then exit 0; else exit 1; fi
}
abort() { # a setup step failed: count it, clean up, print the summary
  fail "$*"
  cleanup
  finish
}
# need_root WHY: stop with one failed case unless root.
need_root() {
  [ "$(id -u)" -eq 0 ] && return 0
  echo "$(basename "$0") must run as root ($*)" >&2
  echo "0 passed, 1 failed"
  exit 1
}
