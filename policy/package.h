/* SPDX-License-Identifier: Apache-2.0 */
// The files inside Debian and RPM packages, read from the archives without
// installing them: what `vouchctl policy make --deb/--rpm` lists, so that an
// upgrade can be authorized before dpkg or rpm writes a byte.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "lib/digest.h"
#include "lib/result.h"
#include "policy/compose.h"

namespace vouch::policy {

enum class PackageKind { Deb, Rpm };

struct PackageFile {
    std::string path; // where the package installs it: "/usr/bin/ls"
    Sha256 digest;
    uint32_t mode = 0; // permission bits as archived (07777)
    bool elf = false;  // starts with ELF's magic: an executable or a shared object
    // What the kernel may be asked to run or map executable: an ELF file,
    // or anything with an execute bit (scripts).
    bool executable() const { return elf || (mode & 0111) != 0; }
};

struct Package {
    std::string archive;            // the file read
    std::string name;               // "Package:" (deb), RPMTAG_NAME (rpm)
    std::string version;            // "Version:" (deb), [EPOCH:]VERSION-RELEASE (rpm)
    std::vector<PackageFile> files; // regular files (hard links included), archive order
};

// What the archive's first bytes say it is, or an error naming what it is not.
Result<PackageKind> package_kind(const std::string &path);

// Every regular file of the package with its SHA-256, streamed out of the
// archive (ar + data.tar.{gz,xz,zst,bz2,lzma} or plain; RPM lead + headers +
// cpio payload, any compressor libarchive reads). `bytes` counts the file
// content read, for progress on other threads.
Result<Package> read_package(const std::string &path, PackageKind kind,
                             std::atomic<uint64_t> *bytes = nullptr);

// The path a packaged file ends up at on this system: the archive's
// "./usr/bin/x" is "/usr/bin/x", and a parent directory that is a symlink on
// `root` is resolved (merged /usr: a package's /bin/ls is /usr/bin/ls, the path
// the kernel's IMA logs). A parent that does not exist is kept as written.
std::string installed_path(const std::string &archived, const std::string &root = "/");

// Lists every file of `p` in `doc` under its installed_path(); a file
// installed at one of `agents` is listed as an agent too (the packaged
// vouchd, which must manage vouch after the upgrade restarts it). Returns the
// agents it found.
std::vector<std::string> add_package(Document &doc, const Package &p,
                                     const std::vector<std::string> &agents = {});

struct PackageProgress {
    size_t packages_done, packages_total;
    uint64_t bytes_done;
};

// read_package() for every archive on `threads` threads (0: one per core),
// results in the order of `archives`; `progress` is called from the calling
// thread about every `interval_ms`.
std::vector<Result<Package>>
read_packages(const std::vector<std::string> &archives, PackageKind kind, unsigned threads = 0,
              const std::function<void(const PackageProgress &)> &progress = {},
              unsigned interval_ms = 1000);

} // namespace vouch::policy
