#!/usr/bin/env bash
# Checks the Debian package as an operator meets it, on this (throw-away CI)
# machine, as root: its contents and modes, the unit (systemd-analyze verify), the
# installation (system user, directories and their modes), `config check` on the
# installed configuration before and after the PKI is in place, the gateway
# started by the service user from the installed files, and a purge that keeps
# the records. Leaves the machine as it found it.
#
#   packaging/debian/check.sh target/debian/lienthong_<version>-1_<arch>.deb
set -euo pipefail
deb=$(realpath "$1")
fail() { echo "check.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "run as root (it installs the package)"
if dpkg -s lienthong >/dev/null 2>&1; then
    fail "lienthong is already installed here; not touching it"
fi

# Contents and modes.
listing=$(dpkg-deb -c "$deb")
expect() {
    grep -qE "^$1 (root/root|0/0) +[0-9]+ [0-9-]+ [0-9:]+ \./$2\$" <<<"$listing" \
        || fail "the package lacks $2 with mode $1"
}
expect '-rwxr-xr-x' 'usr/bin/lienthong'
expect '-rw-r-----' 'etc/lienthong/lienthong.toml'
expect '-rw-r-----' 'etc/lienthong/policy.toml'
expect '-rw-r--r--' 'usr/lib/systemd/system/lienthong.service'
expect '-rw-r--r--' 'usr/share/man/man1/lienthong.1.gz'
expect '-rw-r--r--' 'usr/share/bash-completion/completions/lienthong'
expect '-rw-r--r--' 'usr/share/zsh/vendor-completions/_lienthong'
expect '-rw-r--r--' 'usr/share/fish/vendor_completions.d/lienthong.fish'
conffiles=$(dpkg-deb -I "$deb" conffiles)
for f in /etc/lienthong/lienthong.toml /etc/lienthong/policy.toml; do
    grep -qx "$f" <<<"$conffiles" || fail "$f is not a conffile (an upgrade would overwrite it)"
done
if dpkg-deb -c "$deb" | grep -q 'certs/.*\.key'; then
    fail "the package carries a private key"
fi

cleanup() {
    dpkg --purge lienthong >/dev/null 2>&1 || true
    rm -rf /var/lib/lienthong /etc/lienthong
    [ -n "${gateway:-}" ] && kill "$gateway" 2>/dev/null || true
}
trap cleanup EXIT

# Installation: the user, the directories, the modes.
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >/dev/null
getent passwd lienthong | grep -q ':/var/lib/lienthong:/usr/sbin/nologin$' \
    || fail "no system user lienthong with home /var/lib/lienthong and no shell"
uid=$(id -u lienthong)
[ "$uid" -lt 1000 ] || fail "lienthong is not a system user (uid $uid)"
[ "$(stat -c '%U:%G %a' /var/lib/lienthong)" = "lienthong:lienthong 750" ] \
    || fail "/var/lib/lienthong: $(stat -c '%U:%G %a' /var/lib/lienthong)"
[ "$(stat -c '%U:%G %a' /etc/lienthong/lienthong.toml)" = "root:lienthong 640" ] \
    || fail "/etc/lienthong/lienthong.toml: $(stat -c '%U:%G %a' /etc/lienthong/lienthong.toml)"
man -w lienthong >/dev/null 2>&1 || [ -f /usr/share/man/man1/lienthong.1.gz ] || fail "no man page"
systemd-analyze verify /usr/lib/systemd/system/lienthong.service

# The installed configuration is the production one, and it says what is missing.
grep -qx 'generate_dev_pki = false' /etc/lienthong/lienthong.toml || fail "a development PKI would be generated"
if out=$(lienthong config check /etc/lienthong/lienthong.toml 2>&1); then
    fail "config check passed without certificates: $out"
fi
grep -q '/etc/lienthong/certs' <<<"$out" || fail "config check did not name the missing certificates: $out"

# The province's PKI in place (here a generated one, readable by the group), the
# check passes, and the service user runs the gateway from the installed files.
lienthong pki init --certs-dir /etc/lienthong/certs >/dev/null
chown -R root:lienthong /etc/lienthong/certs
chmod -R g+rX /etc/lienthong/certs
out=$(runuser -u lienthong -- lienthong config check /etc/lienthong/lienthong.toml) \
    || fail "config check failed with the PKI in place: $out"
grep -q 'valid' <<<"$out" || fail "config check: $out"
# setpriv execs the gateway in place (no parent in between), so $! is its PID.
(cd /var/lib/lienthong && exec setpriv --reuid=lienthong --regid=lienthong --init-groups lienthong serve \
    --config /etc/lienthong/lienthong.toml --listen 127.0.0.1:0 --admin-listen 127.0.0.1:59464 \
    >/dev/null 2>&1) &
gateway=$!
for _ in $(seq 1 100); do
    if curl -fsS http://127.0.0.1:59464/healthz >/dev/null 2>&1; then
        break
    fi
    sleep 0.1
done
curl -fsS http://127.0.0.1:59464/healthz >/dev/null || fail "the installed gateway did not come up"
[ -f /var/lib/lienthong/ledger.redb ] || fail "no ledger in /var/lib/lienthong"
[ "$(stat -c '%U' /var/lib/lienthong/ledger.redb)" = lienthong ] || fail "the ledger is not the service user's"
kill -TERM "$gateway"
wait "$gateway" 2>/dev/null || true
gateway=""

# A purge removes the user and keeps the records.
dpkg --purge lienthong >/dev/null
! getent passwd lienthong >/dev/null || fail "the user lienthong is still there after a purge"
[ -f /var/lib/lienthong/ledger.redb ] || fail "a purge deleted the audit log"
echo "check.sh: $(basename "$deb"): contents, unit, installation, configuration, start and purge as expected"
