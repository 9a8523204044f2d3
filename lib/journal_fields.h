/* SPDX-License-Identifier: Apache-2.0 */
// The journal records vouchd writes and `vouchctl denials` reads: one
// definition for writer and reader. packaging/systemd/vouch.catalog explains
// each MESSAGE_ID to `journalctl -x`; vouchd(8) lists the kinds and fields.
// The IDs are stable: SIEM rules match on them.
#pragma once

namespace vouch::journal {

// MESSAGE_ID values, as systemd spells them (32 lower-case hex digits).
inline constexpr const char *kDenied = "e47154a8ef0f41cb99370401df897587";
inline constexpr const char *kWouldDeny = "bad51e0a2aa74e9ab2c486db99c63461";
inline constexpr const char *kPolicyActivated = "5754472ae05042dd9e31cbdcd86e2287";
inline constexpr const char *kPolicyRefused = "228aa6de088044bdafd05f38ba010da0";
inline constexpr const char *kTpmState = "42b7d49fe2b74a3cb3489efa442dd4f3";
inline constexpr const char *kLogMismatch = "fb3305a83ed843a98a9b3431f3295d5e";
inline constexpr const char *kLostEvents = "96d3f123095c4381a18da06bca4ada7d";
// What protects against rollback changed (VOUCH_PROTECTION, VOUCH_CAUSE).
inline constexpr const char *kProtection = "ab2a140b203e462f98e22737b6586116";
// Records of one kind left out by the rate limit, counted (VOUCH_SUPPRESSED,
// VOUCH_SUPPRESSED_ID).
inline constexpr const char *kSuppressed = "5d1dd5e124054733b3276979af38450c";

// Field names (journal fields: upper case, digits and '_').
inline constexpr const char *kPath = "VOUCH_PATH";
inline constexpr const char *kDigest = "VOUCH_DIGEST"; // "sha256:<hex>", as the IMA log
inline constexpr const char *kPid = "VOUCH_PID";
inline constexpr const char *kUid = "VOUCH_UID";
inline constexpr const char *kHook = "VOUCH_HOOK";
inline constexpr const char *kSerial = "VOUCH_SERIAL";
inline constexpr const char *kMode = "VOUCH_MODE";
inline constexpr const char *kCause = "VOUCH_CAUSE";                // a refusal's reason
inline constexpr const char *kTpm = "VOUCH_TPM_STATE";              // TpmState's name
inline constexpr const char *kLost = "VOUCH_LOST";                  // events lost
inline constexpr const char *kProtectionEntry = "VOUCH_PROTECTION"; // Protection's entry
inline constexpr const char *kSuppressedCount = "VOUCH_SUPPRESSED";
inline constexpr const char *kSuppressedId = "VOUCH_SUPPRESSED_ID";

} // namespace vouch::journal
