// SPDX-License-Identifier: Apache-2.0
// A verifier rejection is reported as one: the loader's error names the
// program, the kernel and the verifier's own reason, not a kernel option
// the machine may well have. And the one rule that changed under vouch: since
// 6.12 an LSM program's return value must be provably 0 or -errno.
#include <bpf/libbpf.h>
#include <sys/utsname.h>

#include <cstdio>
#include <memory>
#include <string>

#include "vouchd/kernel_side.h"
#include "lib/owned.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"

using namespace vouch;
using namespace vouch::selftest;

namespace {

// Opens and loads build/selftests/bpf/NAME.bpf.o; the error as vouchd would report it.
Result<void> load(const std::string &name) {
    std::string path = self_dir() + "/bpf/" + name + ".bpf.o";
    Owned<bpf_object, bpf_object__close> obj(bpf_object__open_file(path.c_str(), nullptr));
    if (!obj)
        return make_error(errno, "cannot open " + path);
    LibbpfMessages messages;
    if (int err = bpf_object__load(obj.get()))
        return bpf_load_error(err, messages.text());
    return {};
}

bool has(const std::string &s, const char *needle) {
    return s.find(needle) != std::string::npos;
}

} // namespace

int main() {
    Tap t("load_errors", 5);
    struct utsname u {};
    uname(&u);
    int major = 0, minor = 0;
    std::sscanf(u.release, "%d.%d", &major, &minor);
    bool checks_ret = major > 6 || (major == 6 && minor >= 12);

    auto r = load("reject_null");
    std::string msg = r.ok() ? "" : r.error().message;
    if (t.broken())
        msg = "the kernel may lack CONFIG_BPF_LSM";
    t.diag_lines(msg);
    t.ok(!r.ok() && has(msg, "BPF verifier rejected program 'reject_null'") && has(msg, u.release),
         "a rejection names the verifier, the program and the kernel");
    t.ok(has(msg, "invalid mem access"), "and quotes the verifier's reason");
    t.ok(!has(msg, "CONFIG_BPF_LSM"), "and blames no kernel option");

    r = load("reject_ret");
    msg = r.ok() ? "" : r.error().message;
    t.diag_lines(msg.empty() ? "reject_ret loaded" : msg);
    if (checks_ret) {
        t.ok(!r.ok() && has(msg, "BPF verifier rejected program 'reject_ret'") &&
                 has(msg, "should have been in [-4095, 0]"),
             "Linux %s (6.12+) refuses an LSM program whose return value is not proven 0 or -errno",
             u.release);
    } else {
        t.ok(r.ok(), "Linux %s (before 6.12) does not check an LSM program's return value",
             u.release);
    }
    // vouch's own programs are checked by every other selftest; here, that
    // they load on this kernel at all, under the same error reporting.
    auto ks = KernelSide::load({});
    t.ok(ks.ok(), "vouch's programs pass this kernel's verifier%s",
         ks.ok() ? "" : (": " + ks.error().message).c_str());
    return t.finish();
}
