# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# The VM layer that kernel/vm/run-vm (busybox initramfs) and tests/system/run
# (Debian rootfs with systemd) share: a private swtpm, the QEMU command line,
# one QEMU run under a hard timeout with the serial console in a log, and the
# verdict on that log (kernel panic, timeout, a guest that did not report).
# Sourced, not run. The caller sets, before calling anything here:
#   vm_prog    the name its messages start with ("run-vm", "system-test")
#   vm_counts  the --counts file ("" for none): vm_die writes "0 1" to it, so
#              that make check counts a runner that gave up as a failure

vm_prog=${vm_prog:-vm}
vm_counts=${vm_counts:-}
vm_tpmdir=""
vm_qemu=()

# The LSM list both VMs boot with unless told otherwise.
# shellcheck disable=SC2034 # read by the scripts that source this file
vm_default_lsm="lockdown,capability,landlock,yama,integrity,bpf"

vm_die() {
	echo "$vm_prog: $*" >&2
	[ -n "$vm_counts" ] && echo "0 1" > "$vm_counts"
	exit 1
}

# --- swtpm ------------------------------------------------------------------
vm_swtpm_cleanup() {
	[ -n "$vm_tpmdir" ] || return 0
	[ -f "$vm_tpmdir/pid" ] && kill "$(cat "$vm_tpmdir/pid")" 2>/dev/null || true
	rm -rf "$vm_tpmdir"
}

# Start swtpm on a unix control socket that vm_qemu_cmd hands to QEMU. The
# state directory is made by the first call and kept until the script exits,
# so a second boot after vm_swtpm_stop finds the same TPM (as after a reboot:
# NV and keys kept, PCRs reset by startup-clear).
vm_swtpm_start() {
	if [ -z "$vm_tpmdir" ]; then
		vm_tpmdir=$(mktemp -d /tmp/vouch-swtpm.XXXXXX)
		trap vm_swtpm_cleanup EXIT
	fi
	rm -f "$vm_tpmdir/ctrl.sock"
	# --terminate: swtpm ends when QEMU closes the socket, even if this
	# script is killed before its trap runs.
	swtpm socket --tpm2 --tpmstate dir="$vm_tpmdir" \
		--ctrl type=unixio,path="$vm_tpmdir/ctrl.sock" \
		--pid file="$vm_tpmdir/pid" --log file="$vm_tpmdir/log",level=1 \
		--flags startup-clear --terminate --daemon ||
		vm_die "swtpm failed to start (is the swtpm package installed? make deps)"
	local _
	for _ in $(seq 50); do
		[ -S "$vm_tpmdir/ctrl.sock" ] && return 0
		sleep 0.1
	done
	vm_die "swtpm did not create its socket"
}

# Usually a no-op: --terminate has already ended swtpm with QEMU.
vm_swtpm_stop() {
	[ -f "$vm_tpmdir/pid" ] && kill "$(cat "$vm_tpmdir/pid")" 2>/dev/null || true
	rm -f "$vm_tpmdir/pid"
}

# --- QEMU -------------------------------------------------------------------
# The kernel parameters both guests need: the console the runner reads, the
# LSM list, IMA's hash, and panic=-1, which turns a panic into an immediate
# reboot that -no-reboot turns into QEMU's exit, so a panic ends the run at
# once instead of waiting for the timeout.
vm_kernel_args() { # lsm list
	echo "console=ttyS0 lsm=$1 ima_hash=sha256 panic=-1"
}

# vm_qemu_cmd ACCEL KERNEL INITRD APPEND [QEMU ARGS...]: sets the array
# vm_qemu to the QEMU command for a q35 machine with the swtpm of
# vm_swtpm_start as a TIS TPM and the serial console on stdout; the caller
# adds -m, -smp, disks and the like.
vm_qemu_cmd() {
	local accel=$1 kernel=$2 initrd=$3 append=$4
	shift 4
	vm_qemu=(qemu-system-x86_64 -machine q35 -nographic -no-reboot -nodefaults
		-serial stdio -kernel "$kernel" -initrd "$initrd" -append "$append"
		-chardev socket,id=chrtpm,path="$vm_tpmdir/ctrl.sock"
		-tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0)
	if [ "$accel" = kvm ]; then
		vm_qemu+=(-accel kvm -cpu host)
	else
		# Single-threaded TCG: with one host thread per vCPU, a 7.2 guest
		# now and then hit int3 at boot in code another vCPU was patching
		# (text_poke_bp); one thread for all vCPUs sees such writes in order,
		# and the selftests also ran faster that way (1 min 8 s against 1 min
		# 25 s on 7.2).
		vm_qemu+=(-accel tcg,thread=single -cpu max)
	fi
	vm_qemu+=("$@")
}

# The console lines that are TAP: what a quiet run shows while it runs.
vm_tap_lines() {
	grep --line-buffered -E '^(ok|not ok|Bail out|# )'
}

# vm_run TIMEOUT CONSOLE FILTER...: run vm_qemu for at most TIMEOUT seconds;
# the whole console goes to CONSOLE (without the serial line's CRs) and through
# the command FILTER to the terminal. Returns QEMU's exit status (124 or 137
# after the timeout; see vm_problem).
vm_run() {
	local timeout_s=$1 console=$2 rc
	shift 2
	: > "$console"
	set +e
	timeout --foreground -k 5 "$timeout_s" "${vm_qemu[@]}" </dev/null 2>&1 |
		tr -d '\r' | tee "$console" | "$@"
	rc=${PIPESTATUS[0]}
	set -e
	return "$rc"
}

# vm_problem CONSOLE RC TIMEOUT DONE: why the run in CONSOLE, whose QEMU exited
# with RC, gave no result; nothing when the guest printed a line matching the
# regular expression DONE (its last word) and neither panicked nor timed out.
vm_problem() {
	local console=$1 rc=$2 timeout_s=$3 done_re=$4
	if grep -q 'Kernel panic' "$console"; then
		echo "kernel panic"
	elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		# timeout's status, or SIGKILL's when QEMU ignored the TERM (-k 5).
		echo "timeout after ${timeout_s}s"
	elif ! grep -q "$done_re" "$console"; then
		echo "the guest stopped before reporting (QEMU exit $rc)"
	fi
}

# vm_console_tail CONSOLE LINES: the end of the console, for panics, timeouts
# and crashes.
vm_console_tail() {
	echo "$vm_prog: last console lines ($1):" >&2
	tail -n "$2" "$1" | sed 's/^/  | /' >&2
}
