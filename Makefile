# SPDX-License-Identifier: Apache-2.0
# vouch: the one entry point.
#   make            build BPF objects, skeletons, vouchd, vouchctl, selftests
#   make deps       install the Debian packages the build, tests and demo need
#   make check      host tests + VM selftests, ends with "N passed, N failed"
#   make demo       boot Debian with the vouch package (systemd, D-Bus, swtpm) and show it at work
#   make vm-selftest T=NAME   run one VM selftest (kernel/selftests/NAME.cpp)
# KERNELS="6.1 6.12 sid" (the default) is the kernel matrix that check and
# vm-selftest run on; KERNELS=6.12 for one. JOBS= how many test jobs (a VM
# each) make check runs at once; the default is the number of CPUs.
#   make bench      exec-cost benchmark in an instruction-counted VM
#   make deb        the Debian package (build/vouch_*.deb), checked by lintian
#   make install    vouchd, vouchctl, unit, configs, man pages into $(DESTDIR)
#   make system-test  the .deb in a full Debian VM (systemd, D-Bus, swtpm)
# V=1 shows full commands. Everything generated goes to $(BUILD).
# VMLINUX_BTF= the kernel whose types the BPF programs compile against: raw
# BTF (default: the running kernel's), an ELF vmlinux or a /boot/vmlinuz-*.

VERSION := 0.1.0
BUILD ?= build
O := $(abspath $(BUILD))

CXX ?= g++
CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-9s %s\n' "$(1)" "$(patsubst $(O)/%,%,$(2))";
endif

.DELETE_ON_ERROR:
.SUFFIXES:
# Skeletons and objects are intermediate to make, but kept for the build folder.
.SECONDARY:
.PHONY: all deps check demo bench bench-policy fuzz vm-selftest host-tests format clean programs \
	install deb system-test demo-kernel

PKG_LIBS := libbpf openssl tss2-esys tss2-tctildr tss2-rc libsystemd libarchive
PKG_CFLAGS := $(shell pkg-config --cflags $(PKG_LIBS) 2>/dev/null)
PKG_LDLIBS := $(shell pkg-config --libs $(PKG_LIBS) 2>/dev/null)

CXXFLAGS ?= -O2 -g
CXXFLAGS += -std=c++20 -Wall -Wextra -Werror -MMD -MP -I. -I$(O)/gen $(PKG_CFLAGS) \
	-DVOUCH_VERSION='"$(VERSION)"'
LDLIBS := $(PKG_LDLIBS) -lelf -lz
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_x86 -Wall -Werror -I$(O)/gen -Ibpf -MMD -MP

# libvouch.a: what vouchd, vouchctl and the tests share (lib/, policy/), with no
# BPF skeleton. libvouchd.a: the daemon, including the loader that embeds the
# BPF object; the selftests and benchmarks drive the kernel side through it.
LIB_SRCS := $(wildcard lib/*.cpp) $(filter-out %_fuzzer.cpp,$(wildcard policy/*.cpp))
LIB_OBJS := $(LIB_SRCS:%.cpp=$(O)/obj/%.o)
VOUCHD_LIB_SRCS := $(filter-out vouchd/main.cpp,$(wildcard vouchd/*.cpp))
VOUCHD_LIB_OBJS := $(VOUCHD_LIB_SRCS:%.cpp=$(O)/obj/%.o)
# libvouchctl.a: vouchctl without its main(), so that the tests reach its commands.
VOUCHCTL_LIB_SRCS := $(filter-out vouchctl/main.cpp,$(wildcard vouchctl/*.cpp))
VOUCHCTL_LIB_OBJS := $(VOUCHCTL_LIB_SRCS:%.cpp=$(O)/obj/%.o)
BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(BPF_SRCS:bpf/%.bpf.c=$(O)/bpf/%.bpf.o)
SKELS := $(BPF_SRCS:bpf/%.bpf.c=$(O)/gen/%.skel.h)
SELFTEST_SRCS := $(wildcard kernel/selftests/*.cpp)
SELFTESTS := $(SELFTEST_SRCS:kernel/selftests/%.cpp=$(O)/selftests/%)
# Objects the load_errors selftest expects the verifier to reject.
SELFTEST_BPF_OBJS := $(patsubst kernel/selftests/bpf/%.bpf.c,$(O)/selftests/bpf/%.bpf.o,$(wildcard kernel/selftests/bpf/*.bpf.c))
SELFTEST_LIB_OBJS := $(patsubst %.cpp,$(O)/obj/%.o,$(wildcard kernel/selftests/lib/*.cpp))
SELFTEST_HELPERS := $(O)/selftests/helpers/true $(O)/selftests/helpers/tamper \
	$(O)/selftests/helpers/setxattr $(O)/selftests/helpers/fusefile \
	$(O)/selftests/helpers/dyn $(O)/selftests/helpers/checkexec $(O)/selftests/helpers/inject \
	$(O)/selftests/helpers/movemount $(O)/selftests/helpers/openbyhandle \
	$(O)/selftests/helpers/setflags \
	$(O)/selftests/helpers/libvouchtest.so
BENCH_BINS := $(O)/bench/exec_bench $(O)/bench/helpers/dyn_true $(O)/bench/log_bench \
	$(O)/bench/log_load $(O)/bench/policy_bench $(O)/bench/policy_load
TEST_SRCS := $(shell find tests -name '*_test.cpp' 2>/dev/null | sort)
TEST_OBJS := $(TEST_SRCS:%.cpp=$(O)/obj/%.o)

all: $(O)/vouchd $(O)/vouchctl $(BPF_OBJS) $(SELFTESTS) $(SELFTEST_HELPERS) $(SELFTEST_BPF_OBJS) \
	$(O)/tests/vouch-tests \
	$(BENCH_BINS)

$(O)/gen/vmlinux.h:
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)test -r $(VMLINUX_BTF) || { echo "no BTF at $(VMLINUX_BTF): set VMLINUX_BTF= to a kernel with CONFIG_DEBUG_INFO_BTF" >&2; exit 1; }
	$(Q)BPFTOOL=$(BPFTOOL) packaging/btf-dump-c $(VMLINUX_BTF) > $@

$(O)/bpf/%.bpf.o: bpf/%.bpf.c $(O)/gen/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp
	$(Q)rm -f $@.tmp

$(O)/selftests/bpf/%.bpf.o: kernel/selftests/bpf/%.bpf.c $(O)/gen/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(O)/gen/%.skel.h: $(O)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

# The kernel contract is compiled into vouchctl so that check-kernel needs no
# data file next to it.
$(O)/gen/kernel_config.inc: kernel/config
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q){ printf 'R"vouchcfg('; cat $<; printf ')vouchcfg"\n'; } > $@

$(O)/obj/%.o: %.cpp | $(SKELS) $(O)/gen/kernel_config.inc
	$(call msg,CXX,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c $< -o $@

$(O)/libvouch.a: $(LIB_OBJS)
$(O)/libvouchd.a: $(VOUCHD_LIB_OBJS)
$(O)/libvouchctl.a: $(VOUCHCTL_LIB_OBJS)
$(O)/libvouch.a $(O)/libvouchd.a $(O)/libvouchctl.a:
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/vouchd: $(O)/obj/vouchd/main.o $(O)/libvouchd.a $(O)/libvouch.a
	$(call msg,LD,$@)
	$(Q)$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# No skeleton: libvouchd.a is not on this line.
$(O)/vouchctl: $(O)/obj/vouchctl/main.o $(O)/libvouchctl.a $(O)/libvouch.a
	$(call msg,LD,$@)
	$(Q)$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/selftests/%: $(O)/obj/kernel/selftests/%.o $(SELFTEST_LIB_OBJS) $(O)/libvouchd.a $(O)/libvouch.a
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) -o $@ $^ $(LDLIBS)

# Programs and a library that selftests exec or map. `true` is static, so
# exec'ing it maps no library.
$(O)/selftests/helpers/true $(O)/selftests/helpers/tamper $(O)/selftests/helpers/setxattr \
		$(O)/selftests/helpers/fusefile $(O)/selftests/helpers/checkexec \
		$(O)/selftests/helpers/inject $(O)/selftests/helpers/movemount \
		$(O)/selftests/helpers/openbyhandle $(O)/selftests/helpers/setflags: \
		$(O)/selftests/helpers/%: \
		kernel/selftests/helpers/%.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O2 -Wall -Werror -static -o $@ $<

$(O)/selftests/helpers/dyn: kernel/selftests/helpers/dyn.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O2 -Wall -Werror -o $@ $< -ldl

$(O)/selftests/helpers/libvouchtest.so: kernel/selftests/helpers/libvouchtest.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O2 -Wall -Werror -shared -fPIC -o $@ $<

$(O)/bench/exec_bench $(O)/bench/log_load $(O)/bench/policy_load: $(O)/bench/%: $(O)/obj/bench/%.o $(O)/libvouchd.a $(O)/libvouch.a
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) -o $@ $^ $(LDLIBS)

$(O)/bench/log_bench: $(O)/obj/bench/log_bench.o $(O)/libvouchd.a $(O)/libvouch.a
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) -o $@ $^ -lgtest -pthread $(LDLIBS)

$(O)/bench/policy_bench: $(O)/obj/bench/policy_bench.o $(O)/libvouch.a
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) -o $@ $^ -pthread $(LDLIBS)

# Dynamically linked on purpose: its exec also maps the loader and libc.
$(O)/bench/helpers/dyn_true: bench/helpers/dyn_true.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O2 -Wall -Werror -o $@ $<

$(O)/tests/vouch-tests: $(TEST_OBJS) $(O)/libvouchctl.a $(O)/libvouchd.a $(O)/libvouch.a
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) -o $@ $^ -lgtest_main -lgtest -pthread $(LDLIBS)

# The policy parser's libFuzzer target, built with clang and sanitizers from
# the sources (libvouch.a is g++-built and uninstrumented).
FUZZ_SRCS := policy/policy_fuzzer.cpp $(filter-out %_fuzzer.cpp policy/package.cpp,$(wildcard policy/*.cpp)) \
	lib/digest.cpp lib/file_io.cpp lib/ima_log.cpp lib/utf8.cpp
$(O)/fuzz/policy_fuzzer: $(FUZZ_SRCS) $(wildcard policy/*.h lib/*.h bpf/vouch_abi.h)
	$(call msg,FUZZ-LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG)++ -std=c++20 -g -O1 -Wall -Wextra -Werror \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-I. -DVOUCH_SRC_DIR='"$(CURDIR)"' $(FUZZ_SRCS) -o $@ -lcrypto

# The package reader's (policy make --deb/--rpm), likewise.
PACKAGE_FUZZ_SRCS := policy/package_fuzzer.cpp policy/package.cpp policy/make.cpp \
	policy/compose.cpp policy/policy.cpp policy/dsse.cpp lib/digest.cpp lib/file_io.cpp lib/ima_log.cpp \
	lib/utf8.cpp
$(O)/fuzz/package_fuzzer: $(PACKAGE_FUZZ_SRCS) $(wildcard policy/*.h lib/*.h)
	$(call msg,FUZZ-LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG)++ -std=c++20 -g -O1 -Wall -Wextra -Werror \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-I. $(PACKAGE_FUZZ_SRCS) -o $@ -lcrypto -larchive

fuzz: $(O)/fuzz/policy_fuzzer $(O)/fuzz/package_fuzzer

deps:
	$(Q)packaging/deps.sh

# --- installation and packages ----------------------------------------------
# What the packages ship. The BPF object is not installed: bpftool's skeleton
# embeds it in vouchd.
programs: $(O)/vouchd $(O)/vouchctl

prefix ?= /usr
sbindir ?= $(prefix)/sbin
bindir ?= $(prefix)/bin
mandir ?= $(prefix)/share/man
sysconfdir ?= /etc
SYSTEMD_PC = $(shell pkg-config --variable=$(1) systemd 2>/dev/null)
unitdir ?= $(or $(call SYSTEMD_PC,systemdsystemunitdir),$(prefix)/lib/systemd/system)
tmpfilesdir ?= $(or $(call SYSTEMD_PC,tmpfilesdir),$(prefix)/lib/tmpfiles.d)
sysusersdir ?= $(or $(call SYSTEMD_PC,sysusersdir),$(prefix)/lib/sysusers.d)
dbussystemdir ?= $(prefix)/share/dbus-1/system.d
pkglibdir ?= $(prefix)/lib/vouch
grubdefaultdir ?= $(sysconfdir)/default/grub.d
initramfstoolsdir ?= $(prefix)/share/initramfs-tools
dracutdir ?= $(prefix)/lib/dracut
# journalctl -x explanations of vouchd's records (MESSAGE_IDs of lib/journal_fields.h).
catalogdir ?= $(or $(call SYSTEMD_PC,catalogdir),$(prefix)/lib/systemd/catalog)
DBUS_POLICY := packaging/dbus/org.vouch.Vouch1.conf

install: programs
	$(call msg,INSTALL,$(or $(DESTDIR),/))
	$(Q)install -D -m 0755 $(O)/vouchd $(DESTDIR)$(sbindir)/vouchd
	$(Q)install -D -m 0755 $(O)/vouchctl $(DESTDIR)$(bindir)/vouchctl
	$(Q)install -D -m 0644 packaging/systemd/vouchd.service $(DESTDIR)$(unitdir)/vouchd.service
	$(Q)install -D -m 0644 packaging/systemd/vouch.catalog $(DESTDIR)$(catalogdir)/vouch.catalog
	$(Q)install -D -m 0644 packaging/tmpfiles/vouch.conf $(DESTDIR)$(tmpfilesdir)/vouch.conf
	$(Q)install -D -m 0644 packaging/sysusers/vouch.conf $(DESTDIR)$(sysusersdir)/vouch.conf
	$(Q)install -D -m 0644 packaging/config/vouch.conf $(DESTDIR)$(sysconfdir)/vouch/vouch.conf
	$(Q)install -d -m 0755 $(DESTDIR)$(sysconfdir)/vouch/keys
	$(Q)install -D -m 0755 packaging/grub/lsm-cmdline $(DESTDIR)$(pkglibdir)/lsm-cmdline
	$(Q)install -D -m 0644 packaging/grub/vouch.cfg $(DESTDIR)$(grubdefaultdir)/vouch.cfg
	$(Q)install -D -m 0755 packaging/apt/apt-hook $(DESTDIR)$(pkglibdir)/apt-hook
	$(Q)install -D -m 0755 packaging/initramfs-tools/initramfs-stage $(DESTDIR)$(pkglibdir)/initramfs-stage
	$(Q)install -D -m 0755 packaging/initramfs-tools/hooks/vouch $(DESTDIR)$(initramfstoolsdir)/hooks/vouch
	$(Q)install -D -m 0755 packaging/initramfs-tools/scripts/init-top/00vouch \
		$(DESTDIR)$(initramfstoolsdir)/scripts/init-top/00vouch
	$(Q)install -D -m 0755 packaging/dracut/90vouch/module-setup.sh $(DESTDIR)$(dracutdir)/modules.d/90vouch/module-setup.sh
	$(Q)install -D -m 0755 packaging/dracut/90vouch/vouch-pre-udev.sh $(DESTDIR)$(dracutdir)/modules.d/90vouch/vouch-pre-udev.sh
	$(Q)install -D -m 0644 packaging/dracut/90vouch/vouch-initramfs.service \
		$(DESTDIR)$(dracutdir)/modules.d/90vouch/vouch-initramfs.service
	$(Q)install -D -m 0644 packaging/dracut/90-vouch.conf $(DESTDIR)$(dracutdir)/dracut.conf.d/90-vouch.conf
	$(Q)install -D -m 0644 packaging/apt/apt.conf $(DESTDIR)$(pkglibdir)/apt.conf
	$(Q)if [ -f $(DBUS_POLICY) ]; then install -D -m 0644 $(DBUS_POLICY) $(DESTDIR)$(dbussystemdir)/org.vouch.Vouch1.conf; \
		else echo "install: $(DBUS_POLICY) is not there yet: no D-Bus policy installed" >&2; fi
	$(Q)for m in packaging/man/*.[0-9]; do install -D -m 0644 $$m $(DESTDIR)$(mandir)/man$${m##*.}/$${m##*/}; done

deb:
	$(Q)packaging/make-deb --build $(O) --version $(VERSION)

system-test: deb
	$(Q)tests/system/run --build $(O)

host-tests: all
	$(Q)tests/run-check --build $(O) --only host

# The build and the test jobs use every CPU (JOBS=1: one at a time, streamed).
JOBS ?= $(shell nproc)
check:
	$(Q)$(MAKE) --no-print-directory deps
	$(Q)$(MAKE) --no-print-directory -j$(JOBS) all fuzz
	$(Q)tests/run-check --build $(O) --kernels "$(KERNELS)" --jobs $(JOBS)

# The host half of the policy benchmark (100,000-digest policy; policy make
# against sha256sum); POLICY_BENCH_DIRS= picks the directories hashed.
bench-policy: $(O)/bench/policy_bench $(O)/vouchctl
	$(Q)$(O)/bench/policy_bench --vouchctl $(O)/vouchctl $(if $(POLICY_BENCH_DIRS),--dirs "$(POLICY_BENCH_DIRS)")

vm-selftest: all
	$(Q)for k in $(or $(KERNELS),$(shell kernel/vm/kernels list)); do \
		kernel/vm/run-vm --build $(O) --mode selftest --kernel $$k $(if $(T),--only $(T)) || exit 1; done

# The whole system: the .deb in a Debian VM with systemd, D-Bus and swtpm
# (the first run builds the rootfs). demo-kernel: the busybox VM instead.
demo:
	$(Q)$(MAKE) --no-print-directory deps
	$(Q)$(MAKE) --no-print-directory programs deb
	$(Q)tests/system/run --build $(O) --demo

demo-kernel:
	$(Q)$(MAKE) --no-print-directory deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)kernel/vm/run-vm --build $(O) --mode demo

# Two instruction-counted boots (1 vCPU) per kernel of KERNELS: the exec rows
# in a boot of their own, then vouchd's policy and log load (what ran before
# in a boot moves 7.2's static exec, bench/RESULTS.md). VOUCH_BENCH_ARGS=
# "--rounds 2 ..." passes options to bench/exec_bench.
bench:
	$(Q)$(MAKE) --no-print-directory deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(O)/bench/log_bench
	$(Q)$(O)/bench/policy_bench --vouchctl $(O)/vouchctl
	$(Q)for k in $(or $(KERNELS),$(shell kernel/vm/kernels list)); do \
		VOUCH_BENCH_PART=exec kernel/vm/run-vm --build $(O) --mode bench --name bench-exec \
			--kernel $$k --icount --timeout 1800 || exit 1; \
		VOUCH_BENCH_PART=vouchd kernel/vm/run-vm --build $(O) --mode bench --name bench-vouchd \
			--kernel $$k --icount --timeout 1800 || exit 1; done

format:
	$(Q)clang-format -i $(shell find lib vouchd vouchctl policy kernel bench tests -name '*.cpp' -o -name '*.h')

clean:
	$(call msg,CLEAN,$(O))
	$(Q)rm -rf $(O)

-include $(shell find $(O)/obj $(O)/bpf $(O)/selftests/bpf -name '*.d' 2>/dev/null)
