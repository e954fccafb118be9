#!/usr/bin/env bash
# Build the rubra node image offline: `FROM scratch` + our `rubra` binary + the shared
# libraries it links (found with ldd), copied into a build context. No registry needed.
#
#   deploy/build-image.sh [--debug] [--tag rubra:latest] [--bin PATH]
#
# --debug uses a debug build (faster to compile; what CI's Docker tests use), --bin an
# already built binary. Prints the image size at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

tag=rubra:latest
profile=release
bin=
while [ $# -gt 0 ]; do
  case "$1" in
    --debug) profile=debug ;;
    --tag) tag=$2; shift ;;
    --bin) bin=$2; shift ;;
    *) echo "usage: $0 [--debug] [--tag NAME:TAG] [--bin PATH]" >&2; exit 2 ;;
  esac
  shift
done

if [ -z "$bin" ]; then
  if [ "$profile" = release ]; then
    cargo build --release -p rubra-manager --bin rubra
  else
    cargo build -p rubra-manager --bin rubra
  fi
  bin=target/$profile/rubra
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/root/usr/local/bin" "$ctx/root/etc" "$ctx/root/tmp" "$ctx/data"
chmod 1777 "$ctx/root/tmp"
# Debug symbols are of no use in the image; stripping a copy keeps it small.
strip -o "$ctx/root/usr/local/bin/rubra" "$bin"
# Every shared library the binary needs (and the dynamic loader), at the same paths.
ldd "$bin" | awk '/=> \//{print $3} /^\t\/[^ ]+ \(/{print $1}' | sort -u | while read -r lib; do
  cp -L --parents "$lib" "$ctx/root/"
done
# A name for uid 10001, so tools inside and `docker top` show something readable.
printf 'root:x:0:0::/:/nonexistent\nrubra:x:10001:10001::/data:/nonexistent\n' > "$ctx/root/etc/passwd"
printf 'root:x:0:\nrubra:x:10001:\n' > "$ctx/root/etc/group"
cp deploy/Dockerfile "$ctx/Dockerfile"
# The legacy builder needs no buildx plugin; SOURCE_DATE_EPOCH-style reproducibility is
# limited to identical file contents (timestamps of layers differ).
DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$ctx" >/dev/null
size=$(docker image inspect -f '{{.Size}}' "$tag")
echo "built $tag from $bin: $((size / 1024 / 1024)) MiB ($size bytes)"
