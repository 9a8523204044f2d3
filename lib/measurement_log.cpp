// SPDX-License-Identifier: Apache-2.0
#include "lib/measurement_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include <openssl/evp.h>

#include "lib/digest.h"
#include "lib/file_io.h"
#include "lib/utf8.h"

namespace vouch {

namespace {

std::span<const uint8_t> as_bytes(const std::string &s) {
    return {reinterpret_cast<const uint8_t *>(s.data()), s.size()};
}

} // namespace

Result<MeasurementLog> MeasurementLog::open(const std::string &dir, mode_t mode) {
    MeasurementLog log;
    log.dir_ = dir;
    if (mkdir(dir.c_str(), 0755) && errno != EEXIST)
        return make_error(errno, "create " + dir + ": " + errno_message(errno));
    std::string bin = log.binary_path(), ascii = log.ascii_path();
    log.bin_.reset(::open(bin.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, mode));
    if (!log.bin_)
        return make_error(errno, "open " + bin + ": " + errno_message(errno));
    auto existing = read_all(log.bin_.get(), bin);
    if (!existing)
        return existing.error();
    auto parsed = ima::parse_binary(as_bytes(*existing));
    if (!parsed)
        return make_error(parsed.error().code,
                          bin + " cannot be continued: " + parsed.error().message);
    std::string text;
    for (auto &e : *parsed) {
        text += ima::encode_ascii(e);
        if (!e.violation)
            log.seen_.insert({e.pcr, e.template_sha1});
        log.entries_.push_back(std::move(e));
    }
    // Readers (an attestation agent) hold the ASCII file open across vouchd
    // restarts and read on from their offset: it is only ever appended to.
    // What a crash between the two writes of an entry left out is added; a
    // file that is not a prefix of the binary log's text (edited, or written
    // by another version) is replaced by a new file, so that an open
    // descriptor keeps the old bytes instead of seeing them change.
    log.ascii_.reset(::open(ascii.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, mode));
    if (!log.ascii_)
        return make_error(errno, "open " + ascii + ": " + errno_message(errno));
    auto have = read_all(log.ascii_.get(), ascii);
    if (!have)
        return have.error();
    if (have->size() <= text.size() && text.compare(0, have->size(), *have) == 0) {
        if (auto r =
                write_all(log.ascii_.get(), std::string_view(text).substr(have->size()), ascii);
            !r)
            return r.error();
    } else {
        log.ascii_rebuilt_ = true;
        if (auto r = write_file_atomic(ascii, text, mode); !r)
            return r.error();
        log.ascii_.reset(::open(ascii.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
        if (!log.ascii_)
            return make_error(errno, "open " + ascii + ": " + errno_message(errno));
    }
    return log;
}

Result<bool> MeasurementLog::append(const ima::Entry &e, bool dedupe) {
    if (dedupe && !e.violation && seen_.count({e.pcr, e.template_sha1}))
        return false;
    auto b = ima::encode_binary(e);
    // One write per entry with O_APPEND: a reader never sees half an entry
    // boundary misplaced, and a crash loses at most the entry being written.
    if (auto r = write_all(bin_.get(), b, binary_path()); !r)
        return r.error();
    auto a = ima::encode_ascii(e);
    if (auto r = write_all(ascii_.get(), a, ascii_path()); !r)
        return r.error();
    if (!e.violation)
        seen_.insert({e.pcr, e.template_sha1});
    entries_.push_back(e);
    return true;
}

namespace {

void extend(std::vector<uint8_t> &pcr, const std::vector<uint8_t> &value, const EVP_MD *md) {
    EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    EVP_DigestInit_ex(ctx.get(), md, nullptr);
    EVP_DigestUpdate(ctx.get(), pcr.data(), pcr.size());
    EVP_DigestUpdate(ctx.get(), value.data(), value.size());
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx.get(), pcr.data(), &len);
}

} // namespace

std::vector<uint8_t> replay(const std::vector<ima::Entry> &entries, uint32_t pcr, const char *md,
                            size_t count) {
    const EVP_MD *m = EVP_get_digestbyname(md);
    if (!m)
        return {};
    std::vector<uint8_t> value(static_cast<size_t>(EVP_MD_get_size(m)), 0);
    for (size_t i = 0; i < count && i < entries.size(); ++i) {
        if (entries[i].pcr == pcr)
            extend(value, ima::bank_template_hash(entries[i], md), m);
    }
    return value;
}

bool pcr_extend(std::vector<uint8_t> &value, const std::vector<uint8_t> &digest, const char *md) {
    const EVP_MD *m = EVP_get_digestbyname(md);
    if (!m)
        return false;
    extend(value, digest, m);
    return true;
}

long matching_prefix(const std::vector<ima::Entry> &entries, uint32_t pcr, const char *md,
                     const std::vector<uint8_t> &pcr_value, const std::vector<ima::Entry> &tail) {
    const EVP_MD *m = EVP_get_digestbyname(md);
    if (!m)
        return -1;
    std::vector<std::vector<uint8_t>> tail_hashes;
    for (const auto &t : tail)
        tail_hashes.push_back(ima::bank_template_hash(t, md));
    auto matches = [&](const std::vector<uint8_t> &value) {
        if (tail_hashes.empty())
            return value == pcr_value;
        std::vector<uint8_t> v = value;
        for (const auto &h : tail_hashes)
            extend(v, h, m);
        return v == pcr_value;
    };
    size_t size = static_cast<size_t>(EVP_MD_get_size(m));
    // The kernel's IMA extends a bank whose hash it cannot compute at boot
    // (often SHA-384/512) with the SHA-1 template hash, zero-padded. Only the
    // boot_aggregate that starts the log can come from the kernel, so that
    // entry may replay either way.
    auto run = [&](bool padded_boot_aggregate) {
        std::vector<uint8_t> value(size, 0);
        // The longest prefix wins: with repeated values the later state is
        // the one the TPM can be in after all of them were extended.
        long match = matches(value) ? 0 : -1;
        bool first = true;
        for (size_t i = 0; i < entries.size(); ++i) {
            if (entries[i].pcr != pcr)
                continue;
            std::vector<uint8_t> h;
            if (first && padded_boot_aggregate && entries[i].path == "boot_aggregate") {
                h.assign(entries[i].template_sha1.begin(), entries[i].template_sha1.end());
                h.resize(size, 0);
            } else {
                h = ima::bank_template_hash(entries[i], md);
            }
            first = false;
            extend(value, h, m);
            if (matches(value))
                match = static_cast<long>(i + 1);
        }
        return match;
    };
    long plain = run(false);
    if (size <= 20)
        return plain;
    return std::max(plain, run(true));
}

} // namespace vouch

namespace vouch {

Result<std::vector<ima::Entry>> read_binary_log(const std::string &path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        return make_error(errno, "open " + path + ": " + errno_message(errno));
    auto bytes = read_all(fd.get(), path);
    if (!bytes)
        return bytes.error();
    auto all = ima::parse_binary(as_bytes(*bytes));
    if (!all)
        return make_error(all.error().code, path + ": " + all.error().message);
    return all;
}

Result<std::vector<ima::Entry>> kernel_ima_seed(const std::string &kernel_log, uint32_t pcr,
                                                bool continued, uint64_t *count) {
    if (count)
        *count = 0;
    auto all = read_binary_log(kernel_log);
    if (!all) {
        if (all.error().code == ENOENT)
            return std::vector<ima::Entry>{};
        return all.error();
    }
    if (count)
        *count = all->size();
    std::vector<ima::Entry> on_pcr;
    for (auto &e : *all)
        if (e.pcr == pcr)
            on_pcr.push_back(std::move(e));
    if (on_pcr.empty())
        return on_pcr;
    bool first_is_ba = on_pcr[0].path == "boot_aggregate";
    // Violations (open_writers, ToMToU) go to PCR 10 whatever the kernel
    // policy's pcr=: they start the log too, in the kernel's order. Only
    // measurements mean the kernel's IMA measures into the PCR.
    size_t others = 0;
    for (size_t i = first_is_ba ? 1 : 0; i < on_pcr.size(); ++i)
        others += !on_pcr[i].violation;
    if (others == 0)
        return on_pcr;
    if (continued) {
        on_pcr.resize(first_is_ba ? 1 : 0);
        return on_pcr;
    }
    size_t first_other = first_is_ba ? 1 : 0;
    while (on_pcr[first_other].violation)
        ++first_other;
    const ima::Entry &other = on_pcr[first_other];
    return make_error(EEXIST, "the kernel's IMA measures into PCR " + std::to_string(pcr) + " (" +
                                  std::to_string(others) + " entr" + (others == 1 ? "y" : "ies") +
                                  (first_is_ba ? " besides boot_aggregate" : "") +
                                  ", first: " + (other.path.empty() ? "?" : printable(other.path)) +
                                  "), so a log of vouch's there would not replay: choose another "
                                  "PCR (pcr= in vouch.conf, --pcr) or remove the pcr=" +
                                  std::to_string(pcr) + " rules from the kernel's IMA policy");
}

} // namespace vouch
