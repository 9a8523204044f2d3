// SPDX-License-Identifier: Apache-2.0
#include "lib/kernel_log.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "lib/file_io.h"

namespace {

using vouch::ima::Entry;

Entry file_entry(int i) {
    std::vector<uint8_t> d(32, static_cast<uint8_t>(i));
    return vouch::ima::make_entry(10, "ima-ng", "sha256", d, "/bin/f" + std::to_string(i));
}

TEST(KernelLogFollower, ReadsOnlyWhatWasAddedAndWaitsForWholeEntries) {
    char t[] = "/tmp/vouch-klog-XXXXXX";
    std::string dir = mkdtemp(t);
    std::string path = dir + "/binary_runtime_measurements";
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    ASSERT_GE(fd, 0);
    auto write = [&](const std::vector<uint8_t> &b) {
        ASSERT_TRUE(vouch::write_all(fd, b, path).ok());
    };
    write(vouch::ima::encode_binary(file_entry(0)));
    auto f = vouch::KernelLogFollower::open(path, vouch::kernel_count_path(path));
    ASSERT_TRUE(f.ok()) << f.error().message;
    auto first = f->poll();
    ASSERT_TRUE(first.ok());
    ASSERT_EQ(first->size(), 1u);
    EXPECT_TRUE(f->poll()->empty());
    auto two = vouch::ima::encode_binary(file_entry(1));
    auto three = vouch::ima::encode_binary(vouch::ima::make_violation(10, "ima-ng", "/x"));
    two.insert(two.end(), three.begin(), three.begin() + 30);
    write(two);
    auto next = f->poll();
    ASSERT_TRUE(next.ok());
    ASSERT_EQ(next->size(), 1u);
    EXPECT_EQ((*next)[0].path, "/bin/f1");
    write(std::vector<uint8_t>(three.begin() + 30, three.end()));
    next = f->poll();
    ASSERT_TRUE(next.ok());
    ASSERT_EQ(next->size(), 1u);
    EXPECT_TRUE((*next)[0].violation);
    EXPECT_EQ(f->seen(), 3u);
    ::close(fd);
    std::filesystem::remove_all(dir);
}

TEST(ForeignExtends, RoundTripAndPlaces) {
    vouch::ForeignExtend a{2, 7, vouch::ima::make_violation(10, "ima-ng", "/tmp/a b")};
    vouch::ForeignExtend b{0, 3, file_entry(9)};
    auto parsed = vouch::parse_foreign(vouch::encode_foreign(a) + vouch::encode_foreign(b));
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    ASSERT_EQ(parsed->size(), 2u);
    EXPECT_EQ((*parsed)[0].after, 2u);
    EXPECT_EQ((*parsed)[0].kernel_index, 7u);
    EXPECT_TRUE((*parsed)[0].entry.violation);
    EXPECT_EQ((*parsed)[1].entry.template_data, b.entry.template_data);
    std::vector<Entry> ours = {file_entry(0), file_entry(1), file_entry(2)};
    std::vector<bool> flags;
    auto all = vouch::with_foreign(ours, *parsed, &flags);
    ASSERT_EQ(all.size(), 5u);
    EXPECT_EQ(all[0].path, "/bin/f9");
    EXPECT_EQ(all[3].path, "/tmp/a_b");
    EXPECT_EQ(flags, (std::vector<bool>{true, false, false, true, false}));
    EXPECT_EQ(vouch::describe_foreign(a),
              "kernel IMA entry 7 (ima-ng violation /tmp/a_b) after vouch's entry 2");

    auto bad = vouch::parse_foreign("1 2 zz\n");
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("line 1"), std::string::npos) << bad.error().message;
}

} // namespace
