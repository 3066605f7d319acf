#!/usr/bin/env bash
# The README's two commands on a fresh Debian 12 machine: a new root file system
# (an overlay on the cached debootstrap base, so the base stays untouched),
# this checkout copied in, then, as root inside it:
#   1. scripts/setup                      the agent's own install step; then the
#      packaged default checks OK and `unshare -n .venv/bin/journalban run`
#      starts (a minimal Debian has no /etc/services: that is tested here too)
#   2. scripts/setup --test               the test suite's install step; then every
#      tool of tests/support/tools.py is on PATH, every test module imports, and
#      the packaging tests pass there (makepkg as an unprivileged user ...).
# Called by tests/support/fresh_root.py inside `unshare --mount --pid --fork`:
# every mount and process made here ends with that namespace.
#   fresh_setup.sh BASE WORK CHECKOUT CACHE
# WORK holds tools.txt and modules.txt (what to look for) and files (the
# checkout's files to copy, NUL-separated).
set -euo pipefail
base=$1 work=$2 checkout=$3 cache=$4
root=$work/root

# pip's cache is the machine's own (scripts/setup on the machine filled it).
pip_cache=${PIP_CACHE_DIR:-/root/.cache/pip}
mkdir -p "$work/mem" "$root" "$cache/apt-archives/partial" "$pip_cache"
mount --make-rprivate /
# Everything written lives in memory and is gone with the namespace: nothing
# to delete afterwards, and dpkg's syncs cost nothing.
mount -t tmpfs -o size=6g tmpfs "$work/mem"
mkdir -p "$work/mem/upper" "$work/mem/overlay-work"
mount -t overlay overlay \
  -o "lowerdir=$base,upperdir=$work/mem/upper,workdir=$work/mem/overlay-work" "$root"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/run"
mount -t tmpfs tmpfs "$root/tmp"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# Downloads only (apt checks each .deb against the fresh package lists; the
# machine's own are linked in by fresh_root.py): the installs themselves run
# from nothing every time.
mount --bind "$cache/apt-archives" "$root/var/cache/apt/archives"
mkdir -p "$root/root/.cache/pip" "$root/src"
mount --bind "$pip_cache" "$root/root/.cache/pip"
tar -C "$checkout" --null -T "$work/files" -cf - | tar -xf - -C "$root/src"

# What a machine has before any install step, its way out to the package
# registries: its own CA certificates (the root's ca-certificates package
# takes them in when scripts/setup installs it), proxies, and the environment
# variables naming them. Nothing else of this machine: no pip configuration,
# no local wheel directories.
if [ -d /usr/local/share/ca-certificates ]; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp -a /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
fi
machine_env=()
for name in SSL_CERT_DIR SSL_CERT_FILE CURL_CA_BUNDLE REQUESTS_CA_BUNDLE PIP_CERT \
  http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
  [ -z "${!name:-}" ] || machine_env+=("$name=${!name}")
done

in_root() {
  env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    LANG=C.UTF-8 TERM=dumb "${machine_env[@]}" chroot "$root" /bin/bash -c "cd /src && $1"
}
phase() { echo "== PHASE $1 $(date +%s.%N)"; }

echo "== BASE has /etc/services: $([ -e "$root/etc/services" ] && echo yes || echo no)"

phase setup
in_root "scripts/setup"

phase agent
in_root ".venv/bin/journalban check-config" && echo "== CHECK-CONFIG OK"
# The C module (setup.py) built by scripts/setup's pip install, with the gcc and
# python3-dev it installs: optional for pip, so only this line can tell it was.
in_root ".venv/bin/journalban --version || true" | sed -n 's/^native journal reader: /== NATIVE READER /p'
# The README's first command, for 15 s (its start takes 1-2 s, more under load), in a
# network namespace of its own.
in_root "timeout -s TERM 15 unshare -n .venv/bin/journalban run; echo \"== RUN EXIT \$?\"" 2>&1 | tail -n 20

phase setup-test
in_root "scripts/setup --test"

phase tools
while read -r tool; do
  in_root "command -v '$tool' >/dev/null" || echo "== MISSING-TOOL $tool"
done <"$work/tools.txt"
while read -r module; do
  in_root ".venv/bin/python -I -c 'import $module'" 2>/dev/null || echo "== MISSING-MODULE $module"
done <"$work/modules.txt"

phase tests
in_root "JOURNALBAN_REQUIRE_REAL=1 .venv/bin/python -m pytest -q -p no:cacheprovider \
  tests/real/test_packaging.py tests/unit/test_required_tools.py tests/unit/test_service_names.py" \
  && echo "== TESTS OK"
phase done
