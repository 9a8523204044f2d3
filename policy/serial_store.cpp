// SPDX-License-Identifier: Apache-2.0
#include "policy/serial_store.h"

#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "lib/file_io.h"

namespace vouch::policy {

Result<SerialStore> SerialStore::open(const std::string &state_dir) {
    SerialStore s;
    s.dir_ = state_dir;
    s.path_ = state_dir + "/" + kFileName;
    // A leftover policy-serial.tmp (crash before the rename) is ignored: the
    // committed value is the one the rename put in place, and the next commit
    // truncates the tmp file.
    auto text = read_file(s.path_, 64);
    if (!text) {
        if (text.error().code == ENOENT)
            return s;
        return text.error();
    }
    std::string_view t = *text;
    if (!t.empty() && t.back() == '\n')
        t.remove_suffix(1);
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (t.empty() || ec != std::errc() || end != t.data() + t.size())
        return make_error(EBADMSG, s.path_ + ": not a policy serial ('" + std::string(t) +
                                       "'); remove it only if rollback protection may be reset");
    s.highest_ = v;
    return s;
}

Result<void> SerialStore::check(uint64_t serial) const {
    if (serial < highest_)
        return make_error(ESTALE, "policy serial " + std::to_string(serial) + " is lower than " +
                                      std::to_string(highest_) + ", the highest accepted (" +
                                      path_ + "): rollback refused");
    return {};
}

Result<void> SerialStore::commit(uint64_t serial) {
    if (auto r = check(serial); !r)
        return r;
    if (serial == highest_ && serial != 0)
        return {};
    if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST)
        return make_error(errno, "create " + dir_ + ": " + std::strerror(errno));
    if (auto r = write_file_atomic(path_, std::to_string(serial) + "\n", 0600); !r)
        return r;
    highest_ = serial;
    return {};
}

} // namespace vouch::policy
