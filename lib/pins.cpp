// SPDX-License-Identifier: Apache-2.0
#include "lib/pins.h"

#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>
#include <vector>

#include "lib/owned.h"

namespace vouch {

Result<void> unpin(const std::string &dir) {
    std::vector<std::string> paths;
    for (const auto &m : kPinnedMaps)
        paths.push_back(dir + "/" + m.name);
    paths.push_back(dir + "/" + kTrustPin.name);
    paths.push_back(dir + "/" + kProtectPin.name);
    // Link pins are found by their prefix rather than from the BPF object, so
    // the pins of programs an older or newer vouchd attached go too.
    Owned<DIR, closedir> d(opendir(dir.c_str()));
    if (!d && errno != ENOENT)
        return make_error(errno, "open " + dir + ": " + errno_message(errno));
    if (d) {
        while (const dirent *e = readdir(d.get())) {
            if (std::string_view(e->d_name).starts_with(kLinkPinPrefix))
                paths.push_back(dir + "/" + e->d_name);
        }
    }
    for (const auto &p : paths) {
        if (unlink(p.c_str()) && errno != ENOENT)
            return make_error(errno, "unpin " + p + ": " + errno_message(errno));
    }
    if (rmdir(dir.c_str()) && errno != ENOENT)
        return make_error(errno, "remove " + dir + ": " + errno_message(errno));
    return {};
}

} // namespace vouch
