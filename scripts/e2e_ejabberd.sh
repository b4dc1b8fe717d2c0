#!/usr/bin/env bash
# End-to-end test: a real ejabberd (Debian package) uses the compiled xmpp-extauth binary against
# a test HTTP API, driven by ejabberdctl and real XMPP client logins (slixmpp).
#
#   scripts/e2e_ejabberd.sh [PATH_TO_BINARY]      (default: dist/xmpp-extauth)
#
# Needs root: it installs ejabberd and python3-slixmpp when missing, temporarily replaces
# /etc/ejabberd/ejabberd.yml and starts/stops the system's ejabberd. On exit (always) it stops
# ejabberd, puts the original configuration back and removes its temp directory.
# Prints PASS/FAIL per case and ends with the line "N passed, N failed"; exits 1 on any failure.
# Environment: E2E_C2S_PORT (5222), E2E_KEEP=1 keeps the temp directory (program log) for debugging.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_ARG=${1:-dist/xmpp-extauth}
case $BIN_ARG in /*) BIN_SRC=$BIN_ARG ;; *) BIN_SRC=$ROOT/$BIN_ARG ;; esac
C2S_PORT=${E2E_C2S_PORT:-5222}
CONF=/etc/ejabberd/ejabberd.yml
BACKUP=/etc/ejabberd/ejabberd.yml.xmpp-extauth-e2e.orig
EJ_LOG=/var/log/ejabberd/ejabberd.log
PY=/usr/bin/python3

# shellcheck source=e2e/report.sh
. "$ROOT/scripts/e2e/report.sh"
ms() { echo $(($(date +%s%N) / 1000000)); }

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    exec sudo -n -E bash "$0" "$@"
  fi
  echo "e2e_ejabberd.sh must run as root (it installs packages and drives the system ejabberd)" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

T_START=$(date +%s)
WORK=""
STARTED=0          # we started ejabberd
CONF_REPLACED=0    # /etc/ejabberd/ejabberd.yml is our test config
RESTART_AFTER=""   # how to restart an ejabberd that was running before us
CLEANED=0

alive() { # pid exists and is not a zombie (containers without an init may never reap them)
  local st
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}
ejabberd_up() { ejabberdctl status >/dev/null 2>&1; }
beam_pids() { pgrep -u ejabberd -f 'beam.smp.*-sname ejabberd' || true; }

stop_ejabberd() {
  if ejabberd_up; then
    ejabberdctl stop >/dev/null 2>&1 || true
    timeout 90 ejabberdctl stopped >/dev/null 2>&1 || true
  fi
  # ejabberdctl stopped returns once the node is unreachable; wait for the VM itself to exit
  local i
  for i in $(seq 1 100); do
    [ -z "$(beam_pids)" ] && return 0
    sleep 0.1
  done
  return 1
}

cleanup() {
  [ "$CLEANED" -eq 1 ] && return 0
  CLEANED=1
  set +e
  if [ "$STARTED" -eq 1 ]; then
    stop_ejabberd || note "an ejabberd VM is still running: $(beam_pids)"
  fi
  # the fallback log of nolog.localhost's program, unless it was there before the test
  [ "${FALLBACK_EXISTED:-1}" -eq 0 ] && rm -f "$FALLBACK_LOG"
  if [ "$CONF_REPLACED" -eq 1 ] && [ -f "$BACKUP" ]; then
    mv -f "$BACKUP" "$CONF"
  fi
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    if [ "$FAILED" -gt 0 ] && [ -s "$WORK/extauth.log" ]; then
      note "last lines of the program's log ($WORK/extauth.log):"
      tail -n 30 "$WORK/extauth.log" | sed 's/^/#   /'
    fi
    if [ "$FAILED" -gt 0 ] && [ -s "$WORK/extauth-pool.log" ]; then
      note "last lines of the pool.localhost program's log ($WORK/extauth-pool.log):"
      tail -n 30 "$WORK/extauth-pool.log" | sed 's/^/#   /'
    fi
    if [ "${E2E_KEEP:-0}" = 1 ]; then note "kept $WORK"; else rm -rf "$WORK"; fi
  fi
  if [ -n "$RESTART_AFTER" ]; then
    note "restarting the ejabberd that was running before the test"
    $RESTART_AFTER >/dev/null 2>&1 || note "could not restart ejabberd ($RESTART_AFTER)"
  else
    # as 'ejabberdctl stopped' does: no node left, no epmd (ejabberdctl calls start one)
    epmd -names 2>/dev/null | grep -q name || epmd -kill >/dev/null 2>&1
  fi
}
trap cleanup EXIT
trap 'note "interrupted"; exit 130' INT TERM HUP

# --- 1. the binary --------------------------------------------------------------------------------
if [ ! -f "$BIN_SRC" ] || [ ! -x "$BIN_SRC" ]; then
  abort "setup: binary $BIN_SRC not found or not executable (build it: deno task build:bun)"
fi

# --- 2. packages ----------------------------------------------------------------------------------
need=()
command -v ejabberdctl >/dev/null 2>&1 || need+=(ejabberd)
"$PY" -c 'import slixmpp' >/dev/null 2>&1 || need+=(python3-slixmpp)
command -v pgrep >/dev/null 2>&1 || need+=(procps)
INSTALLED_NOW=0
if [ ${#need[@]} -gt 0 ]; then
  note "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq &&
    apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null >/dev/null; }; then
    abort "setup: apt-get install ${need[*]} failed"
  fi
  case " ${need[*]} " in *" ejabberd "*) INSTALLED_NOW=1 ;; esac
fi
for tool in ejabberdctl pgrep runuser timeout; do
  command -v "$tool" >/dev/null || abort "setup: $tool not found"
done
EJ_VERSION=$(dpkg-query -W -f '${Version}' ejabberd 2>/dev/null || echo '?')
note "ejabberd $EJ_VERSION, slixmpp $("$PY" -c 'import slixmpp; print(slixmpp.__version__)')"

# --- 3. a clean slate: undo a stale run, stop any running ejabberd --------------------------------
if [ -f "$BACKUP" ]; then
  note "found $BACKUP from an interrupted run: restoring it"
  mv -f "$BACKUP" "$CONF"
  STALE=1
else
  STALE=0
fi
if command -v systemctl >/dev/null && systemctl is-active --quiet ejabberd 2>/dev/null; then
  note "stopping ejabberd.service for the test"
  systemctl stop ejabberd || true
  [ "$STALE" -eq 0 ] && [ "$INSTALLED_NOW" -eq 0 ] && RESTART_AFTER="systemctl start ejabberd"
fi
if ejabberd_up || [ -n "$(beam_pids)" ]; then
  note "stopping the running ejabberd node for the test"
  [ "$STALE" -eq 0 ] && [ "$INSTALLED_NOW" -eq 0 ] && [ -z "$RESTART_AFTER" ] &&
    RESTART_AFTER="ejabberdctl start"
  STARTED=1 # so that cleanup stops whatever is left
  stop_ejabberd || abort "setup: cannot stop the running ejabberd (pids $(beam_pids))"
  STARTED=0
fi
for stale in /tmp/xmpp-extauth-e2e.*; do # temp dirs of runs that were killed
  [ -d "$stale" ] || continue
  pgrep -f "$stale/" >/dev/null || rm -rf "$stale"
done
if "$PY" - "$C2S_PORT" <<'EOF'; then :; else abort "setup: 127.0.0.1:$C2S_PORT is in use"; fi
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
EOF

# --- 4. the binary where user ejabberd can run it -------------------------------------------------
WORK=$(mktemp -d /tmp/xmpp-extauth-e2e.XXXXXX)
chmod 755 "$WORK"
BIN=$WORK/xmpp-extauth
cp "$BIN_SRC" "$BIN"
chmod 755 "$BIN"
install -o ejabberd -g ejabberd -m 600 /dev/null "$WORK/extauth.log"
# host pool.localhost runs the same binary under another name (the startup case counts the main
# pool's processes by path), with the outage cache file in a directory only ejabberd can write
POOL_BIN=$WORK/xmpp-extauth-pool
ln "$BIN" "$POOL_BIN"
install -d -o ejabberd -g ejabberd -m 700 "$WORK/cache"
install -o ejabberd -g ejabberd -m 600 /dev/null "$WORK/extauth-pool.log"
if ! VERSION=$(cd / && runuser -u ejabberd -- "$BIN" --version 2>&1); then
  abort "setup: user ejabberd cannot run $BIN --version: $VERSION"
fi
note "binary $BIN_SRC ($VERSION)"

# --- 5. configuration -----------------------------------------------------------------------------
API_PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
API_URL="http://127.0.0.1:$API_PORT/api"
# --timeout 2s --deadline 6s: a slow API is given up on long before ejabberd's 30 s.
# --breaker-failures 3 --breaker-cooldown 3s: the long-outage case opens the breaker.
PROGRAM="$BIN --url $API_URL --timeout 2s --deadline 6s --breaker-failures 3 --breaker-cooldown 3s"
PROGRAM="$PROGRAM --log-level debug --log-file $WORK/extauth.log"
# Logging cases (at the end of cases.py), each host with its own name for the binary so that the
# main cases, which count "$BIN" processes, do not see them:
# - nolog.localhost: no --log-file; under 'ejabberdctl start' stderr is /dev/null, so the program
#   logs beside ejabberd's log ($EJABBERD_LOG_PATH's folder): /var/log/ejabberd/xmpp-extauth.log.
# - typo.localhost: a wrapper that, once after the case drops a flag, starts the program with a
#   typo (--tiemout): ejabberd logs "Failed to start external authentication program", the
#   program's --log-file says why. Pool 3: ejabberd's pool supervisor allows pool-size restarts
#   a second, the case causes two.
ln -s "$BIN" "$WORK/xmpp-extauth-nolog"
ln -s "$BIN" "$WORK/xmpp-extauth-typo"
install -d -o ejabberd -g ejabberd -m 700 "$WORK/flags"
install -o ejabberd -g ejabberd -m 600 /dev/null "$WORK/typo.log"
FALLBACK_LOG=$(dirname "$EJ_LOG")/xmpp-extauth.log
if [ -e "$FALLBACK_LOG" ]; then FALLBACK_EXISTED=1; else FALLBACK_EXISTED=0; fi
cat >"$WORK/typo.sh" <<TYPO
#!/bin/sh
if [ -e $WORK/flags/typo ]; then
  rm -f $WORK/flags/typo
  exec $WORK/xmpp-extauth-typo --url $API_URL --tiemout 3s --log-file $WORK/typo.log
fi
exec $WORK/xmpp-extauth-typo --url $API_URL --timeout 2s --deadline 6s --log-file $WORK/typo.log
TYPO
chmod 755 "$WORK/typo.sh"
POOL_PROGRAM="$POOL_BIN --url $API_URL --timeout 2s --deadline 6s --stale-ttl 1h"
POOL_PROGRAM="$POOL_PROGRAM --cache-file $WORK/cache/pool.db --log-level debug"
POOL_PROGRAM="$POOL_PROGRAM --log-file $WORK/extauth-pool.log"
cat >"$WORK/ejabberd.yml" <<EOF
# Throw-away configuration written by scripts/e2e_ejabberd.sh
loglevel: info
log_rotate_count: 0
hosts:
  - localhost
  - cached.localhost
  - nolog.localhost
  - typo.localhost
  - pool.localhost
certfiles:
  - /etc/ejabberd/ejabberd.pem
listen:
  -
    port: $C2S_PORT
    ip: "127.0.0.1"
    module: ejabberd_c2s
    max_stanza_size: 262144
    starttls_required: true
auth_method: [external]
extauth_program: "$PROGRAM"
extauth_pool_size: 4
# every login on localhost reaches the program
auth_use_cache: false
host_config:
  cached.localhost:
    # ejabberd's default auth cache (auth_cache_missed: true) for the API-down case
    auth_use_cache: true
    extauth_pool_size: 1
  nolog.localhost:
    extauth_program: "$WORK/xmpp-extauth-nolog --url $API_URL --timeout 2s --deadline 6s"
    extauth_pool_size: 1
  typo.localhost:
    extauth_program: "$WORK/typo.sh"
    extauth_pool_size: 3
  pool.localhost:
    # the outage cache shared by a pool of 4 and kept across restarts (--cache-file)
    extauth_program: "$POOL_PROGRAM"
    extauth_pool_size: 4
    auth_use_cache: false
acl:
  admin:
    user: []
access_rules:
  c2s:
    allow: all
api_permissions:
  "console commands":
    from:
      - ejabberd_ctl
    who: all
    what: "*"
modules:
  mod_admin_extra: {}
EOF
cp -a "$CONF" "$BACKUP"
CONF_REPLACED=1
install -o ejabberd -g ejabberd -m 600 "$WORK/ejabberd.yml" "$CONF"
# ejabberdctl needs /run/ejabberd (pid file) owned by ejabberd; /run may be a fresh tmpfs
[ -d /run/ejabberd ] || mkdir -p /run/ejabberd
chown ejabberd:ejabberd /run/ejabberd
[ -d /var/log/ejabberd ] || install -d -o ejabberd -g ejabberd -m 750 /var/log/ejabberd
LOG_OFFSET=$(stat -c %s "$EJ_LOG" 2>/dev/null || echo 0)

# --- 6. start ejabberd ----------------------------------------------------------------------------
T0=$(ms)
STARTED=1
ejabberdctl start >/dev/null 2>&1 || abort "setup: ejabberdctl start failed"
timeout 90 ejabberdctl started >/dev/null 2>&1 || {
  tail -c +$((LOG_OFFSET + 1)) "$EJ_LOG" 2>/dev/null | grep -E 'error|critical' | tail -n 10 |
    sed 's/^/#   /'
  abort "setup: ejabberd did not start"
}
if tail -c +$((LOG_OFFSET + 1)) "$EJ_LOG" | grep -q "Loading configuration from $CONF" &&
  ejabberdctl status >/dev/null 2>&1; then
  pass "ejabberd started with the test configuration ($(($(ms) - T0)) ms)"
else
  abort "setup: the running ejabberd did not load $CONF in this run"
fi

# --- 7. the cases ---------------------------------------------------------------------------------
OUT=$WORK/cases.out
set +e
timeout -k 5 420 "$PY" -B "$ROOT/scripts/e2e/cases.py" --budget 360 \
  --api-port "$API_PORT" --api-base-path /api --binary "$BIN" --c2s-port "$C2S_PORT" \
  --ejabberd-log "$EJ_LOG" --log-offset "$LOG_OFFSET" --extauth-log "$WORK/extauth.log" \
  --work-dir "$WORK" --fallback-log "$FALLBACK_LOG" \
  --pool-binary "$POOL_BIN" --pool-log "$WORK/extauth-pool.log" --cache-file "$WORK/cache/pool.db" \
  2>"$WORK/cases.err" | tee "$OUT"
DRIVER_RC=${PIPESTATUS[0]}
set -e
PASSED=$((PASSED + $(grep -c '^PASS ' "$OUT" || true)))
FAILED=$((FAILED + $(grep -c '^FAIL ' "$OUT" || true)))
if [ "$DRIVER_RC" -eq 124 ] || [ "$DRIVER_RC" -eq 137 ]; then
  fail "driver killed after 240s"
elif [ "$DRIVER_RC" -ne 0 ] && ! grep -q '^FAIL ' "$OUT"; then
  fail "driver exited with status $DRIVER_RC"
fi
if [ -s "$WORK/cases.err" ]; then
  note "driver stderr:"
  tail -n 20 "$WORK/cases.err" | sed 's/^/#   /'
fi

# --- 8. stop: the program must exit on EOF --------------------------------------------------------
PIDS=$(pgrep -u ejabberd -f "$BIN(-pool)? --url" | tr '\n' ' ' || true)
if [ -z "$PIDS" ]; then
  fail "no extauth process was running before ejabberd stopped"
fi
if stop_ejabberd; then
  STARTED=0
  left=""
  for _ in $(seq 1 50); do
    left=""
    for p in $PIDS; do alive "$p" && left="$left $p"; done
    [ -z "$left" ] && break
    sleep 0.1
  done
  if [ -z "$PIDS" ]; then
    : # already counted as a failure
  elif [ -z "$left" ]; then
    pass "ejabberd stopped and all extauth processes exited (pids $PIDS)"
  else
    fail "extauth processes did not exit on EOF after ejabberd stopped:$left"
    for p in $left; do kill "$p" 2>/dev/null || true; done
  fi
else
  fail "ejabberd did not stop (pids $(beam_pids))"
fi

cleanup
note "total $(($(date +%s) - T_START))s"
finish
