#!/usr/bin/env bash
# End-to-end test: a real Prosody (Debian package) with the real mod_auth_external_insecure
# (vendored: tests/fixtures/prosody/) and the real lpty, built here for the Lua Prosody runs on
# (Debian's lua-lpty has Lua 5.1/5.2 builds only), uses the compiled xmpp-extauth binary against
# a test HTTP API; a real XMPP client (slixmpp) logs in. Runs on the host (Debian 12: Prosody
# 0.12) and, through scripts/e2e_trixie.sh, in a Debian 13 root (Prosody 13).
#
#   scripts/e2e_prosody.sh [PATH_TO_BINARY]      (default: dist/xmpp-extauth)
#
# Needs root. It installs what is missing (prosody python3-slixmpp lua-lpty gcc libc6-dev
# liblua5.4-dev openssl procps; no service is started by the install), fetches lpty's source with
# `apt-get source` through a private apt configuration (a deb-src line for the system's mirror in
# a temp folder: the system's apt sources and lists are not touched), builds lpty.so and installs
# it as /usr/local/lib/lua/5.4/lpty.so, the place an admin would (removed again on exit unless it
# was there before). Prosody runs from a throw-away configuration on 127.0.0.1:E2E_PROSODY_PORT
# (5322) as user prosody, started and stopped by the driver; a Prosody the system runs is left
# alone. Prints PASS/FAIL per case and "N passed, N failed"; exits 1 on any failure.
# Environment: E2E_PROSODY_PORT (5322), E2E_KEEP=1 keeps the temp directory (logs) for debugging,
# E2E_RESTARTS (6) fresh starts for the start-up race.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_ARG=${1:-dist/xmpp-extauth}
case $BIN_ARG in /*) BIN_SRC=$BIN_ARG ;; *) BIN_SRC=$ROOT/$BIN_ARG ;; esac
C2S_PORT=${E2E_PROSODY_PORT:-5322}
RESTARTS=${E2E_RESTARTS:-6}
PY=/usr/bin/python3
MODULE_SRC=$ROOT/tests/fixtures/prosody/mod_auth_external_insecure.lua
SRC_CACHE=/var/cache/xmpp-extauth-e2e/src

# shellcheck source=e2e/report.sh
. "$ROOT/scripts/e2e/report.sh"

need_root "it installs packages and builds lpty"

T_START=$(date +%s)
WORK=""
LPTY_INSTALLED="" # the lpty.so this run installed (removed on exit)
POLICY_WRITTEN=0  # this run wrote /usr/sbin/policy-rc.d
CLEANED=0
DRIVER_PID=""

cleanup() {
  [ "$CLEANED" -eq 1 ] && return 0
  CLEANED=1
  set +e
  if [ -n "$DRIVER_PID" ] && kill -0 "$DRIVER_PID" 2>/dev/null; then kill "$DRIVER_PID"; fi
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    # a Prosody of this run still up (the driver was killed): its pidfile is in $WORK
    local pid
    pid=$(cat "$WORK/data/prosody.pid" 2>/dev/null)
    if [ -n "$pid" ] && grep -qF "$WORK/prosody.cfg.lua" "/proc/$pid/cmdline" 2>/dev/null; then
      note "stopping the Prosody left running (pid $pid)"
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null
    fi
    for pid in $(pgrep -f "^$WORK/xmpp-extauth" || true); do kill "$pid"; done
    if [ "$FAILED" -gt 0 ]; then
      for f in prosody.log extauth.log cases.err; do
        [ -s "$WORK/$f" ] || continue
        note "last lines of $f:"
        tail -n 25 "$WORK/$f" | sed 's/^/#   /'
      done
    fi
    if [ "${E2E_KEEP:-0}" = 1 ]; then note "kept $WORK"; else rm -rf "$WORK"; fi
  fi
  [ -n "$LPTY_INSTALLED" ] && rm -f "$LPTY_INSTALLED"
  [ "$POLICY_WRITTEN" -eq 1 ] && rm -f /usr/sbin/policy-rc.d
}
trap cleanup EXIT
trap 'note "interrupted"; exit 130' INT TERM HUP

# --- 1. the binary and the module -----------------------------------------------------------------
if [ ! -f "$BIN_SRC" ] || [ ! -x "$BIN_SRC" ]; then
  abort "setup: binary $BIN_SRC not found or not executable (build it: deno task build:bun)"
fi
[ -f "$MODULE_SRC" ] || abort "setup: $MODULE_SRC missing"

# --- 2. packages (no service started by their postinst) -------------------------------------------
need=()
command -v prosody >/dev/null 2>&1 || need+=(prosody)
"$PY" -c 'import slixmpp' >/dev/null 2>&1 || need+=(python3-slixmpp)
dpkg-query -W lua-lpty >/dev/null 2>&1 || need+=(lua-lpty) # to show what Debian's lpty covers
command -v gcc >/dev/null 2>&1 || need+=(gcc)
[ -f /usr/include/stdio.h ] || need+=(libc6-dev)
[ -f /usr/include/lua5.4/lua.h ] || need+=(liblua5.4-dev)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v pgrep >/dev/null 2>&1 || need+=(procps)
if [ ${#need[@]} -gt 0 ]; then
  note "installing ${need[*]}"
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    POLICY_WRITTEN=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get -o DPkg::Lock::Timeout=300 update -qq &&
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${need[@]}" \
      </dev/null >/dev/null; }; then
    abort "setup: apt-get install ${need[*]} failed"
  fi
  [ "$POLICY_WRITTEN" -eq 1 ] && rm -f /usr/sbin/policy-rc.d && POLICY_WRITTEN=0
fi
for tool in prosody setpriv pgrep timeout gcc openssl; do
  command -v "$tool" >/dev/null || abort "setup: $tool not found"
done
. /etc/os-release
PROSODY_VERSION=$(dpkg-query -W -f '${Version}' prosody 2>/dev/null || echo '?')
# the Lua Prosody runs on: its launcher's interpreter line, e.g. "#!/usr/bin/env lua5.4"
LUA=$(head -n 1 "$(command -v prosody)" | grep -o 'lua[0-9.]*$' || true)
LUA_V=${LUA#lua}
[ -n "$LUA_V" ] && command -v "$LUA" >/dev/null || abort "setup: cannot tell which Lua runs prosody"
note "Debian $VERSION_ID ($VERSION_CODENAME), prosody $PROSODY_VERSION on $LUA," \
  "slixmpp $("$PY" -c 'import slixmpp; print(slixmpp.__version__)')"

WORK=$(mktemp -d /tmp/xmpp-extauth-prosody-e2e.XXXXXX)
chmod 755 "$WORK"

# --- 3. lpty for Prosody's Lua --------------------------------------------------------------------
# Debian's lua-lpty ships /usr/lib/x86_64-linux-gnu/lua/5.1 and 5.2 builds only; the module's
# `require "lpty"` under Lua 5.4 finds nothing until one is built.
lpty_loads() { (cd / && setpriv --reuid=prosody --regid=prosody --init-groups \
  "$LUA" -e 'require "lpty"') >/dev/null 2>&1; }
LPTY_SO=/usr/local/lib/lua/$LUA_V/lpty.so
note "Debian's lua-lpty $(dpkg-query -W -f '${Version}' lua-lpty) has" \
  "$(dpkg -L lua-lpty | grep -o 'lua/5\.[0-9]*/lpty\.so' | tr '\n' ' ')"
if lpty_loads; then
  note "lpty already loads under $LUA (not built by this run)"
else
  # lpty's source through apt-get source with a deb-src line for the system's mirror, in a
  # private apt configuration (the system's sources.list and lists stay as they are)
  # shellcheck source=e2e/apt_mirror.sh
  . "$ROOT/scripts/e2e/apt_mirror.sh"
  MIRROR=$(debian_mirror)
  SRC=$SRC_CACHE/$VERSION_CODENAME
  if ! ls "$SRC"/lua-lpty_*.orig.tar.* >/dev/null 2>&1; then
    APT=$WORK/apt
    mkdir -p "$APT/lists/partial" "$SRC"
    echo "deb-src $MIRROR $VERSION_CODENAME main" >"$APT/sources.list"
    APT_OPTS=(-o "Dir::Etc::SourceList=$APT/sources.list" -o "Dir::Etc::SourceParts=$APT/none"
      -o "Dir::State::Lists=$APT/lists" -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
      -o "APT::Sandbox::User=root")
    apt-get "${APT_OPTS[@]}" update -qq >"$WORK/apt.log" 2>&1 ||
      abort "setup: apt-get update for deb-src $MIRROR $VERSION_CODENAME failed"
    # apt checks each file against the Sources index; only the upstream tarball is needed (the
    # Debian packaging adds no source patch to lpty.c)
    (cd "$SRC" && apt-get "${APT_OPTS[@]}" source --download-only lua-lpty) >>"$WORK/apt.log" 2>&1 ||
      true
    ls "$SRC"/lua-lpty_*.orig.tar.* >/dev/null 2>&1 ||
      abort "setup: apt-get source lua-lpty got no source ($(tail -n 1 "$WORK/apt.log"))"
  fi
  mkdir -p "$WORK/lpty"
  tar -xf "$(ls "$SRC"/lua-lpty_*.orig.tar.* | head -n 1)" -C "$WORK/lpty" --strip-components=1
  if ! gcc -O2 -fPIC -shared -I"/usr/include/lua$LUA_V" -o "$WORK/lpty/lpty.so" \
    "$WORK/lpty/lpty.c" >"$WORK/gcc.log" 2>&1; then
    abort "setup: building lpty for $LUA failed: $(grep -m1 error "$WORK/gcc.log")"
  fi
  [ -e "$LPTY_SO" ] && abort "setup: $LPTY_SO exists but does not load"
  install -D -m 644 "$WORK/lpty/lpty.so" "$LPTY_SO"
  LPTY_INSTALLED=$LPTY_SO
  if lpty_loads; then
    pass "lpty $(basename "$(ls "$SRC"/lua-lpty_*.orig.tar.*)" | sed 's/lua-lpty_\(.*\)\.orig.*/\1/')" \
      "built from Debian's source for $LUA, installed as $LPTY_SO, loads as user prosody"
  else
    abort "setup: the lpty built for $LUA does not load"
  fi
fi

# --- 4. the program, its wrapper, the module, a certificate, the configuration -------------------
API_PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
API_URL="http://127.0.0.1:$API_PORT/api"
BIN=$WORK/xmpp-extauth
cp "$BIN_SRC" "$BIN"
chmod 755 "$BIN"
install -d -o prosody -g prosody -m 750 "$WORK/data" "$WORK/log"
install -d -m 755 "$WORK/plugins"
install -m 644 "$MODULE_SRC" "$WORK/plugins/mod_auth_external_insecure.lua"
# external_auth_command is one path, no arguments: the options live in a wrapper. --timeout 1s
# --deadline 2s: an answer well inside the module's external_auth_timeout (3 s here).
cat >"$WORK/extauth.sh" <<EOF
#!/bin/sh
exec $BIN --protocol prosody --url $API_URL --timeout 1s --deadline 2s \\
  --log-level debug --log-file $WORK/log/extauth.log
EOF
chmod 755 "$WORK/extauth.sh"
if ! VERSION=$(cd / && setpriv --reuid=prosody --regid=prosody --init-groups "$BIN" --version 2>&1); then
  abort "setup: user prosody cannot run $BIN --version: $VERSION"
fi
note "binary $BIN_SRC ($VERSION)"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
  -keyout "$WORK/data/localhost.key" -out "$WORK/data/localhost.crt" >/dev/null 2>&1 ||
  abort "setup: openssl could not make a certificate"
chown prosody:prosody "$WORK/data/localhost.key" "$WORK/data/localhost.crt"
cat >"$WORK/prosody.cfg.lua" <<EOF
-- Throw-away configuration written by scripts/e2e_prosody.sh
pidfile = "$WORK/data/prosody.pid"
data_path = "$WORK/data"
plugin_paths = { "$WORK/plugins" }
-- info, not debug: Prosody's debug log shows stanzas, and a password change carries the password
log = { info = "$WORK/log/prosody.log" }
interfaces = { "127.0.0.1" }
c2s_ports = { $C2S_PORT }
modules_enabled = { "saslauth", "tls", "register", "disco", "ping" }
modules_disabled = { "s2s" }
allow_registration = false
c2s_require_encryption = true
ssl = { key = "$WORK/data/localhost.key", certificate = "$WORK/data/localhost.crt" }
authentication = "external_insecure"
external_auth_command = "$WORK/extauth.sh"
external_auth_timeout = 3
VirtualHost "localhost"
EOF
chmod 644 "$WORK/prosody.cfg.lua"
ln -s log/prosody.log "$WORK/prosody.log"
ln -s log/extauth.log "$WORK/extauth.log"
if "$PY" - "$C2S_PORT" <<'EOF'; then :; else abort "setup: 127.0.0.1:$C2S_PORT is in use"; fi
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
EOF

# --- 5. the cases (the driver starts and stops Prosody) -------------------------------------------
PROSODY_CMD=$("$PY" -c 'import json, sys; print(json.dumps(sys.argv[1:]))' \
  setpriv --reuid=prosody --regid=prosody --init-groups prosody -F --config "$WORK/prosody.cfg.lua")
OUT=$WORK/cases.out
set +e
(cd "$WORK" && exec timeout -k 5 300 "$PY" -B "$ROOT/scripts/e2e/prosody_cases.py" --budget 240 \
  --api-port "$API_PORT" --c2s-port "$C2S_PORT" --binary "$BIN" --restarts "$RESTARTS" \
  --prosody-cmd "$PROSODY_CMD" --prosody-log "$WORK/log/prosody.log") 2>"$WORK/cases.err" |
  tee "$OUT"
DRIVER_RC=${PIPESTATUS[0]}
set -e
PASSED=$((PASSED + $(grep -c '^PASS ' "$OUT" || true)))
FAILED=$((FAILED + $(grep -c '^FAIL ' "$OUT" || true)))
if [ "$DRIVER_RC" -eq 124 ] || [ "$DRIVER_RC" -eq 137 ]; then
  fail "driver killed after 300s"
elif [ "$DRIVER_RC" -ne 0 ] && ! grep -q '^FAIL ' "$OUT"; then
  fail "driver exited with status $DRIVER_RC"
fi
if [ -s "$WORK/cases.err" ]; then
  note "driver stderr:"
  tail -n 20 "$WORK/cases.err" | sed 's/^/#   /'
fi
left=$(pgrep -f "^$WORK/xmpp-extauth" | tr '\n' ' ' || true)
if [ -n "$left" ]; then fail "xmpp-extauth processes left after the run: $left"; fi

cleanup
note "total $(($(date +%s) - T_START))s"
finish
