// SPDX-License-Identifier: Apache-2.0
#include "policy/package.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <thread>

#include "lib/fd.h"
#include "lib/owned.h"
#include "policy/make.h"

namespace vouch::policy {

namespace {

using ArchivePtr = Owned<archive, archive_read_free>;

// Limits on what is held in memory: a control.tar or an RPM header larger
// than this is not a package we should trust our parser with.
constexpr size_t kMaxControl = 64u << 20;

Error archive_error(archive *a, const std::string &what) {
    int code = archive_errno(a);
    const char *s = archive_error_string(a);
    return make_error(code > 0 ? code : EBADMSG, what + ": " + (s ? s : "unreadable archive"));
}

ArchivePtr new_reader() {
    ArchivePtr a(archive_read_new());
    if (a) {
        archive_read_support_filter_all(a.get());
        archive_read_support_format_tar(a.get());
        archive_read_support_format_cpio(a.get());
    }
    return a;
}

// "./usr/bin/x", "usr/bin/x", "/usr/bin/x" -> "/usr/bin/x"; "" for the root
// itself or a name that climbs out of it ("../x"), which no package installs.
std::string normalize(std::string_view name) {
    std::string out;
    size_t pos = 0;
    while (pos <= name.size()) {
        size_t slash = name.find('/', pos);
        if (slash == std::string_view::npos)
            slash = name.size();
        std::string_view part = name.substr(pos, slash - pos);
        pos = slash + 1;
        if (part.empty() || part == ".")
            continue;
        if (part == "..")
            return {};
        out += '/';
        out += part;
    }
    return out;
}

struct Hashing {
    std::vector<PackageFile> files;
    // Hard links: which set each path is in, and per set the entries still
    // waiting for the set's data (cpio stores it with the last member only).
    std::map<std::string, size_t> set_of;
    std::vector<std::vector<size_t>> pending;
};

Result<Sha256> hash_data(archive *a, const std::string &what, std::atomic<uint64_t> *bytes,
                         bool *elf) {
    std::array<uint8_t, 1 << 16> buf;
    std::array<uint8_t, 4> head{};
    size_t seen = 0;
    EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
        return make_error(ENOMEM, "SHA-256 context");
    for (;;) {
        la_ssize_t n = archive_read_data(a, buf.data(), buf.size());
        if (n < 0)
            return archive_error(a, what);
        if (n == 0)
            break;
        for (size_t i = 0; seen < head.size() && i < static_cast<size_t>(n); ++i)
            head[seen++] = buf[i];
        EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(n));
        if (bytes)
            bytes->fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
    }
    *elf = seen == head.size() && head == std::array<uint8_t, 4>{0x7f, 'E', 'L', 'F'};
    Sha256 d{};
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx.get(), d.data(), &len);
    return d;
}

// The regular files and hard links of the tar or cpio stream `a` is open on.
Result<void> hash_entries(archive *a, const std::string &what, Hashing &h,
                          std::atomic<uint64_t> *bytes) {
    for (;;) {
        archive_entry *e = nullptr;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            return {};
        if (r < ARCHIVE_WARN)
            return archive_error(a, what);
        const char *name = archive_entry_pathname(e);
        std::string path = normalize(name ? name : "");
        const char *link = archive_entry_hardlink(e);
        if (path.empty() || (!link && archive_entry_filetype(e) != AE_IFREG))
            continue;
        size_t set;
        auto target = link ? h.set_of.find(normalize(link)) : h.set_of.end();
        if (target != h.set_of.end()) {
            set = target->second;
        } else {
            set = h.pending.size();
            h.pending.emplace_back();
        }
        h.set_of[path] = set;
        bool elf = false;
        auto d = hash_data(a, what + ": " + path, bytes, &elf);
        if (!d)
            return d.error();
        uint32_t mode = static_cast<uint32_t>(archive_entry_perm(e)) & 07777;
        bool has_data = archive_entry_size(e) > 0;
        if (link && !has_data && target != h.set_of.end() && h.pending[set].empty()) {
            // tar: the link installs the bytes of the file it names, stored
            // with that earlier entry.
            for (auto it = h.files.rbegin(); it != h.files.rend(); ++it)
                if (h.set_of[it->path] == set) {
                    *d = it->digest;
                    elf = it->elf;
                    break;
                }
        }
        h.files.push_back({path, *d, mode, elf});
        if (has_data) {
            for (size_t i : h.pending[set]) {
                h.files[i].digest = *d;
                h.files[i].elf = elf;
            }
            h.pending[set].clear();
        } else if (archive_entry_nlink(e) > 1 && (!link || !h.pending[set].empty())) {
            // cpio: the data of a hard-link set comes with its last member.
            // Until then this is the empty file it looks like.
            h.pending[set].push_back(h.files.size() - 1);
        }
    }
}

// --- deb ---------------------------------------------------------------------

// The outer ar archive's current member, read as a stream by the inner reader.
la_ssize_t member_read(archive *, void *outer, const void **buf) {
    static thread_local std::array<uint8_t, 1 << 16> chunk;
    la_ssize_t n = archive_read_data(static_cast<archive *>(outer), chunk.data(), chunk.size());
    *buf = chunk.data();
    return n;
}

// "Package:" and "Version:" of a control file.
void read_control(const std::string &text, Package &p) {
    size_t pos = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string::npos)
            nl = text.size();
        std::string_view line(text.data() + pos, nl - pos);
        pos = nl + 1;
        auto value = [&](std::string_view field) -> std::optional<std::string> {
            if (!line.starts_with(field))
                return std::nullopt;
            std::string_view v = line.substr(field.size());
            while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
                v.remove_prefix(1);
            while (!v.empty() && (v.back() == ' ' || v.back() == '\r'))
                v.remove_suffix(1);
            return std::string(v);
        };
        if (auto v = value("Package:"))
            p.name = *v;
        else if (auto v = value("Version:"))
            p.version = *v;
    }
}

Result<void> read_control_tar(archive *outer, const std::string &what, Package &p) {
    ArchivePtr in = new_reader();
    if (!in)
        return make_error(ENOMEM, "libarchive reader");
    if (archive_read_open(in.get(), outer, nullptr, member_read, nullptr) != ARCHIVE_OK)
        return archive_error(in.get(), what);
    for (;;) {
        archive_entry *e = nullptr;
        int r = archive_read_next_header(in.get(), &e);
        if (r == ARCHIVE_EOF)
            return {};
        if (r < ARCHIVE_WARN)
            return archive_error(in.get(), what);
        if (normalize(archive_entry_pathname(e) ? archive_entry_pathname(e) : "") != "/control")
            continue;
        if (archive_entry_size(e) > static_cast<la_int64_t>(kMaxControl))
            return make_error(EFBIG, what + ": the control file is over 64 MiB");
        std::string text(static_cast<size_t>(archive_entry_size(e)), '\0');
        la_ssize_t n = archive_read_data(in.get(), text.data(), text.size());
        if (n < 0)
            return archive_error(in.get(), what);
        text.resize(static_cast<size_t>(n));
        read_control(text, p);
        return {};
    }
}

Result<Package> read_deb(const std::string &path, std::atomic<uint64_t> *bytes) {
    ArchivePtr a(archive_read_new());
    if (!a)
        return make_error(ENOMEM, "libarchive reader");
    archive_read_support_format_ar(a.get());
    if (archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK)
        return archive_error(a.get(), path);
    Package p;
    p.archive = path;
    Hashing h;
    bool have_data = false, have_control = false;
    for (;;) {
        archive_entry *e = nullptr;
        int r = archive_read_next_header(a.get(), &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            return archive_error(a.get(), path);
        std::string member = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
        if (!member.empty() && member.back() == '/')
            member.pop_back();
        if (member.starts_with("control.tar")) {
            if (auto c = read_control_tar(a.get(), path + ": " + member, p); !c)
                return c.error();
            have_control = true;
        } else if (member.starts_with("data.tar")) {
            if (have_data)
                return make_error(EBADMSG, path + ": two data.tar members");
            ArchivePtr in = new_reader();
            if (!in)
                return make_error(ENOMEM, "libarchive reader");
            if (archive_read_open(in.get(), a.get(), nullptr, member_read, nullptr) != ARCHIVE_OK)
                return archive_error(in.get(), path + ": " + member);
            if (auto d = hash_entries(in.get(), path + ": " + member, h, bytes); !d)
                return d.error();
            have_data = true;
        }
    }
    if (!have_control || !have_data)
        return make_error(EBADMSG, path + ": not a Debian binary package (no " +
                                       (have_control ? "data.tar" : "control.tar") + " member)");
    if (p.name.empty())
        return make_error(EBADMSG, path + ": the control file names no Package");
    p.files = std::move(h.files);
    return p;
}

// --- rpm ---------------------------------------------------------------------

constexpr std::array<uint8_t, 4> kRpmLead = {0xed, 0xab, 0xee, 0xdb};
constexpr std::array<uint8_t, 3> kRpmHeader = {0x8e, 0xad, 0xe8};
constexpr size_t kRpmLeadSize = 96;

uint32_t be32(const uint8_t *p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

Result<std::string> read_exact(int fd, size_t n, const std::string &what) {
    std::string s(n, '\0');
    size_t got = 0;
    while (got < n) {
        ssize_t r = ::read(fd, s.data() + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return make_error(errno, what + ": " + std::strerror(errno));
        if (r == 0)
            return make_error(EBADMSG, what + ": truncated RPM header");
        got += static_cast<size_t>(r);
    }
    return s;
}

// One header structure (magic, index, store) at the fd's offset; `pad` rounds
// its length up to 8 (the signature header is padded, the main one is not).
Result<std::string> read_rpm_header(int fd, bool pad, const std::string &what) {
    auto intro = read_exact(fd, 16, what);
    if (!intro)
        return intro.error();
    auto *u = reinterpret_cast<const uint8_t *>(intro->data());
    if (!std::equal(kRpmHeader.begin(), kRpmHeader.end(), u))
        return make_error(EBADMSG, what + ": bad RPM header magic");
    uint64_t index = be32(u + 8), store = be32(u + 12);
    uint64_t len = index * 16 + store;
    if (len > kMaxControl)
        return make_error(EFBIG, what + ": an RPM header over 64 MiB");
    if (pad)
        len += (8 - (16 + len) % 8) % 8;
    auto rest = read_exact(fd, static_cast<size_t>(len), what);
    if (!rest)
        return rest.error();
    return *intro + *rest;
}

// NAME, VERSION, RELEASE and EPOCH of the main header.
Result<void> rpm_name(const std::string &hdr, const std::string &what, Package &p) {
    auto *u = reinterpret_cast<const uint8_t *>(hdr.data());
    uint32_t index = be32(u + 8), store = be32(u + 12);
    const uint8_t *data = u + 16 + size_t(index) * 16;
    std::string name, version, release, epoch;
    for (uint32_t i = 0; i < index; ++i) {
        const uint8_t *ent = u + 16 + size_t(i) * 16;
        uint32_t tag = be32(ent), type = be32(ent + 4), off = be32(ent + 8);
        if (off >= store)
            continue;
        const char *s = reinterpret_cast<const char *>(data + off);
        size_t max = store - off;
        if (type == 6 /* STRING */ && (tag >= 1000 && tag <= 1002)) {
            std::string v(s, strnlen(s, max));
            (tag == 1000 ? name : tag == 1001 ? version : release) = v;
        } else if (tag == 1003 && type == 4 /* INT32 */ && max >= 4) {
            epoch = std::to_string(be32(data + off));
        }
    }
    if (name.empty())
        return make_error(EBADMSG, what + ": the RPM header names no package");
    p.name = name;
    p.version = (epoch.empty() ? "" : epoch + ":") + version + "-" + release;
    return {};
}

Result<Package> read_rpm(const std::string &path, std::atomic<uint64_t> *bytes) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd)
        return make_error(errno, path + ": " + std::strerror(errno));
    Package p;
    p.archive = path;
    auto lead = read_exact(fd.get(), kRpmLeadSize, path);
    if (!lead)
        return lead.error();
    if (auto sig = read_rpm_header(fd.get(), true, path + " (signature header)"); !sig)
        return sig.error();
    auto main = read_rpm_header(fd.get(), false, path + " (header)");
    if (!main)
        return main.error();
    if (auto n = rpm_name(*main, path, p); !n)
        return n.error();
    // The payload follows the headers: hand libarchive the rest of the file.
    ArchivePtr a = new_reader();
    if (!a)
        return make_error(ENOMEM, "libarchive reader");
    if (archive_read_open_fd(a.get(), fd.get(), 1 << 16) != ARCHIVE_OK)
        return archive_error(a.get(), path);
    Hashing h;
    if (auto d = hash_entries(a.get(), path, h, bytes); !d)
        return d.error();
    p.files = std::move(h.files);
    return p;
}

} // namespace

Result<PackageKind> package_kind(const std::string &path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd)
        return make_error(errno, path + ": " + std::strerror(errno));
    char head[8] = {};
    ssize_t n = ::read(fd.get(), head, sizeof(head));
    if (n < 0)
        return make_error(errno, path + ": " + std::strerror(errno));
    if (n == 8 && std::memcmp(head, "!<arch>\n", 8) == 0)
        return PackageKind::Deb;
    if (n >= 4 && std::memcmp(head, kRpmLead.data(), 4) == 0)
        return PackageKind::Rpm;
    return make_error(EBADMSG, path + ": neither a .deb (ar archive) nor an RPM package");
}

Result<Package> read_package(const std::string &path, PackageKind kind,
                             std::atomic<uint64_t> *bytes) {
    auto k = package_kind(path);
    if (!k)
        return k.error();
    if (*k != kind)
        return make_error(EBADMSG, path + ": is " + (*k == PackageKind::Deb ? "a .deb" : "an RPM") +
                                       ", not " + (kind == PackageKind::Deb ? "a .deb" : "an RPM"));
    return kind == PackageKind::Deb ? read_deb(path, bytes) : read_rpm(path, bytes);
}

std::string installed_path(const std::string &archived, const std::string &root) {
    std::string path = normalize(archived);
    size_t slash = path.rfind('/');
    if (path.empty() || slash == 0)
        return path;
    auto real = [](const std::string &p) -> std::optional<std::string> {
        std::unique_ptr<char, decltype(&std::free)> r(::realpath(p.c_str(), nullptr), std::free);
        return r ? std::optional<std::string>(r.get()) : std::nullopt;
    };
    auto top = real(root);
    if (!top)
        return path;
    std::string prefix = *top == "/" ? "" : *top;
    auto parent = real(prefix + path.substr(0, slash));
    // A parent resolved outside `root` (a symlink to elsewhere) is not where
    // the package's file lands: keep it as written.
    if (!parent || !parent->starts_with(prefix) ||
        (parent->size() > prefix.size() && (*parent)[prefix.size()] != '/'))
        return path;
    std::string inside = parent->substr(prefix.size());
    return (inside == "/" ? "" : inside) + path.substr(slash);
}

std::vector<std::string> add_package(Document &doc, const Package &p,
                                     const std::vector<std::string> &agents) {
    std::vector<std::string> found;
    for (const auto &f : p.files) {
        std::string path = installed_path(f.path), hex = to_hex(f.digest);
        add_digest(doc.digests, path, hex);
        if (std::find(agents.begin(), agents.end(), path) != agents.end()) {
            add_digest(doc.agents, path, hex);
            found.push_back(path);
        }
    }
    return found;
}

std::vector<Result<Package>>
read_packages(const std::vector<std::string> &archives, PackageKind kind, unsigned threads,
              const std::function<void(const PackageProgress &)> &progress, unsigned interval_ms) {
    std::vector<Result<Package>> out;
    out.reserve(archives.size());
    for (const auto &a : archives)
        out.push_back(make_error(EINPROGRESS, a + ": not read"));
    std::atomic<uint64_t> bytes{0};
    parallel_for(
        archives.size(), threads,
        [&](size_t i) { out[i] = read_package(archives[i], kind, &bytes); },
        progress ? std::function<void(size_t)>([&](size_t done) {
            progress({done, archives.size(), bytes.load()});
        })
                 : std::function<void(size_t)>(),
        interval_ms);
    return out;
}

} // namespace vouch::policy
