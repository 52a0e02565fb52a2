#!/usr/bin/env bash
# Make the Docker sandbox usable on this machine. Safe to run again: it only does what is missing.
#
#   1. install docker.io (Debian package) when dockerd is missing and we are root with apt;
#   2. start dockerd in the background when no daemon answers (no systemd needed; log in
#      /tmp/dockerd.log), with the cgroupfs driver, which works on cgroup v1 and v2 hosts
#      without systemd;
#   3. build the local image `neuro-sandbox:<hash>` (and tag it `neuro-sandbox:current`) when
#      it is missing. No registry is needed: it is `docker import` of a tiny root file system
#      made here, with empty mount points; the host's /usr, Python, virtual environment and
#      Neuro's code are bind-mounted read-only into each container at run time.
#
# Environment: NEURO_DOCKERD_ARGS adds flags to dockerd (for example --storage-driver=vfs
# where overlayfs cannot be mounted); NEURO_DOCKER_WAIT is how long to wait for the daemon.
set -euo pipefail

say() { echo "docker.sh: $*"; }
die() { echo "docker.sh: $*" >&2; exit 1; }

# -- 1. the package ---------------------------------------------------------------------------
if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing docker.io (Debian package)"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
    else
        die "dockerd is not installed; as root run: apt-get install -y docker.io"
    fi
fi

# -- 2. the daemon ----------------------------------------------------------------------------
daemon_up() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if ! daemon_up; then
    [ "$(id -u)" = 0 ] || die "no Docker daemon answers and only root can start one; run this script as root"
    say "starting dockerd (log: /tmp/dockerd.log)"
    # shellcheck disable=SC2086
    nohup dockerd --exec-opt native.cgroupdriver=cgroupfs ${NEURO_DOCKERD_ARGS:-} \
        >>/tmp/dockerd.log 2>&1 </dev/null &
    wait_s=${NEURO_DOCKER_WAIT:-30}
    for _ in $(seq 1 "$((wait_s * 4))"); do
        if [ -S /var/run/docker.sock ] && daemon_up; then break; fi
        sleep 0.25
    done
    daemon_up || die "dockerd did not answer within ${wait_s} s; see the end of /tmp/dockerd.log
  (inside a container without overlayfs, try NEURO_DOCKERD_ARGS=--storage-driver=vfs)"
fi

# -- 3. the image -----------------------------------------------------------------------------
work=$(mktemp -d /tmp/neuro-rootfs.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{usr,tmp,proc,dev,sys,etc,run,work,home,root}
chmod 1777 "$root/tmp"
# Mirror the host's layout: a merged-/usr host has /bin -> usr/bin etc., which then come
# with the /usr bind mount; otherwise they are empty mount points the backend binds.
# /sbin is always a real folder: dockerd mounts its init (tini) at /sbin/docker-init.
mkdir -p "$root/sbin"
for d in bin lib lib32 lib64 libx32; do
    if [ -L "/$d" ]; then
        ln -s "$(readlink "/$d")" "$root/$d"
    elif [ -d "/$d" ]; then
        mkdir -p "$root/$d"
    fi
done
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/tmp:/usr/sbin/nologin
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
echo "hosts: files dns" >"$root/etc/nsswitch.conf"
: >"$root/etc/hosts"
: >"$root/etc/resolv.conf"
: >"$root/etc/hostname"
tar -C "$root" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$work/rootfs.tar" .
hash=$(sha256sum "$work/rootfs.tar" | cut -c1-12)
image="neuro-sandbox:$hash"

if ! docker image inspect "$image" >/dev/null 2>&1; then
    say "building $image (docker import of a $(du -k "$work/rootfs.tar" | cut -f1) KiB root file system)"
    docker import --change 'LABEL org.neuro.sandbox=1' --change 'USER 65534:65534' \
        --change 'WORKDIR /tmp' "$work/rootfs.tar" "$image" >/dev/null
fi
docker tag "$image" neuro-sandbox:current
say "ready: $image (tagged neuro-sandbox:current)"
