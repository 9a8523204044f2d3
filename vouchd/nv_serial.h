/* SPDX-License-Identifier: Apache-2.0 */
// The policy serial's floor in the TPM: an ordinary NV index holding the
// highest serial accepted, so that rolling back the disk without the TPM
// (the disk moved to another machine, an image or VM snapshot restored)
// cannot lower the floor. The disk's policy-serial still counts: the floor
// is the higher of the two. README "Threat model" says what this stops and
// what it does not (root on the running machine can write the index).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "lib/result.h"
#include "lib/tpm.h"

namespace vouch {

// The index's handle: fixed, in the owner's range (0x01000000-0x013FFFFF),
// and deliberately not a setting, since root can edit vouch.conf for the
// next boot. vouchd(8) documents it and how an owner with a password
// defines it.
inline constexpr uint32_t kNvSerialIndex = 0x013A5E12;
// 8 bytes: the serial, big-endian.
inline constexpr uint16_t kNvSerialSize = 8;
// Read and written with the index's own empty authValue, never counted
// towards the TPM's dictionary-attack lockout (NO_DA: a failed empty
// password must not lock the owner out).
inline constexpr uint32_t kNvSerialAttributes = kTpmaNvAuthRead | kTpmaNvAuthWrite | kTpmaNvNoDa;

// "0x013a5e12"
std::string nv_index_name(uint32_t index = kNvSerialIndex);
// What `tpm2_nvdefine` an owner with a password runs, with `owner_password`
// in place of the password.
std::string nv_define_command(const std::string &owner_password = "OWNER_PASSWORD");

class NvSerial {
  public:
    enum class State {
        Unchecked,   // not tried yet
        Active,      // the index is vouch's and its value is known
        Unavailable, // no TPM, or the index cannot be used (why())
    };

    // Without a TPM at all (tpm = no): reported, never retried.
    void disable(std::string why);
    // Opens its own connection at `tcti` and sets the index up: reads it,
    // or defines it when absent and the owner hierarchy has no password;
    // checks its public area; reads the serial (0 if never written). Any
    // failure leaves the state Unavailable with the reason.
    void connect(const std::string &tcti);
    // Whether connect() is worth calling again: the TPM was missing or
    // failed transiently (not: a mismatching index, an owner password
    // without a defined index, which need the administrator).
    bool retry() const { return retry_; }

    State state() const { return state_; }
    bool active() const { return state_ == State::Active; }
    uint64_t serial() const { return serial_; }
    bool owner_auth_set() const { return owner_auth_set_; }
    const std::string &why() const { return why_; }

    // ESTALE, naming the index and both serials, when `serial` is below the
    // serial the index holds (only when active).
    Result<void> check(uint64_t serial) const;
    // Raises the index to `serial` (never lowers it; nothing to do when it
    // holds as much). A failure is kept for report() until a later write
    // succeeds, and returned.
    Result<void> raise(uint64_t serial);
    // The `serial` entry of the Protection property (README "D-Bus API").
    std::string report() const;

  private:
    void unavailable(std::string why, bool retry);

    std::unique_ptr<Tpm> tpm_;
    State state_ = State::Unchecked;
    uint64_t serial_ = 0;
    bool owner_auth_set_ = false;
    bool retry_ = false;
    std::string why_;
    std::string write_error_;
};

} // namespace vouch
