// SPDX-License-Identifier: Apache-2.0
// On a kernel booted without `bpf` in the LSM list, the loader refuses with
// a message that names the cause and the fix, instead of attaching hooks that
// would never run. run-check boots a second VM for this test.
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "vouchd/kernel_side.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"

using namespace vouch;
using namespace vouch::selftest;

int main() {
    Tap t("unsupported_kernel", 3);
    std::ifstream in("/sys/kernel/security/lsm");
    std::string lsm;
    std::getline(in, lsm);
    if (("," + lsm + ",").find(",bpf,") != std::string::npos) {
        for (const char *n : {"loader refuses", "message names the cause", "vouchd exits non-zero"})
            t.skip(n, "bpf is in the active LSM list; run-check runs this in a VM without it");
        return t.finish();
    }
    auto ks = KernelSide::load({});
    t.ok(!ks, "the loader refuses to load on lsm=%s", lsm.c_str());
    std::string msg = ks ? "" : ks.error().message;
    // Since 6.9 IMA is an LSM of its own and shows in the list as "ima";
    // before, it needs "integrity" in lsm=, which the list does not show.
    bool ima_listed = ("," + lsm + ",").find(",ima,") != std::string::npos;
    std::string fix = "lsm=" + lsm + (ima_listed ? ",bpf" : ",integrity,bpf");
    bool named = msg.find("`bpf` is not in the active LSM list") != std::string::npos &&
                 msg.find(fix) != std::string::npos;
    if (t.broken())
        named = !named;
    if (!t.ok(named, "the message names the cause and the fix"))
        t.diag("message: %s", msg.c_str());
    std::string out = "/tmp/vouchd.out";
    pid_t pid = fork();
    if (pid == 0) {
        freopen(out.c_str(), "w", stderr);
        execl("/usr/bin/vouchd", "vouchd", nullptr);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    std::ifstream o(out);
    std::stringstream ss;
    ss << o.rdbuf();
    t.ok(WIFEXITED(status) && WEXITSTATUS(status) == 1 &&
             ss.str().find("`bpf` is not in the active LSM list") != std::string::npos,
         "vouchd exits 1 with that message: %s", ss.str().c_str());
    return t.finish();
}
