#include "io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "fd.h"
#include "fd_io.h"

namespace vouch::policy {

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

} // namespace vouch::policy
