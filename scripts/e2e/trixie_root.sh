# shellcheck shell=bash
# A Debian 13 (trixie) root for the end-to-end tests, sourced by scripts/e2e_trixie.sh.
#
# The root is made once with debootstrap from Debian's packages (the mirror the host's apt uses)
# and kept at $TRIXIE_ROOT (default /var/cache/xmpp-extauth-e2e/trixie), so a second run only
# mounts it. Inside: ejabberd, prosody, python3-slixmpp, lua-lpty and what the Prosody test needs to build
# lpty for Lua 5.4 (gcc, liblua5.4-dev). The root shares the host's network (127.0.0.1) and, once
# mounted, its /proc, /dev and /dev/pts.
#
# Functions (all need root):
#   trixie_create      debootstrap the root if it is missing (into ROOT.partial, then renamed)
#   trixie_mount       mount /proc, /dev, /dev/pts inside (recorded for trixie_umount)
#   trixie_packages    install the packages if the root's stamp does not list them all
#   trixie_stop_procs  end the processes whose root is $TRIXIE_ROOT (started by the tests in it)
#   trixie_umount      unmount what trixie_mount mounted, innermost first
#   trixie_run CMD...  run CMD inside the root with a clean environment

TRIXIE_ROOT=${E2E_TRIXIE_ROOT:-/var/cache/xmpp-extauth-e2e/trixie}
TRIXIE_PACKAGES="ejabberd prosody python3-slixmpp lua-lpty procps openssl gcc libc6-dev liblua5.4-dev"
TRIXIE_STAMP=$TRIXIE_ROOT/.xmpp-extauth-e2e-packages
TRIXIE_MOUNTED=()

# shellcheck source=apt_mirror.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt_mirror.sh"

trixie_create() {
  [ -x "$TRIXIE_ROOT/usr/bin/apt-get" ] && return 0
  local mirror partial=$TRIXIE_ROOT.partial
  mirror=$(debian_mirror)
  if ! command -v debootstrap >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
      --no-install-recommends debootstrap </dev/null >/dev/null || return 1
  fi
  rm -rf "$partial"
  mkdir -p "$(dirname "$TRIXIE_ROOT")"
  echo "# debootstrap --variant=minbase trixie $TRIXIE_ROOT $mirror"
  debootstrap --variant=minbase trixie "$partial" "$mirror" >"$partial.log" 2>&1 || {
    tail -n 5 "$partial.log" | sed 's/^/#   /'
    return 1
  }
  mv "$partial" "$TRIXIE_ROOT"
  mv "$partial.log" "$TRIXIE_ROOT/var/log/xmpp-extauth-debootstrap.log"
}

# What the tests need in /etc: name resolution for apt, localhost for ejabberd's node name and
# the clients, and no service started by a package's postinst (the tests start the servers).
trixie_etc() {
  cp -f /etc/resolv.conf "$TRIXIE_ROOT/etc/resolv.conf"
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
    >"$TRIXIE_ROOT/etc/hosts"
  printf '#!/bin/sh\n# written by xmpp-extauth'"'"'s e2e: packages start no services here\nexit 101\n' \
    >"$TRIXIE_ROOT/usr/sbin/policy-rc.d"
  chmod 755 "$TRIXIE_ROOT/usr/sbin/policy-rc.d"
}

_trixie_mount1() { # TARGET MOUNT-ARGS...
  local target=$TRIXIE_ROOT$1
  shift
  # a mount left by a killed run is reused, and unmounted at the end like ours
  if ! mountpoint -q "$target"; then mount "$@" "$target" || return 1; fi
  TRIXIE_MOUNTED+=("$target")
}

trixie_mount() {
  _trixie_mount1 /proc -t proc proc || return 1
  _trixie_mount1 /dev --bind /dev || return 1
  _trixie_mount1 /dev/pts --bind /dev/pts || return 1
}

trixie_run() {
  chroot "$TRIXIE_ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    LANG=C.UTF-8 TERM=dumb "$@"
}

trixie_packages() {
  trixie_etc
  if [ -f "$TRIXIE_STAMP" ] && [ "$(cat "$TRIXIE_STAMP")" = "$TRIXIE_PACKAGES" ]; then
    return 0
  fi
  echo "# installing in the trixie root: $TRIXIE_PACKAGES"
  # shellcheck disable=SC2086 # the list is words
  trixie_run sh -c "export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends $TRIXIE_PACKAGES" \
    </dev/null >"$TRIXIE_ROOT/var/log/xmpp-extauth-apt.log" 2>&1 || {
    tail -n 5 "$TRIXIE_ROOT/var/log/xmpp-extauth-apt.log" | sed 's/^/#   /'
    return 1
  }
  echo "$TRIXIE_PACKAGES" >"$TRIXIE_STAMP"
}

# The pids of processes running inside the root (their / is $TRIXIE_ROOT): the tests started
# them, nothing else runs there.
trixie_procs() {
  local p root want
  want=$(readlink -f "$TRIXIE_ROOT")
  for p in /proc/[0-9]*; do
    root=$(readlink "$p/root" 2>/dev/null) || continue
    [ "$root" = "$want" ] && echo "${p#/proc/}"
  done
}

trixie_stop_procs() {
  local pids i
  pids=$(trixie_procs | tr '\n' ' ')
  [ -z "$pids" ] && return 0
  echo "# ending processes left in the trixie root: $pids"
  # shellcheck disable=SC2086
  kill $pids 2>/dev/null
  # up to 30 s: a test script inside, on SIGTERM, stops its server and restores its config
  for i in $(seq 1 300); do
    [ -z "$(trixie_procs)" ] && return 0
    sleep 0.1
  done
  pids=$(trixie_procs | tr '\n' ' ')
  # shellcheck disable=SC2086
  [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
  return 0
}

trixie_umount() {
  local i target
  for ((i = ${#TRIXIE_MOUNTED[@]} - 1; i >= 0; i--)); do
    target=${TRIXIE_MOUNTED[$i]}
    mountpoint -q "$target" || continue
    umount "$target" 2>/dev/null || umount -l "$target" ||
      echo "# could not unmount $target"
  done
  TRIXIE_MOUNTED=()
}
