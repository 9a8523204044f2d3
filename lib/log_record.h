/* SPDX-License-Identifier: Apache-2.0 */
// One measurement log entry as clients see it: what vouchd's GetLog sends
// and what vouchctl prints, whether it read the entry from vouchd or from a
// log file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lib/digest.h"
#include "lib/ima_log.h"

namespace vouch {

struct LogRecord {
    uint64_t index = 0; // position in the log, from 0
    uint32_t pcr = 0;
    std::string template_name;          // "ima-ng" | "ima-sig" | ...
    std::vector<uint8_t> template_hash; // SHA-1, as in the log (zeros for a violation)
    std::string file_digest;            // "sha256:<hex>"
    std::string path;
    // ima-sig: the signature; ima-buf: the measured buffer (its third field,
    // where ima-sig's signature goes), e.g. a vouch record's text.
    std::vector<uint8_t> signature;
    bool violation = false;
};

inline LogRecord log_record(const ima::Entry &e, uint64_t index) {
    LogRecord r;
    r.index = index;
    r.pcr = e.pcr;
    r.template_name = e.template_name;
    r.template_hash.assign(e.template_sha1.begin(), e.template_sha1.end());
    r.file_digest = e.algo + ":" + to_hex(e.file_digest);
    r.path = e.path;
    r.signature = e.template_name == ima::kImaBuf ? e.buf : e.sig;
    r.violation = e.violation;
    return r;
}

} // namespace vouch
