#!/usr/bin/env bash
# The Debian package in a clean Debian 12 root: built from the tree (cpack), installed with apt
# into a debootstrap'ed bookworm (minbase) chroot, its files and the `vane` system user checked,
# the example config validated by the installed vaned (as root and as vane), vanectl
# router-config run on it, then removed. Label `package` (not in the default run: over a minute).
#
#   cmake -B build -DVANE_PACKAGE_TESTS=ON && ctest --test-dir build -L package --output-on-failure
#
# The root is built once with debootstrap from Debian's archive and kept as a tarball in
# $VANE_DEBOOTSTRAP_CACHE (default /var/cache/vane-debootstrap); apt inside the chroot fetches the
# package's dependencies from the same archive. Mounts (/proc, /dev) live in a private mount
# namespace made for each chroot command, so nothing is left mounted on the host.
set -Eeuo pipefail
BUILD=${1:?usage: deb_test.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root (chroot)"; exit 77; }
for t in cpack debootstrap unshare chroot dpkg-deb; do
  command -v $t >/dev/null || { echo "SKIP: $t not installed"; exit 77; }
done
CACHE=${VANE_DEBOOTSTRAP_CACHE:-/var/cache/vane-debootstrap}
RUN=$(mktemp -d /tmp/vane-deb.XXXXXX)
trap 'rm -rf --one-file-system "$RUN"' EXIT
log() { printf '[%(%T)T] %s\n' -1 "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

log "building the package"
(cd "$BUILD" && cpack -G DEB -B "$RUN/pkg" >"$RUN/cpack.log" 2>&1) || { cat "$RUN/cpack.log"; fail "cpack failed"; }
DEB=$(ls "$RUN"/pkg/vane_*.deb)

mkdir -p "$CACHE"
if [[ ! -f $CACHE/bookworm-minbase.tar ]]; then
  log "debootstrap bookworm (once; kept in $CACHE)"
  debootstrap --variant=minbase --cache-dir="$CACHE" bookworm "$RUN/boot" http://deb.debian.org/debian \
    >"$RUN/debootstrap.log" 2>&1 || { tail -5 "$RUN/debootstrap.log"; echo "SKIP: debootstrap could not build a Debian 12 root"; exit 77; }
  tar -C "$RUN/boot" -cf "$CACHE/bookworm-minbase.tar.tmp" . && mv "$CACHE/bookworm-minbase.tar.tmp" "$CACHE/bookworm-minbase.tar"
  rm -rf --one-file-system "$RUN/boot"
fi
R=$RUN/root
mkdir "$R"
tar -C "$R" -xf "$CACHE/bookworm-minbase.tar"
grep -q 'VERSION_ID="12"' "$R/etc/os-release" || fail "the root is not Debian 12: $(cat "$R/etc/os-release")"
cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
cp "$DEB" "$R/tmp/"

# in_root CMD...: CMD in the chroot, with /proc and /dev mounted in a private mount namespace.
in_root() {
  unshare --mount --propagation private -- sh -c '
    r=$1; shift
    mount -t proc proc "$r/proc" && mount --rbind /dev "$r/dev" && exec chroot "$r" "$@"' sh "$R" \
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C "$@"
}

log "installing $(basename "$DEB") with apt"
in_root apt-get update -qq >"$RUN/apt.log" 2>&1 || { tail -5 "$RUN/apt.log"; echo "SKIP: apt in the root cannot reach Debian's archive"; exit 77; }
in_root apt-get install -y -qq --no-install-recommends "/tmp/$(basename "$DEB")" >>"$RUN/apt.log" 2>&1 ||
  { tail -20 "$RUN/apt.log"; fail "apt-get install of the package failed"; }

for f in /usr/sbin/vaned /usr/sbin/vanectl; do [[ -x $R$f ]] || fail "$f missing or not executable"; done
for f in /usr/lib/systemd/system/vaned.service /usr/lib/sysusers.d/vane.conf \
  /usr/share/man/man8/vaned.8.gz /usr/share/man/man8/vanectl.8.gz /usr/share/man/man5/vaned.conf.5.gz \
  /usr/share/bash-completion/completions/vanectl /usr/share/doc/vane/examples/vaned.conf \
  /usr/share/doc/vane/copyright /usr/share/vane/monitoring/vane.rules.yml /usr/share/vane/monitoring/vane.dashboard.json; do
  [[ -s $R$f ]] || fail "$f missing"
done
grep -q '^ExecStart=/usr/sbin/vaned --config /etc/vane/vaned.conf$' "$R/usr/lib/systemd/system/vaned.service" ||
  fail "the unit does not start the installed vaned"
log "files in place"

pw=$(in_root getent passwd vane) || fail "no user vane after install"
IFS=: read -r _ _ uid gid _ home shell <<<"$pw"
((uid > 0 && uid < 1000)) || fail "vane is not a system user: $pw"
[[ $shell == */nologin ]] || fail "vane has a login shell: $pw"
in_root getent group vane >/dev/null || fail "no group vane"
log "system user: $pw"

# The example as an operator would start from it: copied to /etc/vane with a fresh site key.
mkdir -p "$R/etc/vane"
cp "$R/usr/share/doc/vane/examples/vaned.conf" "$R/etc/vane/vaned.conf"
(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$R/etc/vane/site.key")
out=$(in_root /usr/sbin/vaned --check /etc/vane/vaned.conf 2>&1) || fail "vaned --check (root) failed: $out"
[[ $out == *"/etc/vane/vaned.conf: valid"* ]] || fail "vaned --check said: $out"
# As the service runs it (User=vane): the key file must then belong to vane.
chown "$uid:$gid" "$R/etc/vane/site.key"
out=$(in_root setpriv --reuid vane --regid vane --init-groups /usr/sbin/vaned --check /etc/vane/vaned.conf 2>&1) ||
  fail "vaned --check as vane failed: $out"
log "installed vaned --check on the example config: $out"
# A broken config is refused by the installed binary too.
printf 'node { bogus: 1 }\n' >"$R/etc/vane/bad.conf"
in_root /usr/sbin/vaned --check /etc/vane/bad.conf >/dev/null 2>&1 && fail "vaned --check accepted a bad config"

out=$(in_root /usr/sbin/vanectl router-config --for frr --config /etc/vane/vaned.conf 2>&1) ||
  fail "vanectl router-config failed: $out"
[[ $out == *"neighbor 192.0.2.11 remote-as 65011"* ]] || fail "router-config output: $out"
out=$(in_root /usr/sbin/vanectl version) || fail "vanectl version failed"
log "$out"

in_root apt-get remove -y -qq vane >>"$RUN/apt.log" 2>&1 || fail "apt-get remove failed"
[[ ! -e $R/usr/sbin/vaned && ! -e $R/usr/lib/systemd/system/vaned.service ]] || fail "files left after remove"
log "removed cleanly"
log PASS
