#include "fd_io.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

} // namespace vouch
