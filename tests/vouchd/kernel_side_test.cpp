// SPDX-License-Identifier: Apache-2.0
// The loader's message for a program the verifier rejects (vouchd/kernel_side.h,
// bpf_load_error), from real verifier logs of the selftest program
// reject_null (kernel/selftests/bpf): 7.3's (tests/vouchd/golden, taken from
// its VM) puts a long report after the reason, which a fixed tail of the log
// missed. verifier-classic-reject_null.log is that log without the report,
// the shape of 6.1-7.2's logs, which end with the reason and the statistics.
// The VM selftest load_errors covers the same path on each kernel of the
// matrix.
#include "vouchd/kernel_side.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <string>

namespace {

std::string slurp(const std::string &path) {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

// As libbpf prints a failed load through its print callback.
std::string libbpf_messages(const std::string &log) {
    return "libbpf: prog 'reject_null': BPF program load failed: Permission denied\n"
           "libbpf: prog 'reject_null': -- BEGIN PROG LOAD LOG --\n" +
           log +
           "-- END PROG LOAD LOG --\n"
           "libbpf: prog 'reject_null': failed to load: -13\n";
}

TEST(BpfLoadError, Linux73ReportQuotesReasonAndSuggestion) {
    std::string log = slurp("tests/vouchd/golden/verifier-7.3-reject_null.log");
    ASSERT_NE(log.find("Causal path:"), std::string::npos) << "golden log missing";
    vouch::Error e = vouch::bpf_load_error(-EACCES, libbpf_messages(log));
    EXPECT_EQ(e.code, EACCES);
    EXPECT_NE(e.message.find("verifier rejected program 'reject_null'"), std::string::npos);
    EXPECT_NE(e.message.find("R0 invalid mem access 'map_value_or_null'"), std::string::npos)
        << e.message;
    EXPECT_NE(e.message.find("7: (79) r1 = *(u64 *)(r0 +0)"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("Verification failed: Register Type Safety"), std::string::npos);
    EXPECT_NE(e.message.find("R0 may be NULL here"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("Add a NULL check"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("processed 7 insns"), std::string::npos) << e.message;
    // The source listings and the causal path stay in the log, not the message.
    EXPECT_EQ(e.message.find("Instruction context:"), std::string::npos) << e.message;
    EXPECT_EQ(e.message.find("Causal path:"), std::string::npos) << e.message;
    EXPECT_EQ(e.message.find("CONFIG_BPF_LSM"), std::string::npos);
}

TEST(BpfLoadError, ClassicLogQuotesItsLastLines) {
    std::string log = slurp("tests/vouchd/golden/verifier-classic-reject_null.log");
    ASSERT_NE(log.find("invalid mem access"), std::string::npos) << "golden log missing";
    vouch::Error e = vouch::bpf_load_error(-EACCES, libbpf_messages(log));
    EXPECT_NE(e.message.find("R0 invalid mem access 'map_value_or_null'"), std::string::npos)
        << e.message;
    EXPECT_NE(e.message.find("processed 7 insns"), std::string::npos);
    // The last eight lines of the log, not the whole of it.
    EXPECT_NE(e.message.find("4: (18) r1 = 0x"), std::string::npos) << e.message;
    EXPECT_EQ(e.message.find("0: R1=ctx() R10=fp0"), std::string::npos) << e.message;
}

TEST(BpfLoadError, NoVerifierLogBlamesKernelOptions) {
    vouch::Error e = vouch::bpf_load_error(-EINVAL, "libbpf: failed to find BTF for hook\n");
    EXPECT_EQ(e.message.find("verifier"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("CONFIG_BPF_LSM"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("libbpf said:"), std::string::npos) << e.message;
}

} // namespace
