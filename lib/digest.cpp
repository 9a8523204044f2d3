// SPDX-License-Identifier: Apache-2.0
#include "lib/digest.h"

#include <fcntl.h>
#include <linux/fsverity.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include <openssl/evp.h>

#include "lib/fd.h"

namespace vouch {

namespace {

std::optional<Sha256> verity_of(int fd) {
    // struct fsverity_digest ends in a flexible array: room for SHA-512.
    alignas(fsverity_digest) uint8_t buf[sizeof(fsverity_digest) + 64] = {};
    auto *d = reinterpret_cast<fsverity_digest *>(buf);
    d->digest_size = 64;
    if (ioctl(fd, FS_IOC_MEASURE_VERITY, d) != 0 ||
        d->digest_algorithm != FS_VERITY_HASH_ALG_SHA256 || d->digest_size != 32)
        return std::nullopt;
    Sha256 out;
    std::memcpy(out.data(), buf + sizeof(fsverity_digest), out.size());
    return out;
}

} // namespace

Result<Sha256> sha256_file(const std::string &path, std::atomic<uint64_t> *bytes,
                           std::optional<Sha256> *verity, Md5 *md5) {
    // O_NONBLOCK: a FIFO put where a file was expected must not hang us.
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd)
        return make_error(errno, "open " + path + ": " + std::strerror(errno));
    if (verity)
        *verity = verity_of(fd.get());
    EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
        return make_error(ENOMEM, "SHA-256 context");
    EvpMdCtxPtr md5ctx(md5 ? EVP_MD_CTX_new() : nullptr);
    if (md5 && (!md5ctx || EVP_DigestInit_ex(md5ctx.get(), EVP_md5(), nullptr) != 1))
        return make_error(ENOMEM, "MD5 context");
    std::array<uint8_t, 1 << 16> buf;
    for (;;) {
        ssize_t n = ::read(fd.get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return make_error(errno, "read " + path + ": " + std::strerror(errno));
        if (n == 0)
            break;
        EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(n));
        if (md5ctx)
            EVP_DigestUpdate(md5ctx.get(), buf.data(), static_cast<size_t>(n));
        if (bytes)
            bytes->fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
    }
    Sha256 out{};
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx.get(), out.data(), &len);
    if (md5ctx)
        EVP_DigestFinal_ex(md5ctx.get(), md5->data(), &len);
    return out;
}

Sha256 sha256_bytes(std::span<const uint8_t> data) {
    Sha256 out{};
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr);
    return out;
}

std::string to_hex(std::span<const uint8_t> bytes) {
    static const char digits[] = "0123456789abcdef";
    std::string s;
    s.reserve(bytes.size() * 2);
    for (uint8_t b : bytes) {
        s.push_back(digits[b >> 4]);
        s.push_back(digits[b & 0xf]);
    }
    return s;
}

std::optional<Sha256> fsverity_sha256(const std::string &path) {
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd)
        return std::nullopt;
    return verity_of(fd.get());
}

} // namespace vouch
