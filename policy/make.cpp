// SPDX-License-Identifier: Apache-2.0
#include "policy/make.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <thread>

#include "lib/fd.h"
#include "lib/file_io.h"

namespace vouch::policy {

namespace fs = std::filesystem;

namespace {

Result<std::string> canonical(const std::string &path) {
    std::unique_ptr<char, decltype(&std::free)> r(::realpath(path.c_str(), nullptr), std::free);
    if (!r)
        return make_error(errno, path + ": " + std::strerror(errno));
    return std::string(r.get());
}

bool is_regular(const std::string &path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void finish(Collected &c) {
    std::sort(c.files.begin(), c.files.end());
    c.files.erase(std::unique(c.files.begin(), c.files.end()), c.files.end());
}

} // namespace

Collected collect_files(const std::vector<std::string> &roots) {
    Collected c;
    for (const auto &root : roots) {
        auto real = canonical(root);
        if (!real) {
            c.errors.push_back(real.error().message);
            continue;
        }
        struct stat st {};
        if (::stat(real->c_str(), &st) != 0) {
            c.errors.push_back(*real + ": " + std::strerror(errno));
            continue;
        }
        if (S_ISREG(st.st_mode)) {
            c.files.push_back(*real);
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            c.errors.push_back(*real + ": neither a regular file nor a directory");
            continue;
        }
        std::error_code ec;
        fs::recursive_directory_iterator it(*real, fs::directory_options::skip_permission_denied,
                                            ec);
        if (ec) {
            c.errors.push_back(*real + ": " + ec.message());
            continue;
        }
        for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
            if (ec) {
                c.errors.push_back(it->path().string() + ": " + ec.message());
                ec.clear();
                continue;
            }
            std::error_code sec;
            if (it->is_regular_file(sec) && !it->is_symlink(sec))
                c.files.push_back(it->path().string());
        }
        if (ec)
            c.errors.push_back(*real + ": " + ec.message());
    }
    finish(c);
    return c;
}

namespace {

// Lines of a file, without their newlines.
std::vector<std::string> lines_of(const std::string &text) {
    std::vector<std::string> out;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string::npos)
            nl = text.size();
        out.push_back(text.substr(pos, nl - pos));
        pos = nl + 1;
    }
    return out;
}

// dpkg's diversions file: triples of lines (from, to, diverting package, ":"
// for a local diversion). from -> (to, package).
std::map<std::string, std::pair<std::string, std::string>>
read_diversions(const std::string &file) {
    std::map<std::string, std::pair<std::string, std::string>> out;
    auto text = read_file(file, 64u << 20);
    if (!text)
        return out; // no diversions file: nothing is diverted
    auto l = lines_of(*text);
    for (size_t i = 0; i + 2 < l.size(); i += 3)
        out[l[i]] = {l[i + 1], l[i + 2]};
    return out;
}

} // namespace

Result<Collected> collect_dpkg_files(const std::string &admin) {
    const std::string info = admin + "/info";
    std::unique_ptr<DIR, int (*)(DIR *)> d(::opendir(info.c_str()), ::closedir);
    if (!d)
        return make_error(errno, info + ": " + std::strerror(errno));
    std::vector<std::string> packages; // "name" or "name:arch", as the files are named
    while (dirent *e = ::readdir(d.get())) {
        std::string n = e->d_name;
        if (n.size() > 5 && n.compare(n.size() - 5, 5, ".list") == 0)
            packages.push_back(n.substr(0, n.size() - 5));
    }
    if (packages.empty())
        return make_error(ENOENT, info + ": no *.list files (is this a dpkg system?)");
    std::sort(packages.begin(), packages.end());
    auto diversions = read_diversions(admin + "/diversions");
    Collected c;
    for (const auto &pkg : packages) {
        auto text = read_file(info + "/" + pkg + ".list", 64u << 20);
        if (!text) {
            c.errors.push_back(text.error().message);
            continue;
        }
        std::map<std::string, std::string> md5s; // listed path -> MD5
        if (auto sums = read_file(info + "/" + pkg + ".md5sums", 64u << 20))
            for (const auto &line : lines_of(*sums))
                if (line.size() > 34 && line[32] == ' ' && line[33] == ' ')
                    md5s["/" + line.substr(34)] = line.substr(0, 32);
        std::string name = pkg.substr(0, pkg.find(':'));
        for (const auto &path : lines_of(*text)) {
            if (path.empty() || path[0] != '/')
                continue;
            // Another package's diversion moved this package's file aside.
            std::string where = path;
            if (auto dv = diversions.find(path);
                dv != diversions.end() && dv->second.second != name)
                where = dv->second.first;
            // Listed files that the admin removed are not errors: the policy
            // covers what is installed now.
            auto real = canonical(where);
            if (!real || !is_regular(*real))
                continue;
            auto m = md5s.find(path);
            c.dpkg[*real].push_back({name, path, m == md5s.end() ? "" : m->second});
            c.files.push_back(std::move(*real));
        }
    }
    finish(c);
    return c;
}

std::vector<std::string> dpkg_modified(const Collected &c, const std::vector<Hashed> &hashed) {
    std::vector<std::string> out;
    for (const auto &h : hashed) {
        auto it = c.dpkg.find(h.path);
        if (it == c.dpkg.end() || !h.md5)
            continue;
        std::string found = to_hex(*h.md5);
        // Owners that recorded no MD5 say nothing; any owner whose MD5 matches
        // vouches for the content (two packages may ship one shared path).
        std::vector<const DpkgFile *> expected;
        bool match = false;
        for (const auto &o : it->second) {
            if (o.md5.empty())
                continue;
            expected.push_back(&o);
            match = match || o.md5 == found;
        }
        if (match || expected.empty())
            continue;
        out.push_back(expected.front()->package + ": " + h.path + " (MD5 expected " +
                      expected.front()->md5 + ", found " + found + ")");
    }
    return out;
}

void parallel_for(size_t n, unsigned threads, const std::function<void(size_t)> &work,
                  const std::function<void(size_t)> &tick, unsigned interval_ms) {
    if (threads == 0)
        threads = std::max(1u, std::thread::hardware_concurrency());
    threads = static_cast<unsigned>(std::min<size_t>(threads, std::max<size_t>(n, 1)));
    std::atomic<size_t> next{0}, done{0};
    std::vector<std::thread> workers;
    for (unsigned t = 0; t < threads; ++t)
        workers.emplace_back([&] {
            for (size_t i; (i = next.fetch_add(1)) < n;) {
                work(i);
                done.fetch_add(1, std::memory_order_release);
            }
        });
    if (tick) {
        auto every = std::chrono::milliseconds(interval_ms);
        auto last = std::chrono::steady_clock::now();
        while (done.load(std::memory_order_acquire) < n) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            if (std::chrono::steady_clock::now() - last >= every) {
                last = std::chrono::steady_clock::now();
                tick(done.load());
            }
        }
    }
    for (auto &w : workers)
        w.join();
}

std::vector<Hashed> hash_files(const std::vector<std::string> &files, unsigned threads,
                               const std::function<void(const Progress &)> &progress,
                               unsigned interval_ms, bool md5) {
    std::vector<Hashed> out;
    out.reserve(files.size());
    for (const auto &f : files)
        out.push_back({f, make_error(EINPROGRESS, f + ": not hashed"), std::nullopt, std::nullopt});
    std::atomic<uint64_t> bytes{0};
    parallel_for(
        files.size(), threads,
        [&](size_t i) {
            Md5 m{};
            out[i].digest = sha256_file(files[i], &bytes, &out[i].verity, md5 ? &m : nullptr);
            if (md5 && out[i].digest)
                out[i].md5 = m;
        },
        progress ? std::function<void(size_t)>([&](size_t done) {
            progress({done, files.size(), bytes.load()});
        })
                 : std::function<void(size_t)>(),
        interval_ms);
    return out;
}

} // namespace vouch::policy
