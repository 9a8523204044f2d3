/* SPDX-License-Identifier: Apache-2.0 */
// fs-verity for the VM selftests and make bench: the file system
// (kernel/vm/guest-verity-mount) and enabling verity on a file.
#pragma once

#include <fcntl.h>
#include <linux/fsverity.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "lib/result.h"

namespace vouch::selftest {

inline constexpr const char *kVerityMount = "/mnt/verity";

// Mounts the verity-capable ext4 at kVerityMount (idempotent).
inline Result<void> mount_verity_fs() {
    std::string cmd = std::string("/usr/lib/vouch/guest-verity-mount ") + kVerityMount;
    if (std::system(cmd.c_str()) != 0)
        return make_error(EIO, cmd + " failed");
    return {};
}

// FS_IOC_ENABLE_VERITY with SHA-256 and 4 KiB blocks (the page size, which
// 6.1 requires); reads the whole file once to build the Merkle tree.
inline Result<void> enable_verity(const std::string &path) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return make_error(errno, "open " + path + ": " + std::strerror(errno));
    fsverity_enable_arg arg{};
    arg.version = 1;
    arg.hash_algorithm = FS_VERITY_HASH_ALG_SHA256;
    arg.block_size = 4096;
    int rc = ioctl(fd, FS_IOC_ENABLE_VERITY, &arg);
    int err = errno;
    close(fd);
    if (rc != 0)
        return make_error(err, "FS_IOC_ENABLE_VERITY " + path + ": " + std::strerror(err));
    return {};
}

} // namespace vouch::selftest
