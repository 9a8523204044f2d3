/* SPDX-License-Identifier: Apache-2.0 */
// Userspace SHA-256, the reference the kernel side's digests are compared to.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <openssl/evp.h>

#include "lib/owned.h"
#include "lib/result.h"

namespace vouch {

using Sha256 = std::array<uint8_t, 32>;
using Md5 = std::array<uint8_t, 16>;

using EvpMdCtxPtr = Owned<EVP_MD_CTX, EVP_MD_CTX_free>;

// `bytes`, if given, counts what was read as it goes (progress from other
// threads). `verity`, if given, gets the file's fs-verity digest as
// fsverity_sha256() reads it, from the same open file. `md5`, if given, gets
// the MD5 of the same bytes (what dpkg records in *.md5sums) in the same pass.
Result<Sha256> sha256_file(const std::string &path, std::atomic<uint64_t> *bytes = nullptr,
                           std::optional<Sha256> *verity = nullptr, Md5 *md5 = nullptr);
Sha256 sha256_bytes(std::span<const uint8_t> data);
// The file's fs-verity digest (FS_IOC_MEASURE_VERITY, what `fsverity
// measure` prints) when it has fs-verity with SHA-256; nullopt otherwise.
std::optional<Sha256> fsverity_sha256(const std::string &path);
std::string to_hex(std::span<const uint8_t> bytes);

} // namespace vouch
