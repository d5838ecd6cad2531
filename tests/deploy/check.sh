#!/usr/bin/env bash
# The deployment files, checked as their tools check them:
#   - deploy/keyward.service: `systemd-analyze verify` accepts it and
#     `systemd-analyze security` rates its exposure 2.0 or lower;
#   - the container image: built with podman from the release binary this
#     checkout builds (FROM scratch, the binary and the libraries ldd lists:
#     no base image can be pulled here), run with a read-only root
#     filesystem as a non-root user with /data as a volume, and its /readyz
#     answers 200. deploy/Containerfile is the multi-stage file for places
#     where a registry is reachable; this image runs the same way.
# Usage: tests/deploy/check.sh   (installs podman and runc when missing)
set -euo pipefail
cd "$(dirname "$0")/../.."

echo "== systemd unit"
unit_dir=$(mktemp -d)
trap 'rm -rf "$unit_dir"' EXIT
cargo build --release --quiet
sed "s#/usr/local/bin/keyward#$PWD/target/release/keyward#" deploy/keyward.service >"$unit_dir/keyward.service"
systemd-analyze verify "$unit_dir/keyward.service"
exposure=$(systemd-analyze security --offline=true "$unit_dir/keyward.service" | sed -n 's/.*Overall exposure level for keyward.service: \([0-9.]*\).*/\1/p')
echo "exposure: $exposure"
python3 -c "import sys; sys.exit(0 if float('$exposure') <= 2.0 else 1)" \
  || { echo "systemd-analyze security rates the unit $exposure (more than 2.0)" >&2; exit 1; }

echo "== container image"
if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
  apt-get update -qq && apt-get install -y -qq podman runc >/dev/null
fi
context="$unit_dir/image"
mkdir -p "$context/rootfs/usr/local/bin" "$context/rootfs/data" "$context/rootfs/tmp"
cp target/release/keyward "$context/rootfs/usr/local/bin/keyward"
# The shared libraries the binary links, at the paths the loader looks for.
for lib in $(ldd target/release/keyward | grep -o '/[^ ]*'); do
  mkdir -p "$context/rootfs$(dirname "$lib")"
  cp -L "$lib" "$context/rootfs$lib"
done
cat >"$context/Containerfile" <<'CONTAINERFILE'
FROM scratch
COPY rootfs/ /
ENV KEYWARD_ADDR=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///data/keyward.db \
    KEYWARD_KEY_FILE=/data/keyward.key \
    KEYWARD_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080
USER 65532:65532
HEALTHCHECK --interval=30s --timeout=5s CMD ["/usr/local/bin/keyward", "health"]
ENTRYPOINT ["/usr/local/bin/keyward"]
CMD ["serve"]
CONTAINERFILE
conf="$unit_dir/containers.conf"
printf '[containers]\ndefault_ulimits = []\n' >"$conf"
export CONTAINERS_CONF="$conf"
storage="--storage-driver vfs --root $unit_dir/storage --runroot $unit_dir/run"
podman $storage build --format docker -q -t keyward-ci "$context" >/dev/null
data="$unit_dir/data"
mkdir -p "$data" && chown 65532:65532 "$data"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
name="keyward-ci-$$"
podman $storage run -d --name "$name" --runtime runc --cgroup-manager cgroupfs \
  --no-healthcheck --read-only -v "$data:/data" -p "127.0.0.1:$port:8080" keyward-ci >/dev/null
stop() { podman $storage rm -f "$name" >/dev/null 2>&1 || true; rm -rf "$unit_dir"; }
trap stop EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$port/readyz"
podman $storage exec "$name" /usr/local/bin/keyward health --path /readyz
test -s "$data/keyward.key" || { echo "the key file is not in the /data volume" >&2; exit 1; }
echo "image: /readyz answers 200, running read-only as 65532 with /data as a volume"
