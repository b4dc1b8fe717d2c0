#!/usr/bin/env bash
# Runs the x86-64 musl release binary (the one for Alpine, ejabberd's official container) on this
# Debian machine: under musl's own loader (Debian's `musl` package: /lib/ld-musl-x86_64.so.1),
# with a libstdc++.so.6 for musl built here from GCC's libstdc++.a (Debian has no musl build of
# it; Alpine's `libstdc++` package is the same GCC library built against musl). Five glibc-only
# symbols that the archive refers to get small stand-ins (see shim.c below).
#
#   scripts/musl_smoke.sh [BINARY] [--blackbox]
#
# BINARY defaults to dist/release/xmpp-extauth-x86_64-unknown-linux-musl (deno task release
# --compiler bun --targets x86_64-unknown-linux-musl). It runs `check --self-test`; with
# --blackbox also tests/blackbox/blackbox_test.ts against it (the program serving a real HTTP API).
# Installs musl, musl-tools and libstdc++-12-dev when missing (root). The aarch64 musl binary is
# only header-checked (release.ts): Debian has no aarch64 musl to run it with under qemu.
# Prints "N passed, N failed" and exits 1 on a failure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/dist/release/xmpp-extauth-x86_64-unknown-linux-musl
BLACKBOX=0
for arg in "$@"; do
  case $arg in
    --blackbox) BLACKBOX=1 ;;
    *) BIN=$(cd "$(dirname "$arg")" && pwd)/$(basename "$arg") ;;
  esac
done
PASSED=0
FAILED=0
finish() {
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
}
[ -f "$BIN" ] || {
  echo "FAIL $BIN not found (deno task release --compiler bun --targets x86_64-unknown-linux-musl)"
  FAILED=1
  finish
}

LOADER=/lib/ld-musl-x86_64.so.1
need=()
[ -e "$LOADER" ] || need+=(musl)
command -v musl-gcc >/dev/null || need+=(musl-tools)
[ -f "$(gcc -print-file-name=libstdc++.a)" ] || need+=(libstdc++-12-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "# installing ${need[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"; } \
    </dev/null >/dev/null
fi

WORK=$(mktemp -d /tmp/xmpp-extauth-musl.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir "$WORK/lib"
MUSL_LIBC=$(readlink -f "$LOADER") # musl's libc.so is its loader too
ln -s "$MUSL_LIBC" "$WORK/lib/libc.musl-x86_64.so.1"
cat >"$WORK/shim.c" <<'EOF'
/* glibc-only symbols that Debian's libstdc++.a refers to, for linking it against musl. */
#include <locale.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/random.h>
#include <time.h>
char __libc_single_threaded = 0; /* "not known to be single-threaded": always lock */
uint32_t arc4random(void) {
  uint32_t v = 0;
  getrandom(&v, sizeof v, 0);
  return v;
}
/* -1: the unwinder falls back to dl_iterate_phdr, as on older glibc */
int _dl_find_object(void *pc, void *result) { (void)pc; (void)result; return -1; }
size_t __strftime_l(char *s, size_t n, const char *f, const struct tm *t, locale_t l) {
  return strftime_l(s, n, f, t, l);
}
/* thread_local destructors are not run: fine for a smoke test */
int __cxa_thread_atexit_impl(void (*fn)(void *), void *obj, void *dso) {
  (void)fn; (void)obj; (void)dso;
  return 0;
}
EOF
GCC_LIB=$(dirname "$(gcc -print-file-name=libstdc++.a)")
musl-gcc -fPIC -O2 -c "$WORK/shim.c" -o "$WORK/shim.o"
gcc -shared -nostdlib -o "$WORK/lib/libstdc++.so.6" -Wl,-soname,libstdc++.so.6 \
  "$GCC_LIB/crtbeginS.o" "$WORK/shim.o" \
  -Wl,--whole-archive "$GCC_LIB/libstdc++.a" -Wl,--no-whole-archive \
  "$GCC_LIB/libgcc_eh.a" "$GCC_LIB/libgcc.a" -L"$WORK/lib" -l:libc.musl-x86_64.so.1 \
  "$GCC_LIB/crtendS.o" -Wl,--no-undefined
cat >"$WORK/xmpp-extauth" <<EOF
#!/bin/sh
exec $LOADER --library-path $WORK/lib $BIN "\$@"
EOF
chmod 755 "$WORK/xmpp-extauth"
echo "# $("$WORK/xmpp-extauth" --version) under $LOADER ($(dpkg-query -W -f '${Version}' musl 2>/dev/null || echo '?')), libstdc++ from GCC $(gcc -dumpversion)"

if out=$("$WORK/xmpp-extauth" check --self-test 2>&1); then
  PASSED=$((PASSED + 1))
  echo "PASS musl binary: $out"
else
  FAILED=$((FAILED + 1))
  echo "FAIL musl binary: check --self-test: $out"
fi
if [ "$BLACKBOX" -eq 1 ]; then
  if (cd "$ROOT" && EXTAUTH_TEST_BINARY=$WORK/xmpp-extauth deno test --allow-all \
    tests/blackbox/blackbox_test.ts >"$WORK/blackbox.out" 2>&1); then
    PASSED=$((PASSED + 1))
    echo "PASS musl binary: tests/blackbox/blackbox_test.ts ($(grep -oE '[0-9]+ passed \([0-9]+ steps\)' "$WORK/blackbox.out" | tail -1))"
  else
    FAILED=$((FAILED + 1))
    echo "FAIL musl binary: tests/blackbox/blackbox_test.ts"
    tail -n 30 "$WORK/blackbox.out" | sed 's/^/#   /'
  fi
fi
finish
