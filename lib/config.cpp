// SPDX-License-Identifier: Apache-2.0
#include "lib/config.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "lib/parse.h"

namespace vouch {

namespace {

std::string trim(const std::string &s) {
    size_t b = s.find_first_not_of(" \t\r");
    if (b == std::string::npos)
        return "";
    size_t e = s.find_last_not_of(" \t\r");
    return s.substr(b, e - b + 1);
}

Result<bool> parse_bool(const std::string &v, const std::string &where) {
    if (v == "yes" || v == "true" || v == "1" || v == "on")
        return true;
    if (v == "no" || v == "false" || v == "0" || v == "off")
        return false;
    return make_error(EINVAL, where + ": '" + v + "' is not a boolean (yes or no)");
}

} // namespace

Result<void> apply_setting(DaemonConfig &cfg, const std::string &key, const std::string &value,
                           const std::string &where) {
    auto need_abs = [&](std::string &dst, bool allow_empty) -> Result<void> {
        if (value.empty() && allow_empty) {
            dst.clear();
            return {};
        }
        if (value.empty() || value[0] != '/')
            return make_error(EINVAL, where + ": " + key + " must be an absolute path, not '" +
                                          value + "'");
        dst = value;
        return {};
    };
    if (key == "pin_dir")
        return need_abs(cfg.pin_dir, true);
    if (key == "log_dir")
        return need_abs(cfg.log_dir, false);
    if (key == "state_dir")
        return need_abs(cfg.state_dir, false);
    if (key == "policy")
        return need_abs(cfg.policy, true);
    if (key == "keys_dir")
        return need_abs(cfg.keys_dir, false);
    if (key == "local_signing_key")
        return need_abs(cfg.local_signing_key, true);
    if (key == "tcti") {
        if (value.empty())
            return make_error(EINVAL, where + ": tcti is empty (e.g. device:/dev/tpmrm0)");
        cfg.tcti = value;
        return {};
    }
    if (key == "tpm" || key == "cache" || key == "verity") {
        auto b = parse_bool(value, where + ": " + key);
        if (!b)
            return b.error();
        (key == "tpm" ? cfg.tpm : key == "cache" ? cfg.cache : cfg.verity) = *b;
        return {};
    }
    if (key == "pcr") {
        uint64_t n = 0;
        if (!parse_uint(value, 23, &n))
            return make_error(EINVAL, where + ": pcr must be a PCR index from 0 to 23, not '" +
                                          value + "'");
        cfg.pcr = static_cast<uint32_t>(n);
        return {};
    }
    if (key == "ringbuf_size") {
        char *end = nullptr;
        errno = 0;
        unsigned long long n = std::strtoull(value.c_str(), &end, 0);
        if (value.empty() || *end || errno || n < 4096 || n > (1ull << 30) || (n & (n - 1)))
            return make_error(EINVAL, where +
                                          ": ringbuf_size must be a power of two from 4096 to "
                                          "1073741824 bytes, not '" +
                                          value + "'");
        cfg.ringbuf_bytes = static_cast<uint32_t>(n);
        return {};
    }
    if (key == "template") {
        if (value != "ima-ng" && value != "ima-sig")
            return make_error(EINVAL,
                              where + ": template must be ima-ng or ima-sig, not '" + value + "'");
        cfg.template_name = value;
        return {};
    }
    return make_error(EINVAL, where + ": unknown setting '" + key + "'");
}

Result<void> load_config_file(DaemonConfig &cfg, const std::string &path, bool optional) {
    std::ifstream in(path);
    if (!in) {
        int err = errno;
        if (optional && err == ENOENT)
            return {};
        return make_error(err, "cannot read " + path + ": " + std::strerror(err));
    }
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
        std::string where = path + ":" + std::to_string(n);
        size_t hash = line.find('#');
        if (hash != std::string::npos)
            line.resize(hash);
        line = trim(line);
        if (line.empty())
            continue;
        size_t eq = line.find('=');
        if (eq == std::string::npos)
            return make_error(EINVAL, where + ": expected 'key = value', got '" + line + "'");
        if (auto r = apply_setting(cfg, trim(line.substr(0, eq)), trim(line.substr(eq + 1)), where);
            !r)
            return r;
    }
    return {};
}

} // namespace vouch
