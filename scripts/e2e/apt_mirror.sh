# shellcheck shell=bash
# debian_mirror: the Debian mirror this system's apt uses (a deb822 "URIs:" line or a one-line
# "deb URI suite" entry whose URI ends in /debian), or http://deb.debian.org/debian. Security and
# third-party sources are skipped. Sourced by scripts/e2e/trixie_root.sh and e2e_prosody.sh.
debian_mirror() {
  local uri
  uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk 'tolower($1) == "uris:" && $2 ~ /\/debian\/?$/ { print $2; exit }')
  if [ -z "$uri" ]; then
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk '$1 == "deb" && $2 ~ /\/debian\/?$/ { print $2; exit }')
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}
