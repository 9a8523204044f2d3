// SPDX-License-Identifier: Apache-2.0
#include "vouchd/running.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cctype>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "lib/fd.h"
#include "lib/owned.h"

namespace vouch {

namespace {

std::string read_link(const std::string &p) {
    std::string buf(4096, '\0');
    ssize_t n = ::readlink(p.c_str(), buf.data(), buf.size());
    if (n <= 0 || static_cast<size_t>(n) >= buf.size())
        return {};
    buf.resize(static_cast<size_t>(n));
    return buf;
}

struct Mapping {
    std::string range; // "start-end", as map_files names it
    std::string path;
};

// The executable file mappings of one process.
std::vector<Mapping> exec_mappings(const std::string &pid_dir) {
    std::vector<Mapping> out;
    std::ifstream in(pid_dir + "/maps");
    std::string line;
    while (std::getline(in, line)) {
        // start-end perms offset dev inode [path]; the path is everything
        // after the inode's column, spaces included.
        std::istringstream ls(line);
        std::string range, perms, offset, dev, inode;
        if (!(ls >> range >> perms >> offset >> dev >> inode))
            continue;
        if (perms.size() < 3 || perms[2] != 'x' || inode == "0")
            continue;
        std::string rest;
        std::getline(ls, rest);
        size_t at = rest.find_first_not_of(' ');
        if (at == std::string::npos || rest[at] != '/')
            continue;
        out.push_back({range, rest.substr(at)});
    }
    return out;
}

} // namespace

Result<std::vector<RunningFile>> running_files(const std::string &proc) {
    Owned<DIR, ::closedir> dir(::opendir(proc.c_str()));
    if (!dir)
        return make_error(errno, "open " + proc + ": " + errno_message(errno));
    std::vector<RunningFile> out;
    std::set<std::pair<dev_t, ino_t>> seen;
    auto take = [&](const std::string &via, const std::string &path) {
        UniqueFd fd(::open(via.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
        struct stat st {};
        if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
            return;
        if (!seen.insert({st.st_dev, st.st_ino}).second)
            return;
        struct statfs sf {};
        bool fuse = ::fstatfs(fd.get(), &sf) == 0 && sf.f_type == FUSE_SUPER_MAGIC;
        out.push_back({path, std::move(fd), fuse});
    };
    while (struct dirent *de = ::readdir(dir.get())) {
        if (!std::isdigit(static_cast<unsigned char>(de->d_name[0])))
            continue;
        std::string pid_dir = proc + "/" + de->d_name;
        // Kernel threads have no exe; a process that exited has nothing left.
        std::string exe = read_link(pid_dir + "/exe");
        if (!exe.empty() && exe[0] == '/')
            take(pid_dir + "/exe", exe);
        for (const auto &m : exec_mappings(pid_dir))
            take(pid_dir + "/map_files/" + m.range, m.path);
    }
    return out;
}

} // namespace vouch
