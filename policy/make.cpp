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

Result<Collected> collect_dpkg_files(const std::string &dpkg_info) {
    std::unique_ptr<DIR, int (*)(DIR *)> d(::opendir(dpkg_info.c_str()), ::closedir);
    if (!d)
        return make_error(errno, dpkg_info + ": " + std::strerror(errno));
    std::vector<std::string> lists;
    while (dirent *e = ::readdir(d.get())) {
        std::string n = e->d_name;
        if (n.size() > 5 && n.compare(n.size() - 5, 5, ".list") == 0)
            lists.push_back(dpkg_info + "/" + n);
    }
    if (lists.empty())
        return make_error(ENOENT, dpkg_info + ": no *.list files (is this a dpkg system?)");
    Collected c;
    for (const auto &l : lists) {
        auto text = read_file(l, 64u << 20);
        if (!text) {
            c.errors.push_back(text.error().message);
            continue;
        }
        size_t pos = 0;
        while (pos < text->size()) {
            size_t nl = text->find('\n', pos);
            if (nl == std::string::npos)
                nl = text->size();
            std::string path = text->substr(pos, nl - pos);
            pos = nl + 1;
            if (path.empty() || path[0] != '/')
                continue;
            // Listed files that a later package diverted or the admin removed
            // are not errors: the policy covers what is installed now.
            auto real = canonical(path);
            if (real && is_regular(*real))
                c.files.push_back(std::move(*real));
        }
    }
    finish(c);
    return c;
}

std::vector<Hashed> hash_files(const std::vector<std::string> &files, unsigned threads,
                               const std::function<void(const Progress &)> &progress,
                               unsigned interval_ms) {
    if (threads == 0)
        threads = std::max(1u, std::thread::hardware_concurrency());
    threads = static_cast<unsigned>(std::min<size_t>(threads, std::max<size_t>(files.size(), 1)));
    std::vector<Hashed> out;
    out.reserve(files.size());
    for (const auto &f : files)
        out.push_back({f, make_error(EINPROGRESS, f + ": not hashed"), std::nullopt});

    std::atomic<size_t> next{0}, done{0};
    std::atomic<uint64_t> bytes{0};
    std::vector<std::thread> workers;
    for (unsigned t = 0; t < threads; ++t)
        workers.emplace_back([&] {
            for (size_t i; (i = next.fetch_add(1)) < files.size();) {
                out[i].digest = sha256_file(files[i], &bytes, &out[i].verity);
                done.fetch_add(1, std::memory_order_release);
            }
        });
    if (progress) {
        auto tick = std::chrono::milliseconds(interval_ms);
        auto last = std::chrono::steady_clock::now();
        while (done.load(std::memory_order_acquire) < files.size()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            if (std::chrono::steady_clock::now() - last >= tick) {
                last = std::chrono::steady_clock::now();
                progress({done.load(), files.size(), bytes.load()});
            }
        }
    }
    for (auto &w : workers)
        w.join();
    return out;
}

} // namespace vouch::policy
