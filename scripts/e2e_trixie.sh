#!/usr/bin/env bash
# The end-to-end tests on Debian 13 (trixie) servers: ejabberd 24.12 and Prosody 13, in a trixie
# root made with debootstrap from Debian's packages and kept at /var/cache/xmpp-extauth-e2e/trixie
# (E2E_TRIXIE_ROOT), so only the first run pays for it. Inside the root it runs the same scripts
# as on the host, scripts/e2e_ejabberd.sh (the cases of scripts/e2e/cases.py) and
# scripts/e2e_prosody.sh, with the compiled binary.
#
#   scripts/e2e_trixie.sh [all|ejabberd|prosody] [PATH_TO_BINARY]   (default: all dist/xmpp-extauth)
#
# Needs root. The root shares the host's network: ejabberd inside listens on 127.0.0.1:5222 and
# uses epmd's 4369, so no ejabberd may run on the host (this script refuses to start if one does);
# run it under the same lock as `deno task e2e`: flock /tmp/ejabberd-e2e.lock deno task e2e:trixie.
# On exit (always) the processes left in the root are ended and /proc, /dev, /dev/pts unmounted.
# Prints PASS/FAIL per case and ends with "N passed, N failed"; exits 1 on any failure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WHAT=all
case ${1:-} in all | ejabberd | prosody) WHAT=$1 && shift ;; esac
BIN_ARG=${1:-dist/xmpp-extauth}
case $BIN_ARG in /*) BIN_SRC=$BIN_ARG ;; *) BIN_SRC=$ROOT/$BIN_ARG ;; esac
# shellcheck source=e2e/trixie_root.sh
. "$ROOT/scripts/e2e/trixie_root.sh"
INNER=/opt/xmpp-extauth-e2e # the repository's test files, inside the root

# shellcheck source=e2e/report.sh
. "$ROOT/scripts/e2e/report.sh"

need_root "debootstrap, chroot, mounts"

T_START=$(date +%s)
CLEANED=0
cleanup() {
  [ "$CLEANED" -eq 1 ] && return 0
  CLEANED=1
  set +e
  trixie_stop_procs
  rm -rf "${TRIXIE_ROOT:?}$INNER"
  trixie_umount
}
trap cleanup EXIT
trap 'note "interrupted"; exit 130' INT TERM HUP

[ -x "$BIN_SRC" ] || abort "setup: binary $BIN_SRC not found (build it: deno task build:bun)"
# the host's ejabberd would share 127.0.0.1:5222 and epmd's node name ejabberd@localhost
host_beam=$({ pgrep -f 'beam.smp.*-sname ejabberd' || true; } | while read -r p; do
  [ "$(readlink "/proc/$p/root")" = / ] && echo "$p"
done | tr '\n' ' ')
[ -z "$host_beam" ] || abort "setup: ejabberd runs on the host (pids $host_beam); stop it first"

T0=$(date +%s)
if [ -x "$TRIXIE_ROOT/usr/bin/apt-get" ]; then
  note "reusing the trixie root $TRIXIE_ROOT"
else
  trixie_create || abort "setup: debootstrap trixie failed"
fi
trixie_mount || abort "setup: cannot mount /proc, /dev, /dev/pts in $TRIXIE_ROOT"
trixie_packages || abort "setup: apt-get install in the trixie root failed"
note "trixie root ready in $(($(date +%s) - T0))s: $(trixie_run dpkg-query -W -f '${Package} ${Version}, ' \
  ejabberd prosody python3-slixmpp)"

rm -rf "${TRIXIE_ROOT:?}$INNER"
mkdir -p "$TRIXIE_ROOT$INNER/scripts/e2e" "$TRIXIE_ROOT$INNER/tests/fixtures/prosody"
cp "$ROOT/scripts/e2e_ejabberd.sh" "$ROOT/scripts/e2e_prosody.sh" "$TRIXIE_ROOT$INNER/scripts/"
cp "$ROOT"/scripts/e2e/*.py "$ROOT"/scripts/e2e/*.sh "$TRIXIE_ROOT$INNER/scripts/e2e/"
cp "$ROOT"/tests/fixtures/prosody/* "$TRIXIE_ROOT$INNER/tests/fixtures/prosody/"
cp "$BIN_SRC" "$TRIXIE_ROOT$INNER/xmpp-extauth"
chmod -R a+rX "$TRIXIE_ROOT$INNER"

run_inner() { # NAME SCRIPT: run one of the e2e scripts inside the root, count its cases
  local name=$1 script=$2 out rc t
  out=$(mktemp)
  t=$(date +%s)
  note "== $name (Debian 13)"
  # in the background and waited for, so that a SIGTERM to this script is handled at once (bash
  # runs a trap only after the foreground command): cleanup then ends the test script inside,
  # whose own trap stops its server and restores its configuration
  set +e
  trixie_run bash "$INNER/scripts/$script" "$INNER/xmpp-extauth" </dev/null > >(tee "$out") 2>&1 &
  wait $!
  rc=$?
  set -e
  PASSED=$((PASSED + $(grep -c '^PASS ' "$out" || true)))
  FAILED=$((FAILED + $(grep -c '^FAIL ' "$out" || true)))
  if [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' "$out"; then fail "$name: exited with status $rc"; fi
  note "$name took $(($(date +%s) - t))s"
  rm -f "$out"
}
case $WHAT in all | ejabberd) run_inner ejabberd e2e_ejabberd.sh ;; esac
case $WHAT in all | prosody) run_inner prosody e2e_prosody.sh ;; esac

cleanup
if mount | grep -qF " $TRIXIE_ROOT/"; then fail "mounts left in $TRIXIE_ROOT"; fi
note "total $(($(date +%s) - T_START))s"
finish
