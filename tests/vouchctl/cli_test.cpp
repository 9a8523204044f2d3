// SPDX-License-Identifier: Apache-2.0
// vouchctl's command-line layer: the number parser, getopt_long through
// parse_options(), the command table and its exit codes, run in-process.
#include "vouchctl/cli.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "vouchctl/commands.h"

namespace {

using vouch::ctl::Exit;

// argv for a call, kept alive with its strings (getopt_long permutes argv).
struct Argv {
    explicit Argv(std::vector<std::string> a) : words(std::move(a)) {
        for (auto &w : words)
            ptrs.push_back(w.data());
        ptrs.push_back(nullptr);
    }
    int argc() const { return int(words.size()); }
    char **argv() { return ptrs.data(); }
    std::vector<std::string> words;
    std::vector<char *> ptrs;
};

struct Ran {
    Exit rc;
    std::string out, err;
};

Ran vouchctl(std::vector<std::string> args) {
    args.insert(args.begin(), "vouchctl");
    Argv a(std::move(args));
    testing::internal::CaptureStdout();
    testing::internal::CaptureStderr();
    Exit rc = vouch::ctl::run(a.argc(), a.argv());
    std::fflush(nullptr);
    Ran r{rc, "", ""};
    r.out = testing::internal::GetCapturedStdout();
    r.err = testing::internal::GetCapturedStderr();
    return r;
}

TEST(VouchctlExit, CodesAreTheDocumentedNumbers) {
    // vouchctl(8) EXIT STATUS and scripts (the Debian maintainer scripts,
    // the selftests) rely on these values.
    EXPECT_EQ(int(Exit::Ok), 0);
    EXPECT_EQ(int(Exit::Failure), 1);
    EXPECT_EQ(int(Exit::Usage), 2);
    EXPECT_EQ(int(Exit::NotRunning), 3);
    EXPECT_EQ(int(Exit::Denied), 4);
    EXPECT_EQ(int(Exit::BadInput), 5);
    EXPECT_EQ(int(Exit::Differ), 1); // policy diff only, as diff(1)
}

TEST(VouchctlParseNumber, TakesWholeNumbersInRangeAndNamesTheOptionOtherwise) {
    auto n = vouch::ctl::parse_number("--pcr", "23", 0, 23);
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 23u);
    n = vouch::ctl::parse_number("--count", "18446744073709551615", 0, UINT64_MAX);
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, UINT64_MAX);
    for (const char *bad : {"", "x", "24", "-1", "+1", " 1", "1 ", "1x", "0x10", "2.0"}) {
        n = vouch::ctl::parse_number("--pcr", bad, 0, 23);
        ASSERT_FALSE(n) << "'" << bad << "'";
        EXPECT_EQ(n.error().message,
                  std::string("--pcr: '") + bad + "' is not a number from 0 to 23");
    }
    n = vouch::ctl::parse_number("--threads", "0", 1, 1024);
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error().message, "--threads: '0' is not a number from 1 to 1024");
    n = vouch::ctl::parse_number("--first", "18446744073709551616", 0, UINT64_MAX);
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error().message, "--first: '18446744073709551616' is not a non-negative integer");
}

struct Seen {
    std::vector<std::pair<int, std::string>> options;
    vouch::Result<vouch::ctl::Parsed> parsed = vouch::ctl::Parsed{};
};

Seen parse(std::vector<std::string> args) {
    using vouch::ctl::Option;
    args.insert(args.begin(), "cmd");
    Argv a(std::move(args));
    Seen s;
    s.parsed = vouch::ctl::parse_options(a.argc(), a.argv(),
                                         {{"file", required_argument, 'f'},
                                          {"json", no_argument, 300},
                                          {"output", required_argument, 'o', true},
                                          {"fail", required_argument, 301}},
                                         [&](int id, const char *v) -> vouch::Result<void> {
                                             if (id == 301)
                                                 return vouch::ctl::bad_usage("--fail said no");
                                             s.options.emplace_back(id, v ? v : "");
                                             return {};
                                         });
    return s;
}

TEST(VouchctlParseOptions, LongShortAndPositionalInAnyOrder) {
    auto s =
        parse({"a", "--file", "F", "-o", "O", "b", "--json", "--output=P", "-oQ", "--", "--c"});
    ASSERT_TRUE(s.parsed) << s.parsed.error().message;
    EXPECT_FALSE(s.parsed->help);
    EXPECT_EQ(s.parsed->args, (std::vector<std::string>{"a", "b", "--c"}));
    std::vector<std::pair<int, std::string>> want = {
        {'f', "F"}, {'o', "O"}, {300, ""}, {'o', "P"}, {'o', "Q"}};
    EXPECT_EQ(s.options, want);
    // A second parse in the same process starts afresh.
    s = parse({"--file=G", "x"});
    ASSERT_TRUE(s.parsed);
    EXPECT_EQ(s.options, (std::vector<std::pair<int, std::string>>{{'f', "G"}}));
    EXPECT_EQ(s.parsed->args, std::vector<std::string>{"x"});
}

TEST(VouchctlParseOptions, ErrorsNameTheOption) {
    auto message = [](std::vector<std::string> args) {
        auto s = parse(std::move(args));
        return s.parsed ? std::string("(accepted)") : s.parsed.error().message;
    };
    EXPECT_EQ(message({"--bogus"}), "unknown option '--bogus'");
    EXPECT_EQ(message({"--bogus=1"}), "unknown option '--bogus'");
    EXPECT_EQ(message({"-x"}), "unknown option '-x'");
    EXPECT_EQ(message({"--file"}), "option '--file' needs a value");
    EXPECT_EQ(message({"-o"}), "option '-o' needs a value");
    EXPECT_EQ(message({"--json=yes"}), "option '--json' takes no value");
    EXPECT_EQ(message({"--fail", "1"}), "--fail said no");
    EXPECT_EQ(message({"--f", "1"}), "option '--f' is ambiguous");
    auto s = parse({"--js", "--fi=F"});
    ASSERT_TRUE(s.parsed) << "a unique prefix is the option";
    EXPECT_EQ(s.options, (std::vector<std::pair<int, std::string>>{{300, ""}, {'f', "F"}}));
    // Not a short option: only -o was declared with short_too.
    EXPECT_EQ(message({"-f", "F"}), "unknown option '-f'");
}

TEST(VouchctlParseOptions, HelpStopsParsing) {
    for (auto args : std::vector<std::vector<std::string>>{{"--help"}, {"-h", "--bogus"}}) {
        auto s = parse(args);
        ASSERT_TRUE(s.parsed) << args[0];
        EXPECT_TRUE(s.parsed->help);
    }
}

TEST(VouchctlCommands, TableRowsAreCompleteAndDistinct) {
    std::set<std::string> names;
    auto usage = vouchctl({"--help"});
    ASSERT_EQ(usage.rc, Exit::Ok);
    for (const auto &c : vouch::ctl::commands()) {
        std::string name = c.full_name();
        EXPECT_TRUE(names.insert(name).second) << name << " is in the table twice";
        EXPECT_NE(c.run, nullptr) << name;
        EXPECT_FALSE(c.summary.empty()) << name;
        EXPECT_LE(2 + 16 + c.summary.size(), 80u) << name << ": the summary overflows --help";
        EXPECT_NE(usage.out.find("\n  " + name + " "), std::string::npos) << name;
    }
    // What scripts, man page and tests use.
    for (const char *n : {"check-kernel", "status", "log", "log verify", "watch", "policy make",
                          "policy sign", "policy verify", "policy show", "policy update", "unpin"})
        EXPECT_TRUE(names.count(n)) << n;
}

TEST(VouchctlCommands, EveryCommandHasItsOwnHelp) {
    for (const auto &c : vouch::ctl::commands()) {
        std::vector<std::string> args = {std::string(c.name)};
        if (!c.sub.empty())
            args.emplace_back(c.sub);
        args.push_back("--help");
        auto r = vouchctl(args);
        EXPECT_EQ(r.rc, Exit::Ok) << c.full_name() << ": " << r.err;
        EXPECT_EQ(r.out.rfind("Usage: vouchctl " + c.full_name(), 0), 0u) << r.out;
        EXPECT_EQ(r.err, "");
        for (size_t at = 0, nl; (nl = r.out.find('\n', at)) != std::string::npos; at = nl + 1)
            EXPECT_LE(nl - at, 80u) << c.full_name() << ": " << r.out.substr(at, nl - at);
    }
    auto r = vouchctl({"help", "log", "verify"});
    EXPECT_EQ(r.rc, Exit::Ok);
    EXPECT_NE(r.out.find("--pcr N"), std::string::npos) << r.out;
}

TEST(VouchctlCommands, UnknownCommandIsAUsageError) {
    auto r = vouchctl({"nosuch"});
    EXPECT_EQ(r.rc, Exit::Usage);
    EXPECT_EQ(r.err.rfind("vouchctl: unknown command 'nosuch'\nUsage: vouchctl", 0), 0u) << r.err;
    EXPECT_EQ(r.out, "");

    EXPECT_EQ(vouchctl({}).rc, Exit::Usage);
    r = vouchctl({"--bogus"});
    EXPECT_EQ(r.rc, Exit::Usage);
    EXPECT_NE(r.err.find("unknown option '--bogus'"), std::string::npos) << r.err;

    r = vouchctl({"policy"});
    EXPECT_EQ(r.rc, Exit::Usage);
    EXPECT_EQ(r.err.rfind("vouchctl policy: missing command\n", 0), 0u) << r.err;
    r = vouchctl({"policy", "bogus"});
    EXPECT_EQ(r.rc, Exit::Usage);
    EXPECT_EQ(r.err.rfind("vouchctl policy: unknown command 'bogus'\n", 0), 0u) << r.err;
    r = vouchctl({"policy", "--help"});
    EXPECT_EQ(r.rc, Exit::Ok);
    EXPECT_NE(r.out.find("  make "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("  update "), std::string::npos) << r.out;
}

TEST(VouchctlCommands, VersionAndHelp) {
    auto r = vouchctl({"--version"});
    EXPECT_EQ(r.rc, Exit::Ok);
    EXPECT_EQ(r.out, std::string("vouchctl ") + VOUCH_VERSION + "\n");
    for (const char *h : {"--help", "-h", "help"}) {
        r = vouchctl({h});
        EXPECT_EQ(r.rc, Exit::Ok) << h;
        EXPECT_EQ(r.out.rfind("Usage: vouchctl [--help] [--version] COMMAND", 0), 0u) << h;
        EXPECT_NE(r.out.find("Exit status:"), std::string::npos);
    }
}

// Bad numbers and arguments are refused before a command touches anything
// (a TPM, a bus, a file), with the usage exit code and the option's name.
TEST(VouchctlCommands, BadOptionsAreUsageErrors) {
    struct Case {
        std::vector<std::string> args;
        std::string err;
    };
    std::vector<Case> cases = {
        {{"log", "verify", "--pcr", "x"},
         "vouchctl log verify: --pcr: 'x' is not a number from 0 to 23 (see vouchctl log verify "
         "--help)\n"},
        {{"log", "verify", "--pcr=24"}, "--pcr: '24' is not a number from 0 to 23"},
        {{"log", "verify", "--pcr", "-1"}, "--pcr: '-1' is not a number from 0 to 23"},
        {{"log", "verify", "--pcr"}, "option '--pcr' needs a value"},
        {{"log", "--count", "x"}, "--count: 'x' is not a non-negative integer"},
        {{"log", "--first=1e3"}, "--first: '1e3' is not a non-negative integer"},
        {{"log", "--file", "f", "--user-bus"}, "the bus options do not apply"},
        {{"log", "extra"}, "vouchctl log: takes no arguments"},
        {{"watch", "--count", "many"}, "--count: 'many' is not a non-negative integer"},
        {{"status", "--bogus"}, "vouchctl status: unknown option '--bogus'"},
        {{"status", "now"}, "vouchctl status: takes no arguments"},
        {{"policy", "update"}, "vouchctl policy update: needs one FILE"},
        {{"policy", "make", "--threads", "0", "/bin"},
         "--threads: '0' is not a number from 1 to 1024"},
        {{"policy", "make", "--serial", "12abc", "/bin"},
         "--serial: '12abc' is not a non-negative integer"},
        {{"policy", "make", "--mode", "strict", "/bin"}, "--mode: 'strict' is neither audit nor"},
        {{"policy", "make"}, "the policy would be empty"},
        {{"policy", "sign", "p.json"}, "needs --key KEY.pem and POLICY.json"},
        {{"policy", "verify"}, "vouchctl policy verify: needs ENVELOPE"},
        {{"policy", "verify", "--json", "e"}, "unknown option '--json'"},
        {{"policy", "show", "a", "b"}, "more than one ENVELOPE"},
        {{"check-kernel", "--loud"}, "vouchctl check-kernel: unknown option '--loud'"},
        {{"unpin", "a", "b"}, "vouchctl unpin: takes at most one DIR"},
    };
    for (const auto &c : cases) {
        auto r = vouchctl(c.args);
        std::string what = c.args[0] + " " + (c.args.size() > 1 ? c.args[1] : "");
        EXPECT_EQ(r.rc, Exit::Usage) << what << ": " << r.err;
        EXPECT_NE(r.err.find(c.err), std::string::npos) << what << ": " << r.err;
        EXPECT_EQ(r.out, "") << what;
    }
}

} // namespace
