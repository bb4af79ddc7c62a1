#!/usr/bin/env bash
# Best effort, called by `make test`: the Debian tools the disk-image tests build their images
# with (mkfs.vfat + mtools, mkntfs + ntfscp, mkfs.ext4 -d, ewfacquire). Installed with apt-get
# when running as root and one is missing; otherwise one line says which tests will skip.
# Never fails the test run by itself.
set -u
missing=()
for tool in mkfs.vfat:dosfstools mcopy:mtools mkntfs:ntfs-3g mkfs.ext4:e2fsprogs ewfacquire:ewf-tools; do
  cmd="${tool%%:*}" pkg="${tool##*:}"
  PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  if apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; }; then
    exit 0
  fi
fi
echo "test tools: ${missing[*]} not installed (apt-get install -y ${missing[*]}); the disk-image tests that need them will skip" >&2
exit 0
