// Userspace SHA-256, the reference the kernel side's digests are compared to.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <span>
#include <string>

#include "result.h"

namespace vouch {

using Sha256 = std::array<uint8_t, 32>;

// `bytes`, if given, counts what was read as it goes (progress from other
// threads).
Result<Sha256> sha256_file(const std::string &path, std::atomic<uint64_t> *bytes = nullptr);
Sha256 sha256_bytes(std::span<const uint8_t> data);
std::string to_hex(std::span<const uint8_t> bytes);

} // namespace vouch
