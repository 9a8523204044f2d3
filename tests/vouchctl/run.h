/* SPDX-License-Identifier: Apache-2.0 */
// Runs vouchctl in-process (vouch::ctl::run) and captures what it prints.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "vouchctl/commands.h"

namespace vouch::ctl::test {

struct Ran {
    Exit rc;
    std::string out, err;
};

inline Ran vouchctl(std::vector<std::string> args) {
    args.insert(args.begin(), "vouchctl");
    std::vector<char *> argv;
    for (auto &w : args)
        argv.push_back(w.data());
    argv.push_back(nullptr);
    testing::internal::CaptureStdout();
    testing::internal::CaptureStderr();
    Exit rc = run(int(args.size()), argv.data());
    std::fflush(nullptr);
    Ran r{rc, "", ""};
    r.out = testing::internal::GetCapturedStdout();
    r.err = testing::internal::GetCapturedStderr();
    return r;
}

} // namespace vouch::ctl::test
