// SPDX-License-Identifier: Apache-2.0
// The one writer for `vouchctl log` output, whether the entries came from
// vouchd or from a log file: JSON through nlohmann with paths made UTF-8 the
// way vouchd makes them for D-Bus, and the kernel's ASCII lines.
#include "vouchctl/log_output.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "lib/ima_log.h"
#include "lib/utf8.h"
#include "vouchctl/commands.h"

namespace {

using vouch::LogRecord;
using vouch::ctl::LogJsonWriter;

// A path that is not UTF-8 (a Latin-1 é, a lone continuation byte, a
// truncated sequence), with a quote, a backslash and a control character
// that JSON must escape. No space: the log writes it as '_' (as IMA does).
const std::string kOddPath = std::string("/tmp/caf\xe9_\"q\"\\\x01") + "\x80\xe2\x82";

std::string written(const std::vector<LogRecord> &records) {
    char *buf = nullptr;
    size_t len = 0;
    std::FILE *f = open_memstream(&buf, &len);
    {
        LogJsonWriter w(f);
        for (const auto &r : records)
            w.add(r);
        w.finish();
    }
    std::fclose(f);
    std::string s(buf, len);
    std::free(buf);
    return s;
}

std::vector<vouch::ima::Entry> sample_entries() {
    std::vector<uint8_t> d(32, 0xab), sig = {0x03, 0x02, 0x01};
    return {
        vouch::ima::make_entry(10, vouch::ima::kImaNg, "sha256", d, "/usr/bin/true"),
        vouch::ima::make_entry(9, vouch::ima::kImaSig, "sha256", d, kOddPath, sig),
        vouch::ima::make_entry(10, vouch::ima::kImaSigV2, vouch::ima::kVeritySha256, d,
                               "/usr/lib/x", {}),
        vouch::ima::make_violation(10, vouch::ima::kImaNg, "vouch:lost-events:1"),
    };
}

// What vouchd's GetLog sends for an entry: the same record, its strings made
// UTF-8 for D-Bus (vouchd/bus.cpp's append_string).
LogRecord as_from_bus(const vouch::ima::Entry &e, uint64_t index) {
    LogRecord r = vouch::log_record(e, index);
    r.template_name = vouch::utf8_safe(r.template_name);
    r.file_digest = vouch::utf8_safe(r.file_digest);
    r.path = vouch::utf8_safe(r.path);
    return r;
}

TEST(VouchctlLogJson, OneEntryIsCompactJsonWithPathBytesAsBackslashX) {
    LogRecord r = vouch::log_record(sample_entries()[1], 7);
    EXPECT_EQ(vouch::ctl::log_json(r),
              "{\"index\":7,\"pcr\":9,\"template_hash\":\"" + vouch::to_hex(r.template_hash) +
                  "\",\"template\":\"ima-sig\",\"digest\":\"sha256:" +
                  vouch::to_hex(std::vector<uint8_t>(32, 0xab)) +
                  "\",\"path\":\"/tmp/caf\\\\xe9_\\\"q\\\"\\\\\\u0001\\\\x80\\\\xe2\\\\x82\","
                  "\"signature\":\"030201\",\"violation\":false}");
    // And it parses back to the path vouchd would have sent over D-Bus.
    auto j = nlohmann::json::parse(vouch::ctl::log_json(r));
    EXPECT_EQ(j["path"], vouch::utf8_safe(kOddPath));
    EXPECT_EQ(j["path"], "/tmp/caf\\xe9_\"q\"\\\x01\\x80\\xe2\\x82");
}

TEST(VouchctlLogJson, FileAndBusEntriesPrintTheSame) {
    auto entries = sample_entries();
    std::vector<LogRecord> from_file, from_bus;
    for (size_t i = 0; i < entries.size(); i++) {
        from_file.push_back(vouch::log_record(entries[i], i));
        from_bus.push_back(as_from_bus(entries[i], i));
    }
    ASSERT_NE(from_file[1].path, from_bus[1].path) << "the test needs a path that is not UTF-8";
    std::string a = written(from_file), b = written(from_bus);
    EXPECT_EQ(a, b);
    auto j = nlohmann::json::parse(a);
    ASSERT_EQ(j.size(), entries.size());
    EXPECT_EQ(j[3]["violation"], true);
    EXPECT_EQ(j[3]["digest"], "sha256:" + std::string(64, '0'));
    EXPECT_EQ(j[2]["digest"], "verity:sha256:" + vouch::to_hex(std::vector<uint8_t>(32, 0xab)));
}

TEST(VouchctlLogJson, ArrayFraming) {
    EXPECT_EQ(written({}), "[]\n");
    LogRecord r;
    r.template_name = "ima-ng";
    EXPECT_EQ(written({r}), "[\n  " + vouch::ctl::log_json(r) + "\n]\n");
    LogRecord s = r;
    s.index = 1;
    EXPECT_EQ(written({r, s}),
              "[\n  " + vouch::ctl::log_json(r) + ",\n  " + vouch::ctl::log_json(s) + "\n]\n");
    // An error part way: the writer closes the array when it goes away.
    char *buf = nullptr;
    size_t len = 0;
    std::FILE *f = open_memstream(&buf, &len);
    {
        LogJsonWriter w(f);
        w.add(r);
    }
    std::fclose(f);
    std::string out(buf, len);
    std::free(buf);
    EXPECT_EQ(nlohmann::json::parse(out).size(), 1u) << out;
}

TEST(VouchctlLogAscii, IsTheKernelsLine) {
    for (const auto &e : sample_entries())
        EXPECT_EQ(vouch::ctl::log_ascii(vouch::log_record(e, 0)), vouch::ima::encode_ascii(e))
            << e.template_name;
    // ima-sigv2 carries a signature field too, even an empty one.
    EXPECT_TRUE(vouch::ctl::log_ascii(vouch::log_record(sample_entries()[2], 0))
                    .ends_with("/usr/lib/x \n"));
}

// On a terminal a name cannot break the line or send escape sequences; in a
// pipe the line is the kernel's, byte for byte.
TEST(VouchctlLogAscii, ForATerminalTheNameIsPrintable) {
    std::vector<uint8_t> d(32, 0xab);
    auto e = vouch::ima::make_entry(10, "ima-ng", "sha256", d, "/tmp/a\nb\x1b[2J\xff");
    auto r = vouch::log_record(e, 0);
    EXPECT_EQ(vouch::ctl::log_ascii(r), vouch::ima::encode_ascii(e));
    std::string t = vouch::ctl::log_ascii(r, true);
    EXPECT_TRUE(t.ends_with(" /tmp/a\\x0ab\\x1b[2J\\xff\n")) << t;
    EXPECT_EQ(t.find('\n'), t.size() - 1);
    // JSON escapes control characters itself; utf8_safe() the rest.
    std::string j = vouch::ctl::log_json(r);
    EXPECT_EQ(j.find('\n'), std::string::npos);
    EXPECT_EQ(j.find('\x1b'), std::string::npos);
    EXPECT_EQ(nlohmann::json::parse(j)["path"], "/tmp/a\nb\x1b[2J\\xff");
}

struct Ran {
    vouch::ctl::Exit rc;
    std::string out, err;
};

Ran vouchctl(std::vector<std::string> args) {
    args.insert(args.begin(), "vouchctl");
    std::vector<char *> argv;
    for (auto &a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    testing::internal::CaptureStdout();
    testing::internal::CaptureStderr();
    auto rc = vouch::ctl::run(int(args.size()), argv.data());
    std::fflush(nullptr);
    Ran r{rc, testing::internal::GetCapturedStdout(), testing::internal::GetCapturedStderr()};
    return r;
}

std::string slurp(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// `vouchctl log --file` on the kernel's own log prints the kernel's own
// ASCII log, and --json the same entries.
TEST(VouchctlLogFile, KernelLogPrintsAsTheKernelDoes) {
    auto r = vouchctl({"log", "--file", "tests/lib/golden/kernel-6.1-ima.bin"});
    ASSERT_EQ(r.rc, vouch::ctl::Exit::Ok) << r.err;
    std::string ascii = slurp("tests/lib/golden/kernel-6.1-ima.ascii");
    ASSERT_FALSE(ascii.empty());
    EXPECT_EQ(r.out, ascii);

    r = vouchctl({"log", "--file=tests/lib/golden/kernel-6.1-ima.bin", "--json", "--first", "1",
                  "--count", "2"});
    ASSERT_EQ(r.rc, vouch::ctl::Exit::Ok) << r.err;
    auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j.size(), 2u);
    EXPECT_EQ(j[0]["index"], 1);
    EXPECT_EQ(j[1]["index"], 2);
    size_t second_line = ascii.find('\n') + 1;
    EXPECT_EQ(ascii.substr(second_line, 3 + 40), (j[0]["pcr"].get<int>() < 10 ? " " : "") +
                                                     std::to_string(j[0]["pcr"].get<int>()) + " " +
                                                     j[0]["template_hash"].get<std::string>());

    r = vouchctl({"log", "--file", "/nonexistent/log"});
    EXPECT_EQ(r.rc, vouch::ctl::Exit::Failure);
    EXPECT_EQ(r.out, "") << "no half-written array for a log that cannot be read";
}

// A log file with a path that is not UTF-8, through the whole command: the
// JSON is what the writer prints for the record vouchd would send.
TEST(VouchctlLogFile, NonUtf8PathPrintsAsFromVouchd) {
    char dir[] = "/tmp/vouchctl-log-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    std::string path = std::string(dir) + "/log.bin";
    auto entries = sample_entries();
    {
        std::ofstream out(path, std::ios::binary);
        for (const auto &e : entries) {
            auto b = vouch::ima::encode_binary(e);
            out.write(reinterpret_cast<const char *>(b.data()), std::streamsize(b.size()));
        }
    }
    auto r = vouchctl({"log", "--file", path, "--json"});
    ASSERT_EQ(r.rc, vouch::ctl::Exit::Ok) << r.err;
    std::vector<LogRecord> from_bus;
    for (size_t i = 0; i < entries.size(); i++)
        from_bus.push_back(as_from_bus(entries[i], i));
    EXPECT_EQ(r.out, written(from_bus));
    EXPECT_NE(r.out.find("/tmp/caf\\\\xe9"), std::string::npos) << r.out;
    // The ASCII form keeps the path's bytes, as the kernel's log does.
    r = vouchctl({"log", "--file", path});
    ASSERT_EQ(r.rc, vouch::ctl::Exit::Ok) << r.err;
    EXPECT_NE(r.out.find(kOddPath), std::string::npos);
    ::unlink(path.c_str());
    ::rmdir(dir);
}

} // namespace
