/* SPDX-License-Identifier: Apache-2.0 */
// The measurement log in the kernel IMA's own format, so that evmctl, Keylime
// and every other IMA verifier read vouch's log unchanged.
//
// Binary entry (all u32 native-endian, as the kernel writes them):
//   u32 pcr | u8 template_hash[20] (SHA-1 over the template data) |
//   u32 name_len | name | u32 data_len | data
// Template data is a sequence of fields, each u32 len | bytes:
//   ima-ng:  d-ng ("sha256" ':' NUL digest), n-ng (path NUL)
//   ima-sig: d-ng, n-ng, sig (security.ima signature, possibly empty)
//   ima-ngv2, ima-sigv2: the same with d-ngv2 ("type" ':' "algo" ':' NUL
//   digest) for d-ng; vouch writes them, as the kernel's IMA does, for a file
//   identified by its fs-verity digest ("verity:sha256").
//   ima-buf: d-ng (SHA-256 of buf), n-ng (name NUL), buf (raw bytes): what
//   the kernel's IMA writes for measured buffers (keys, policy, critical
//   data), and vouch for records of its own state (lib/vouch_records.h).
// A violation (a measurement that was lost) has an all-zero file digest and
// an all-zero template hash; the TPM is extended with all-ones instead.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lib/result.h"

namespace vouch::ima {

inline constexpr const char *kImaNg = "ima-ng";
inline constexpr const char *kImaSig = "ima-sig";
inline constexpr const char *kImaNgV2 = "ima-ngv2";
inline constexpr const char *kImaSigV2 = "ima-sigv2";
inline constexpr const char *kImaBuf = "ima-buf";
// The d-ngv2 "type:algo" of an fs-verity digest.
inline constexpr const char *kVeritySha256 = "verity:sha256";

// Does the template carry a sig field (ima-sig, ima-sigv2)?
bool has_sig(const std::string &template_name);
// The v2 template (d-ngv2 digest field) of a v1 one: ima-ng -> ima-ngv2,
// ima-sig -> ima-sigv2.
std::string v2_template(const std::string &template_name);

struct Entry {
    uint32_t pcr = 10;
    std::string template_name = kImaNg;
    std::string algo = "sha256";      // of the file digest; "verity:sha256" in d-ngv2
    std::vector<uint8_t> file_digest; // empty: parsed from an unknown template
    std::string path;
    std::vector<uint8_t> sig; // ima-sig only
    std::vector<uint8_t> buf; // ima-buf only: the measured buffer
    bool violation = false;
    std::array<uint8_t, 20> template_sha1{}; // as recorded in the log
    std::vector<uint8_t> template_data;      // the fields, as hashed
};

// A measurement as vouch records it: template data and SHA-1 template hash
// filled in (zeros for a violation). The name field is `path` with each space
// as '_', as the kernel's IMA writes it; every other byte (a newline, a
// control byte, one that is not UTF-8) stays as it is, as there.
Entry make_entry(uint32_t pcr, const std::string &template_name, const std::string &algo,
                 std::span<const uint8_t> file_digest, const std::string &path,
                 std::span<const uint8_t> sig = {});
Entry make_violation(uint32_t pcr, const std::string &template_name, const std::string &path);
// An ima-buf entry, as the kernel's IMA writes one for a measured buffer:
// d-ng "sha256:" NUL SHA-256(buf), n-ng name NUL (kept as it is), buf.
Entry make_buf_entry(uint32_t pcr, const std::string &name, std::span<const uint8_t> buf);

std::vector<uint8_t> template_data(const std::string &template_name, const std::string &algo,
                                   std::span<const uint8_t> file_digest, const std::string &path,
                                   std::span<const uint8_t> sig);

// The template hash for a PCR bank: the bank's hash over the template data,
// or all-ones of the bank's size for a violation. `md` is an OpenSSL digest
// name ("sha1", "sha256", ...). Empty when OpenSSL does not know it.
std::vector<uint8_t> bank_template_hash(const Entry &e, const char *md);

std::vector<uint8_t> encode_binary(const Entry &e);
std::string encode_ascii(const Entry &e);

// Parses a whole binary log; every length is checked against the input.
Result<std::vector<Entry>> parse_binary(std::span<const uint8_t> bytes);

// Parses an ASCII log (the kernel's ascii_runtime_measurements, or vouch's):
// one entry per line, "PCR TEMPLATE_HASH TEMPLATE DIGEST PATH [SIG]". For
// ima-ng, ima-sig and their v2 forms DIGEST is "algo:hex" ("type:algo:hex"
// in v2), the template data is rebuilt from the fields, and a path may hold
// spaces (ima-sig's signature is the last field, empty or not). ima-buf:
// "PCR HASH ima-buf algo:hex NAME HEXBUF", the buffer in hex as the kernel
// prints it, its template data rebuilt. A path may
// hold newlines too (the kernel prints a name as it is): such an entry
// continues on the following lines, as many as make its template hash match
// (for a violation, whose hash covers nothing: the following lines that do
// not begin as an entry does). The legacy "ima" template's DIGEST is bare
// SHA-1 hex (algo "sha1"). Other templates: name and template hash only. An
// all-zero template hash is a violation. Errors name the line.
Result<std::vector<Entry>> parse_ascii(std::string_view text);

// A log file's bytes in either form: binary when one of its first four bytes
// is NUL (a binary log starts with a native-endian u32 PCR index below 24), an
// ASCII log otherwise (it never holds a NUL).
Result<std::vector<Entry>> parse_any(std::span<const uint8_t> bytes);

} // namespace vouch::ima
