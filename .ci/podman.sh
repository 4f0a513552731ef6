#!/usr/bin/env bash
# Makes podman usable for the container executor's tests, idempotently and non-interactively:
#   1. installs Debian's podman, runc, catatonit (for --init) and busybox-static when missing;
#   2. builds the test image localhost/jobwire-test-busybox:1 from busybox-static (there is no
#      registry access: the image is a busybox rootfs imported with `podman import`);
#   3. writes a containers.conf drop-in for hosts like the CI VM (cgroups v1/hybrid, low hard
#      limits): runtime runc (crun refuses hybrid cgroups) and default ulimits the host allows
#      (podman's defaults fail there with EPERM);
#   4. runs a container from the image, so a broken engine fails here, loudly, not in the tests.
# Fast (about half a second: the one container of step 4) when all of it is already in place.
set -euo pipefail

IMAGE=localhost/jobwire-test-busybox:1
DROPIN_DIR=/etc/containers/containers.conf.d
DROPIN=$DROPIN_DIR/jobwire-ci.conf
PACKAGES=(podman runc catatonit busybox-static)

say() { echo "podman.sh: $*"; }
die() { echo "podman.sh: ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and writes $DROPIN)"

# 1. Packages (`apt-get update` only when something is missing: the lists may be stale or absent).
missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq "${missing[@]}" >/dev/null || die "apt-get install -y ${missing[*]} failed"
fi
command -v podman >/dev/null || die "podman is not on PATH after installing it"
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] || die "busybox is not on PATH after installing busybox-static"

# 2. The test image: busybox with a symlink per applet, /tmp, and a passwd with root and nobody.
#    (`podman import` needs no OCI runtime, so it comes before the runtime config is probed.)
if ! podman image exists "$IMAGE"; then
  say "building $IMAGE from $BUSYBOX"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  root=$work/rootfs
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/proc" "$root/sys" "$root/dev"
  chmod 1777 "$root/tmp"
  cp "$BUSYBOX" "$root/bin/busybox"
  for applet in $("$BUSYBOX" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  tar -C "$root" -cf "$work/rootfs.tar" .
  podman import --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' "$work/rootfs.tar" "$IMAGE" >/dev/null \
    || die "podman import of the busybox rootfs failed"
  say "built $IMAGE"
fi

# 3. Engine config, written once (delete the drop-in to re-probe). Podman 4.3 reads drop-ins
#    from containers.conf.d (checked on Debian 12), so /etc/containers/containers.conf stays the
#    host owner's. The ulimits are the first pair a probe container accepts: this host's hard
#    limits (nproc no higher than pid_max, which this VM enforces), else 1024.
if [ ! -f "$DROPIN" ]; then
  hard_nofile=$(ulimit -Hn)
  hard_nproc=$(ulimit -Hu)
  pid_max=$(cat /proc/sys/kernel/pid_max 2>/dev/null || echo 32768)
  [ "$hard_nofile" = unlimited ] && hard_nofile=1048576
  if [ "$hard_nproc" = unlimited ] || [ "$hard_nproc" -gt "$pid_max" ]; then hard_nproc=$pid_max; fi
  chosen=
  for candidate in "$hard_nofile $hard_nproc" "1024 1024"; do
    read -r nofile nproc <<<"$candidate"
    if podman run --rm --network none --runtime runc --ulimit "nofile=$nofile:$nofile" \
      --ulimit "nproc=$nproc:$nproc" "$IMAGE" true >/dev/null 2>&1; then
      chosen=$candidate
      break
    fi
  done
  if [ -z "$chosen" ]; then
    why=$(podman run --rm --network none --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "$IMAGE" true 2>&1 || true)
    die "no container starts, even with runc and ulimits of 1024: $why"
  fi
  read -r nofile nproc <<<"$chosen"
  mkdir -p "$DROPIN_DIR"
  {
    echo "# Written by jobwire's .ci/podman.sh for hosts like its CI VM; delete it to re-probe."
    echo "[containers]"
    echo "# Podman's default rlimits exceed this host's limits (runc: \"error setting rlimits: EPERM\")."
    echo "default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]"
    echo
    echo "[engine]"
    echo "# crun refuses cgroups v1/hybrid (\"cgroups in hybrid mode not supported\"); runc works."
    echo "runtime = \"runc\""
  } >"$DROPIN"
  say "wrote $DROPIN (runtime runc, nofile=$nofile, nproc=$nproc)"
fi

# 4. Proof that a container runs with the config as written (podman's own error if not).
out=$(podman run --rm --network none --log-driver k8s-file "$IMAGE" sh -c 'echo jobwire-podman-ok' 2>&1) \
  || die "podman cannot run a container: $out"
[ "$out" = jobwire-podman-ok ] || die "podman ran the test container but it printed: $out"
say "podman $(podman version --format '{{.Client.Version}}') runs $IMAGE"
