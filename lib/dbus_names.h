/* SPDX-License-Identifier: Apache-2.0 */
// The names on the bus that vouchd serves and vouchctl calls: one definition
// for server and client. packaging/dbus/org.vouch.Vouch1.xml documents the
// interface; packaging/dbus/org.vouch.Vouch1.conf is its bus policy.
#pragma once

#include <cstdint>

namespace vouch {

namespace dbus {
inline constexpr const char *kName = "org.vouch.Vouch1";
inline constexpr const char *kPath = "/org/vouch/Vouch1";
inline constexpr const char *kInterface = "org.vouch.Vouch1";

inline constexpr const char *kErrorBadSignature = "org.vouch.Vouch1.Error.BadSignature";
inline constexpr const char *kErrorUnknownKey = "org.vouch.Vouch1.Error.UnknownKey";
inline constexpr const char *kErrorRollback = "org.vouch.Vouch1.Error.Rollback";
inline constexpr const char *kErrorMalformed = "org.vouch.Vouch1.Error.Malformed";
inline constexpr const char *kErrorTooLarge = "org.vouch.Vouch1.Error.TooLarge";
inline constexpr const char *kErrorFailed = "org.vouch.Vouch1.Error.Failed";
// GetPolicy: no policy is active.
inline constexpr const char *kErrorNoPolicy = "org.vouch.Vouch1.Error.NoPolicy";
// The standard name, so that a caller sees the same error whether the bus
// policy or the daemon's own check refused it.
inline constexpr const char *kErrorAccessDenied = "org.freedesktop.DBus.Error.AccessDenied";

// GetLog refuses larger counts: a reply stays far below the system bus's
// message size limit (32 MiB) even with PATH_MAX paths.
inline constexpr uint32_t kMaxLogCount = 1024;
// CheckDigests takes at most this many digests per call (2 MiB of them).
inline constexpr uint32_t kMaxCheckDigests = 65536;

} // namespace dbus

} // namespace vouch
