#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install every Debian package that building, testing and demonstrating vouch
# needs. Idempotent: when all are present it does nothing (no apt-get update).
set -euo pipefail

packages=(
	# build
	make g++ clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev libssl-dev
	libsystemd-dev libtss2-dev nlohmann-json3-dev libarchive-dev pkg-config libgtest-dev
	# the statically linked selftest helpers
	libc6-dev
	# VM tests and the demo
	qemu-system-x86 busybox-static swtpm swtpm-tools cpio gzip kmod
	# TPM and IMA log verification, system tests
	tpm2-tools ima-evm-utils mmdebstrap dbus-daemon
	# make deb (linux-image-amd64: the kernel whose BTF the package builds
	# against), lintian, the RPM spec check, the system-test disk image
	debhelper dpkg-dev lintian linux-image-amd64 xz-utils rpm e2fsprogs
	# policy make --rpm's host tests compare with rpm2cpio's extraction
	rpm2cpio
)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	[ "${status:0:2}" = ii ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || {
		echo "deps: need root to install: ${missing[*]} (run: sudo make deps)" >&2
		exit 1
	}
	sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done" >&2
