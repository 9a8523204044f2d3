// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for policy make --deb/--rpm's archive reading
// (policy/package.cpp): .deb and RPM packages come from outside (a mirror, a
// vendor), and the RPM header parser is ours. Seeds: policy/fuzz-corpus-package
// (a small .deb and RPM built by dpkg-deb and rpmbuild). Invariants: no crash,
// no sanitizer report, and every listed path is absolute with no "." or ".."
// component, so a crafted archive cannot name a file outside the tree.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "policy/package.h"

namespace {

void check(bool ok) {
    if (!ok)
        std::abort();
}

bool clean_path(const std::string &p) {
    if (p.empty() || p[0] != '/' || p.find("//") != std::string::npos)
        return false;
    for (size_t pos = 0; pos < p.size();) {
        size_t next = p.find('/', pos + 1);
        std::string part = p.substr(pos + 1, next == std::string::npos ? next : next - pos - 1);
        if (part == "." || part == "..")
            return false;
        pos = next == std::string::npos ? p.size() : next;
    }
    return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    // The reader takes a path, as vouchctl gives it: an anonymous file.
    int fd = ::memfd_create("package", MFD_CLOEXEC);
    if (fd < 0)
        std::abort();
    for (size_t done = 0; done < size;) {
        ssize_t n = ::write(fd, data + done, size - done);
        if (n <= 0)
            std::abort();
        done += static_cast<size_t>(n);
    }
    std::string path = "/proc/self/fd/" + std::to_string(fd);
    using vouch::policy::PackageKind;
    auto kind = vouch::policy::package_kind(path);
    if (kind) {
        auto p = vouch::policy::read_package(path, *kind);
        if (p) {
            check(!p->name.empty());
            for (const auto &f : p->files)
                check(clean_path(f.path));
        }
    }
    ::close(fd);
    return 0;
}
