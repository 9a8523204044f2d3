// SPDX-License-Identifier: Apache-2.0
#include "lib/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "lib/fd.h"

namespace vouch {

Result<void> write_all(int fd, std::string_view data, const std::string &what) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return make_error(errno, "write " + what + ": " + std::strerror(errno));
        data.remove_prefix(static_cast<size_t>(n));
    }
    return {};
}

Result<std::string> read_all(int fd, const std::string &what, size_t limit) {
    std::string out;
    // A regular file's size is known: one allocation instead of a doubling
    // series, whose last step would briefly hold the content three times.
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        static_cast<uint64_t>(st.st_size) <= limit)
        out.reserve(static_cast<size_t>(st.st_size));
    char buf[1 << 16];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return make_error(errno, "read " + what + ": " + std::strerror(errno));
        if (n == 0)
            return out;
        if (out.size() + static_cast<size_t>(n) > limit)
            return make_error(EFBIG, what + ": larger than the limit of " + std::to_string(limit) +
                                         " bytes");
        out.append(buf, static_cast<size_t>(n));
    }
}

Result<std::string> read_file(const std::string &path, size_t limit) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        return make_error(errno, path + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd.get(), &st) == 0 && S_ISDIR(st.st_mode))
        return make_error(EISDIR, path + ": is a directory");
    return read_all(fd.get(), path, limit);
}

Result<void> write_file_atomic(const std::string &path, std::string_view data, unsigned mode) {
    std::string tmp = path + ".tmp";
    const size_t slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "."
                            : slash == 0               ? "/"
                                                       : path.substr(0, slash);
    {
        UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
        if (!fd)
            return make_error(errno, "create " + tmp + ": " + std::strerror(errno));
        if (auto r = write_all(fd.get(), data, tmp); !r)
            return r;
        if (::fsync(fd.get()) != 0)
            return make_error(errno, "fsync " + tmp + ": " + std::strerror(errno));
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0)
        return make_error(errno, "rename " + tmp + " to " + path + ": " + std::strerror(errno));
    // The rename is durable only once the directory entry is on disk.
    UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!d || ::fsync(d.get()) != 0)
        return make_error(errno, "fsync directory " + dir + ": " + std::strerror(errno));
    return {};
}

} // namespace vouch
