/* SPDX-License-Identifier: Apache-2.0 */
// vouchd's one narrow interface to the TPM: which PCR banks exist, extend a
// PCR in several banks at once, read a PCR back, and one ordinary NV index
// (define, read its public area, read, write) for the policy serial's floor
// across reboots. tpm2-tss (ESAPI over the TCTI
// loader) stays behind this header so that the rest of the agent never sees a
// TSS type or return code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lib/result.h"

namespace vouch {

// TPM2_ALG_ID values of the hash algorithms a PCR bank can use (TCG algorithm
// registry). Plain integers so that callers need no TSS header; tpm.cpp checks
// them against tpm2-tss's definitions.
inline constexpr uint16_t kTpmAlgSha1 = 0x0004;
inline constexpr uint16_t kTpmAlgSha256 = 0x000B;
inline constexpr uint16_t kTpmAlgSha384 = 0x000C;
inline constexpr uint16_t kTpmAlgSha512 = 0x000D;
inline constexpr uint16_t kTpmAlgSm3_256 = 0x0012;

// Digest size in bytes of a bank's hash, 0 for an algorithm vouch does not know
// (the caller cannot compute that bank's digests, so must not extend it).
size_t digest_size(uint16_t alg);
// "sha1", "sha256", "sha384", "sha512", "sm3_256"; "unknown" otherwise, so the
// result is always safe to print.
const char *bank_name(uint16_t alg);
// OpenSSL's name for the bank's hash ("sha256"), null for one vouch cannot
// compute (it then cannot replay or extend that bank).
const char *bank_md_name(uint16_t alg);

// TPMA_NV bits (TPM 2.0 Part 2, 13.4) vouch uses or checks; tpm.cpp checks
// them against tpm2-tss's definitions.
inline constexpr uint32_t kTpmaNvOwnerWrite = 0x00000002;
inline constexpr uint32_t kTpmaNvAuthWrite = 0x00000004;
inline constexpr uint32_t kTpmaNvWriteLocked = 0x00000800;
inline constexpr uint32_t kTpmaNvOwnerRead = 0x00020000;
inline constexpr uint32_t kTpmaNvAuthRead = 0x00040000;
inline constexpr uint32_t kTpmaNvNoDa = 0x02000000;
inline constexpr uint32_t kTpmaNvReadLocked = 0x10000000;
inline constexpr uint32_t kTpmaNvWritten = 0x20000000;
inline constexpr uint32_t kTpmaNvPlatformCreate = 0x40000000;
// Bits the TPM sets and clears itself (state, not the definition): a check
// of an index's attributes against a definition ignores them.
inline constexpr uint32_t kTpmaNvStateBits =
    kTpmaNvWriteLocked | kTpmaNvReadLocked | kTpmaNvWritten;

// An NV index's public area (TPM2_NV_ReadPublic), as far as vouch checks it.
struct NvPublic {
    uint32_t index = 0;
    uint16_t name_alg = 0;   // TPM2_ALG_ID
    uint32_t attributes = 0; // TPMA_NV, state bits included
    uint16_t size = 0;       // bytes
};

// One bank's digest for an extend: the bank's algorithm and a digest of
// exactly digest_size(alg) bytes.
using BankDigest = std::pair<uint16_t, std::vector<uint8_t>>;

// A connection to one TPM through a TCTI. Not thread-safe: vouchd owns one
// from its TPM thread, which is also why blocking calls here never delay an
// exec. Calls block until the TPM answers: ESAPI's synchronous calls wait
// without a deadline, and tpm2-tss 3.2's swtpm TCTI ignores timeouts anyway, so
// a TPM that takes a command and never answers stalls that thread (a TPM that
// is gone fails at once, see EIO).
//
// Error codes (Error::code) of every call, so that callers can decide without
// parsing messages:
//   EAGAIN  the TPM asked to be asked again (TPM_RC_RETRY, YIELDED, TESTING,
//           CANCELED) after ESAPI's own resubmissions; transient.
//   EIO     the TCTI failed (connection lost, I/O error, timeout); transient.
//           The connection is dropped and the next call reconnects, so a TPM
//           that comes back (a restarted swtpm, a resource manager) is used
//           again without a new Tpm. An extend that failed this way may or
//           may not have reached the TPM: a retry can extend twice, which a
//           replay of the log against read_pcr() detects.
//   ENODEV  open(): nothing answers at that TCTI (no device, no swtpm, no
//           such TCTI library). The message names the TCTI.
//   EINVAL  a bad argument (PCR index, unknown algorithm, digest length);
//           nothing was sent to the TPM.
//   ENOENT  read_pcr(): the PCR is not allocated in that bank; the nv_*
//           calls: no NV index at that handle.
//   EEXIST  nv_define(): an index is defined at that handle already.
//   ENODATA nv_read(): the index was defined but never written.
//   EACCES  the TPM refused the authorization: a wrong password for the
//           owner hierarchy (e.g. it has one and vouch sent none) or for the
//           index, or the TPM is in dictionary-attack lockout.
//   ENOSPC  nv_define(): no NV space left on the TPM.
//   EPROTO  the TPM or the TSS refused the command for any other reason.
// Messages carry the TCTI, the command, and the TSS return code decoded by
// Tss2_RC_Decode.
class Tpm {
  public:
    // The TCTI configuration string of tpm2-tss's TCTI loader, e.g.
    // "device:/dev/tpmrm0" (the kernel's resource manager, vouchd's default),
    // "swtpm:path=/run/swtpm/sock" or "swtpm:host=127.0.0.1,port=2321".
    static constexpr const char *kDefaultTcti = "device:/dev/tpmrm0";

    // Connects and asks the TPM for its PCR allocation, so that success means
    // a TPM answered, not just that a TCTI library loaded.
    static Result<std::unique_ptr<Tpm>> open(const std::string &tcti);

    ~Tpm();
    Tpm(const Tpm &) = delete;
    Tpm &operator=(const Tpm &) = delete;

    const std::string &tcti() const { return tcti_; }

    // The banks (hash algorithms) in which `pcr` is allocated, in the TPM's
    // order (TPM2_GetCapability(TPM2_CAP_PCRS)). Asked anew on each call: the
    // allocation can change with TPM2_PCR_Allocate and a reboot of the TPM.
    Result<std::vector<uint16_t>> allocated_banks(uint32_t pcr);

    // One TPM2_PCR_Extend of `pcr` with one digest per bank given; banks not
    // given are left alone. Each algorithm at most once. A bank the TPM
    // implements but has not allocated for `pcr` is ignored by the TPM, so
    // pass the banks from allocated_banks().
    Result<void> extend(uint32_t pcr, const std::vector<BankDigest> &digests);

    // The current value of `pcr` in `bank`.
    Result<std::vector<uint8_t>> read_pcr(uint32_t pcr, uint16_t bank);

    // Whether the owner hierarchy has a password (TPM2_GetCapability
    // TPM_PT_PERMANENT, ownerAuthSet). Asked before anything that needs owner
    // authorization: sending an empty password to an owner that has one is
    // an authorization failure the TPM counts towards its dictionary-attack
    // lockout.
    Result<bool> owner_auth_set();

    // Defines an ordinary NV index of `size` bytes with `attributes`
    // (TPMA_NV, no state bits), name algorithm SHA-256 and an empty
    // authValue, authorized by the owner hierarchy with an empty password.
    Result<void> nv_define(uint32_t index, uint16_t size, uint32_t attributes);
    // Removes an index the owner hierarchy (empty password) defined.
    Result<void> nv_undefine(uint32_t index);
    // The index's public area.
    Result<NvPublic> nv_read_public(uint32_t index);
    // `size` bytes from offset 0, authorized by the index's own (empty)
    // authValue (TPMA_NV_AUTHREAD).
    Result<std::vector<uint8_t>> nv_read(uint32_t index, uint16_t size);
    // `data` at offset 0, authorized by the index's own (empty) authValue
    // (TPMA_NV_AUTHWRITE).
    Result<void> nv_write(uint32_t index, const std::vector<uint8_t> &data);

    // Whether an NV index is defined at `index` (TPM2_CAP_HANDLES).
    Result<bool> nv_defined(uint32_t index);

    // Whether retrying the same call later may succeed (EAGAIN, EIO above).
    static bool transient(const Error &e);

  private:
    struct Conn;
    class NvHandle;
    explicit Tpm(std::string tcti, std::unique_ptr<Conn> conn);
    static Result<std::unique_ptr<Conn>> connect(const std::string &tcti);
    // The ESAPI context, reconnecting first if an earlier TCTI failure dropped it.
    Result<Conn *> conn();
    // Turns a TSS return code of `what` into an Error and drops the connection
    // when ESAPI can no longer use it.
    Error fail(const std::string &what, uint32_t rc);

    std::string tcti_;
    std::unique_ptr<Conn> conn_;
};

} // namespace vouch
