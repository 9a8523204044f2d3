// SPDX-License-Identifier: Apache-2.0
#include "lib/kernel_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "lib/digest.h"
#include "lib/file_io.h"
#include "lib/utf8.h"

namespace vouch {

Result<KernelLogFollower> KernelLogFollower::open(const std::string &binary_path,
                                                  const std::string &count_path) {
    KernelLogFollower f;
    f.path_ = binary_path;
    f.fd_.reset(::open(binary_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!f.fd_)
        return make_error(errno, "open " + binary_path + ": " + errno_message(errno));
    if (!count_path.empty()) {
        f.count_fd_.reset(::open(count_path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!f.count_fd_)
            return make_error(errno, "open " + count_path + ": " + errno_message(errno));
    }
    return f;
}

namespace {

uint32_t u32_at(const std::vector<uint8_t> &b, size_t at) {
    uint32_t v;
    std::memcpy(&v, b.data() + at, sizeof(v));
    return v;
}

// How many leading bytes of `b` are whole entries (the layout of
// ima/ima_log.h's binary entry).
size_t whole_entries(const std::vector<uint8_t> &b) {
    size_t at = 0;
    for (;;) {
        size_t p = at + 4 + 20;
        if (p + 4 > b.size())
            return at;
        p += 4 + size_t(u32_at(b, p));
        if (p + 4 > b.size())
            return at;
        p += 4 + size_t(u32_at(b, p));
        if (p > b.size())
            return at;
        at = p;
    }
}

} // namespace

Result<std::vector<ima::Entry>> KernelLogFollower::poll() {
    if (count_fd_ && seen_ > 0) {
        char buf[32];
        ssize_t n = ::pread(count_fd_.get(), buf, sizeof(buf) - 1, 0);
        if (n > 0) {
            buf[n] = 0;
            if (std::strtoull(buf, nullptr, 10) == seen_)
                return std::vector<ima::Entry>{};
        }
    }
    uint8_t buf[65536];
    for (;;) {
        ssize_t n = ::read(fd_.get(), buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return make_error(errno, "read " + path_ + ": " + errno_message(errno));
        if (n == 0)
            break;
        partial_.insert(partial_.end(), buf, buf + n);
    }
    size_t whole = whole_entries(partial_);
    if (whole == 0)
        return std::vector<ima::Entry>{};
    auto parsed = ima::parse_binary(std::span(partial_.data(), whole));
    if (!parsed)
        return make_error(parsed.error().code, path_ + ": " + parsed.error().message);
    partial_.erase(partial_.begin(), partial_.begin() + static_cast<long>(whole));
    seen_ += parsed->size();
    return parsed;
}

std::string kernel_count_path(const std::string &binary_log) {
    constexpr std::string_view kName = "binary_runtime_measurements";
    if (binary_log.size() < kName.size() ||
        binary_log.compare(binary_log.size() - kName.size(), kName.size(), kName) != 0)
        return "";
    std::string p =
        binary_log.substr(0, binary_log.size() - kName.size()) + "runtime_measurements_count";
    return ::access(p.c_str(), R_OK) == 0 ? p : "";
}

std::string encode_foreign(const ForeignExtend &f) {
    return std::to_string(f.after) + " " + std::to_string(f.kernel_index) + " " +
           to_hex(ima::encode_binary(f.entry)) + "\n";
}

namespace {

bool from_hex(std::string_view s, std::vector<uint8_t> &out) {
    if (s.size() % 2)
        return false;
    auto nib = [](char c) -> int {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        return -1;
    };
    out.clear();
    for (size_t i = 0; i < s.size(); i += 2) {
        int hi = nib(s[i]), lo = nib(s[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out.push_back(static_cast<uint8_t>(hi << 4 | lo));
    }
    return true;
}

bool number(std::string_view s, uint64_t &v) {
    if (s.empty() || s.size() > 19)
        return false;
    v = 0;
    for (char c : s) {
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + uint64_t(c - '0');
    }
    return true;
}

} // namespace

Result<std::vector<ForeignExtend>> parse_foreign(std::string_view text) {
    std::vector<ForeignExtend> out;
    size_t line = 0;
    while (!text.empty()) {
        ++line;
        size_t nl = text.find('\n');
        std::string_view l = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        auto bad = [&](const char *what) {
            return make_error(EBADMSG,
                              "foreign extends line " + std::to_string(line) + ": " + what);
        };
        size_t s1 = l.find(' '), s2 = s1 == std::string_view::npos ? s1 : l.find(' ', s1 + 1);
        if (s2 == std::string_view::npos)
            return bad("not \"AFTER KERNEL_INDEX HEX\"");
        ForeignExtend f;
        std::vector<uint8_t> bytes;
        if (!number(l.substr(0, s1), f.after) ||
            !number(l.substr(s1 + 1, s2 - s1 - 1), f.kernel_index))
            return bad("AFTER and KERNEL_INDEX must be numbers");
        if (!from_hex(l.substr(s2 + 1), bytes))
            return bad("the entry is not lower-case hex");
        auto e = ima::parse_binary(bytes);
        if (!e || e->size() != 1)
            return bad(e ? "not one entry" : e.error().message.c_str());
        f.entry = std::move((*e)[0]);
        out.push_back(std::move(f));
    }
    return out;
}

Result<std::vector<ForeignExtend>> read_foreign(const std::string &path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT)
            return std::vector<ForeignExtend>{};
        return make_error(errno, "open " + path + ": " + errno_message(errno));
    }
    auto text = read_all(fd.get(), path);
    if (!text)
        return text.error();
    auto r = parse_foreign(*text);
    if (!r)
        return make_error(r.error().code, path + ": " + r.error().message);
    return r;
}

std::string describe_foreign(const ForeignExtend &f) {
    const ima::Entry &e = f.entry;
    std::string what = e.violation ? "violation" : e.algo + ":" + to_hex(e.file_digest);
    return "kernel IMA entry " + std::to_string(f.kernel_index) + " (" + e.template_name + " " +
           what + " " + (e.path.empty() ? "?" : printable(e.path)) + ") after vouch's entry " +
           std::to_string(f.after);
}

std::vector<ima::Entry> with_foreign(const std::vector<ima::Entry> &on_pcr,
                                     const std::vector<ForeignExtend> &foreign,
                                     std::vector<bool> *is_foreign) {
    std::vector<const ForeignExtend *> sorted;
    for (const auto &f : foreign)
        sorted.push_back(&f);
    std::stable_sort(sorted.begin(), sorted.end(), [](auto *a, auto *b) {
        return a->after != b->after ? a->after < b->after : a->kernel_index < b->kernel_index;
    });
    std::vector<ima::Entry> out;
    size_t j = 0;
    for (size_t i = 0; i <= on_pcr.size(); ++i) {
        while (j < sorted.size() && sorted[j]->after <= i) {
            ima::Entry e = sorted[j++]->entry;
            if (!on_pcr.empty())
                e.pcr = on_pcr[0].pcr;
            out.push_back(std::move(e));
            if (is_foreign)
                is_foreign->push_back(true);
        }
        if (i < on_pcr.size()) {
            out.push_back(on_pcr[i]);
            if (is_foreign)
                is_foreign->push_back(false);
        }
    }
    return out;
}

} // namespace vouch
