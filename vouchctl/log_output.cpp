// SPDX-License-Identifier: Apache-2.0
#include "vouchctl/log_output.h"

#include <nlohmann/json.hpp>

#include "lib/digest.h"
#include "lib/ima_log.h"
#include "lib/utf8.h"

namespace vouch::ctl {

std::string log_ascii(const LogRecord &r, bool for_terminal) {
    char pcr[16];
    std::snprintf(pcr, sizeof(pcr), "%2u ", r.pcr);
    std::string s = pcr;
    s += to_hex(r.template_hash) + " " + r.template_name + " " + r.file_digest + " " +
         (for_terminal ? printable(r.path) : r.path);
    if (ima::has_sig(r.template_name)) {
        s += " " + to_hex(r.signature);
    } else if (r.template_name == ima::kImaBuf) {
        // The kernel prints the buffer in hex; people read vouch's records
        // (text) better as text.
        s += " " + (for_terminal ? "\"" + printable(buffer_text(r)) + "\"" : to_hex(r.signature));
    }
    s += '\n';
    return s;
}

std::string buffer_text(const LogRecord &r) {
    return std::string(r.signature.begin(), r.signature.end());
}

std::string log_json(const LogRecord &r) {
    nlohmann::ordered_json j;
    j["index"] = r.index;
    j["pcr"] = r.pcr;
    j["template_hash"] = to_hex(r.template_hash);
    j["template"] = utf8_safe(r.template_name);
    j["digest"] = utf8_safe(r.file_digest);
    j["path"] = utf8_safe(r.path);
    if (r.template_name == ima::kImaBuf) {
        j["signature"] = "";
        j["buffer"] = utf8_safe(buffer_text(r));
        j["buffer_hex"] = to_hex(r.signature);
    } else {
        j["signature"] = to_hex(r.signature);
    }
    j["violation"] = r.violation;
    // utf8_safe() leaves nothing for the handler to replace; it is there so
    // that a mistake cannot make dump() throw.
    return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

void LogJsonWriter::add(const LogRecord &r) {
    std::fprintf(out_, "%s\n  %s", empty_ ? "" : ",", log_json(r).c_str());
    empty_ = false;
}

void LogJsonWriter::finish() {
    if (done_)
        return;
    done_ = true;
    std::fputs(empty_ ? "]\n" : "\n]\n", out_);
}

} // namespace vouch::ctl
