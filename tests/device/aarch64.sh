#!/bin/bash
# The device pass on aarch64, the Jetson's processor, emulated: an arm64 Debian 12 userland
# (made once with mmdebstrap from Debian's arm64 packages and cached), entered with chroot,
# its programs run by qemu-user-static through binfmt_misc. In it, keras-wht is installed
# the device way (pip install '.[RUNTIME]': the kernels compile for NEON) into a venv with
# one TFLite runtime and no TensorFlow, and tests/device runs on the workstation's models.
#
#   tests/device/aarch64.sh USERLAND MODELS RUNTIME...
#
# USERLAND: the cached userland's folder (made when it lacks USERLAND/.complete); MODELS:
# the folder tests/device/make_models.py wrote; RUNTIME: litert or tflite-runtime.
# Needs root (mount, chroot), mmdebstrap and qemu-user-static (the Makefile's apt packages).
#
# What the emulation needs, each found the hard way:
# - /proc/cpuinfo: qemu passes the host's x86 one through, and ai-edge-litert's interpreter
#   crashes reading it; an ARM one (a Cortex-A76's) is bound over it.
# - /sys: without it XNNPACK's cpuinfo cannot list the processors and LiteRT's
#   CompiledModel fails to compile any model.
# - QEMU_CPU=cortex-a76: qemu's default "max" CPU runs invoke() about 25 times slower.
# - pip in the userland trusts the host's CA certificates and none of its local indexes.
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: tests/device/aarch64.sh USERLAND MODELS RUNTIME..." >&2
  exit 2
fi
userland=$(realpath -m "$1")
models=$(realpath "$2")
shift 2
runtimes=("$@")
checkout=$(cd "$(dirname "$0")/../.." && pwd)
for runtime in "${runtimes[@]}"; do
  case "$runtime" in
    litert | tflite-runtime) ;;
    *) echo "aarch64.sh: RUNTIME must be litert or tflite-runtime, got '$runtime'" >&2; exit 2 ;;
  esac
done
[ -f "$models/manifest.json" ] || { echo "aarch64.sh: no manifest.json in MODELS '$models'" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "aarch64.sh: needs root (it mounts and chroots): run it with sudo" >&2; exit 2; }
for need in mmdebstrap /usr/lib/binfmt.d/qemu-aarch64.conf; do
  command -v "$need" >/dev/null || [ -e "$need" ] ||
    { echo "aarch64.sh: $need is missing: apt-get install mmdebstrap qemu-user-static arch-test" >&2; exit 2; }
done

# Programs for aarch64 run through qemu: binfmt_misc mounted and qemu-aarch64 registered
# (the F flag opens the interpreter now, so that it also runs inside the chroot).
binfmt=/proc/sys/fs/binfmt_misc
mountpoint -q "$binfmt" || mount -t binfmt_misc binfmt_misc "$binfmt"
if [ -e "$binfmt/qemu-aarch64" ] && ! grep -q '^flags: .*F' "$binfmt/qemu-aarch64"; then
  echo -1 > "$binfmt/qemu-aarch64"  # registered without F (not by qemu-user-static): its interpreter is not in the chroot
fi
if [ ! -e "$binfmt/qemu-aarch64" ]; then
  cat /usr/lib/binfmt.d/qemu-aarch64.conf > "$binfmt/register"
fi

# The userland, made once (about 3.5 minutes, 0.5 GB); a half-made one is made again.
if [ ! -f "$userland/.complete" ]; then
  rm -rf "$userland"
  mkdir -p "$(dirname "$userland")"
  mmdebstrap --arch=arm64 --variant=apt --quiet \
    --include=python3,python3-venv,python3-dev,g++,libflatbuffers-dev,libpthreadpool-dev,ca-certificates \
    bookworm "$userland"
  touch "$userland/.complete"
fi

mounted=()
cleanup() {
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}"; done
}
trap cleanup EXIT
bind() {  # bind SOURCE TARGET (inside the userland)
  mount --bind "$1" "$userland$2"
  mounted+=("$userland$2")
}
mount -t proc proc "$userland/proc"
mounted+=("$userland/proc")
# XNNPACK's cpuinfo reads the CPU lists (possible, present) from sysfs.
mount -t sysfs -o ro sysfs "$userland/sys"
mounted+=("$userland/sys")
# The device files programs need, made in the userland's own /dev (binding the host's /dev
# would let a cleanup that deletes the userland reach into it).
for node in "null c 1 3" "zero c 1 5" "full c 1 7" "random c 1 8" "urandom c 1 9" "tty c 5 0"; do
  read -r name kind major minor <<< "$node"
  [ -c "$userland/dev/$name" ] || { rm -f "$userland/dev/$name"; mknod -m 666 "$userland/dev/$name" "$kind" "$major" "$minor"; }
done
for cpu in 0 1; do  # a Cortex-A76's (implementer 0x41, part 0xd0b), two cores
  printf 'processor\t: %d\nBogoMIPS\t: 50.00\nFeatures\t: %s\nCPU implementer\t: 0x41\nCPU architecture: 8\n' \
    "$cpu" "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"
  printf 'CPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1\n\n'
done > "$userland/etc/keras-wht-cpuinfo"
bind "$userland/etc/keras-wht-cpuinfo" /proc/cpuinfo
cp /etc/resolv.conf "$userland/etc/resolv.conf"
cp /etc/ssl/certs/ca-certificates.crt "$userland/etc/keras-wht-host-ca.crt"

# This checkout's files (as the working tree has them, new ones included) and the models, fresh each run.
rm -rf "$userland/keras-wht" "$userland/models"
mkdir -p "$userland/keras-wht"
(cd "$checkout" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -c) | tar -x -C "$userland/keras-wht"
cp -r "$models" "$userland/models"

for runtime in "${runtimes[@]}"; do
  echo "== aarch64 device pass: $runtime"
  chroot "$userland" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
    QEMU_CPU=cortex-a76 PIP_CONFIG_FILE=/dev/null PIP_CERT=/etc/keras-wht-host-ca.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180 KERAS_WHT_REQUIRE_KERNELS=1 \
    KERAS_WHT_DEVICE_RUNTIME="$runtime" /bin/sh -euc "
      [ -x /venv-$runtime/bin/python ] || python3 -m venv /venv-$runtime
      /venv-$runtime/bin/pip install --quiet pytest
      /venv-$runtime/bin/pip install --quiet '/keras-wht[$runtime]'
      cd /models
      /venv-$runtime/bin/python -m pytest -q -c /keras-wht/tests/device/pytest.ini \
        --rootdir /keras-wht/tests/device /keras-wht/tests/device"
done
