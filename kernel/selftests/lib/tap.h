/* SPDX-License-Identifier: Apache-2.0 */
// Minimal kselftest-style TAP 13 output: "ok N - name" / "not ok N - name".
// The VM runner counts these lines on the console.
#pragma once

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace vouch::selftest {

class Tap {
  public:
    Tap(const char *suite, int planned) : suite_(suite), planned_(planned) {
        std::printf("TAP version 13\n1..%d\n", planned);
        std::fflush(stdout);
    }

    bool ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 3, 4))) {
        va_list ap;
        va_start(ap, fmt);
        char name[512];
        std::vsnprintf(name, sizeof(name), fmt, ap);
        va_end(ap);
        ++ran_;
        if (!cond)
            ++failed_;
        std::printf("%sok %d - %s\n", cond ? "" : "not ", ran_, name);
        std::fflush(stdout);
        return cond;
    }

    void skip(const char *name, const char *reason) {
        ++ran_;
        std::printf("ok %d - %s # SKIP %s\n", ran_, name, reason);
        std::fflush(stdout);
    }

    void diag(const char *fmt, ...) __attribute__((format(printf, 2, 3))) {
        va_list ap;
        va_start(ap, fmt);
        std::fputs("# ", stdout);
        std::vprintf(fmt, ap);
        std::fputc('\n', stdout);
        va_end(ap);
        std::fflush(stdout);
    }

    // Text of several lines (a verifier's log) as diagnostics, "# " on each.
    void diag_lines(const std::string &text) {
        for (size_t pos = 0; pos < text.size();) {
            size_t nl = std::min(text.find('\n', pos), text.size());
            diag("%s", text.substr(pos, nl - pos).c_str());
            pos = nl + 1;
        }
    }

    // Stop here: the remaining planned tests are reported as failed.
    [[noreturn]] void bail(const std::string &why) {
        // TAP has one line for the reason; the rest as diagnostics.
        size_t nl = why.find('\n');
        std::printf("Bail out! %s: %s\n", suite_, why.substr(0, nl).c_str());
        if (nl != std::string::npos)
            diag_lines(why.substr(nl + 1));
        std::fflush(stdout);
        std::exit(1);
    }

    // A deliberately broken run, to show that a failing selftest fails
    // `make check`: VOUCH_SELFTEST_BREAK=<suite> (or "all") flips assertions.
    bool broken() const {
        const char *b = std::getenv("VOUCH_SELFTEST_BREAK");
        return b && (std::strcmp(b, suite_) == 0 || std::strcmp(b, "all") == 0);
    }

    int finish() {
        if (ran_ != planned_) {
            std::printf("# %s: planned %d tests, ran %d\n", suite_, planned_, ran_);
            return 1;
        }
        return failed_ ? 1 : 0;
    }

  private:
    const char *suite_;
    int planned_;
    int ran_ = 0;
    int failed_ = 0;
};

} // namespace vouch::selftest
