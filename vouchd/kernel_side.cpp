// SPDX-License-Identifier: Apache-2.0
#include "vouchd/kernel_side.h"

#include <algorithm>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>

#include "lib/file_io.h"
#include "lib/kernel_check.h"
#include "lib/owned.h"
#include "lib/pins.h"
#include "vouch.skel.h"

namespace vouch {

void KernelSide::SkelDeleter::operator()(vouch_bpf *s) const {
    vouch_bpf__destroy(s);
}
void KernelSide::RingBufferDeleter::operator()(ring_buffer *r) const {
    ring_buffer__free(r);
}
void KernelSide::Unmap::operator()(vouch_config *p) const {
    munmap(p, sysconf(_SC_PAGESIZE));
}

namespace {

// The links; their pins are "link_<program name>".
std::vector<bpf_program *> programs(vouch_bpf *s) {
    std::vector<bpf_program *> out;
    bpf_program *p;
    bpf_object__for_each_program(p, s->obj) out.push_back(p);
    return out;
}

UniqueFd dup_fd(int fd) {
    return UniqueFd(fcntl(fd, F_DUPFD_CLOEXEC, 3));
}

// The agent is recognised by the measured digest of its executable, but a
// loader that started before the hooks were attached was never measured: map
// its own executable PROT_EXEC once so the mmap_file hook measures it.
void measure_self() {
    UniqueFd fd(open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
    if (!fd)
        return;
    void *m = mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd.get(), 0);
    if (m != MAP_FAILED)
        munmap(m, 4096);
}

// Opening the pin directory is how the kernel side learns which mount holds
// the pins (the file_open hook records it), so that a lazy umount of a mount
// above it (umount -l /sys) can be refused while enforcing.
void note_pin_mount(const std::string &dir) {
    UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

Result<void> preflight() {
    auto facts = probe_running_kernel();
    auto found = live_kernel_findings(facts);
    if (found.empty())
        return {};
    std::string msg =
        "this kernel cannot run vouch: " + found.front().what + "; fix: " + found.front().fix;
    for (size_t i = 1; i < found.size(); ++i)
        msg += "; also: " + found[i].what;
    return make_error(EOPNOTSUPP, msg);
}

std::string *libbpf_sink = nullptr;

int collect_libbpf(libbpf_print_level level, const char *fmt, va_list ap) {
    if (level == LIBBPF_DEBUG || !libbpf_sink)
        return 0;
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(nullptr, 0, fmt, ap);
    if (n > 0) {
        size_t at = libbpf_sink->size();
        libbpf_sink->resize(at + n + 1);
        vsnprintf(libbpf_sink->data() + at, n + 1, fmt, again);
        libbpf_sink->resize(at + n);
    }
    va_end(again);
    return n;
}

std::vector<std::string_view> nonblank_lines(std::string_view text) {
    std::vector<std::string_view> lines;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos)
            nl = text.size();
        std::string_view line = text.substr(pos, nl - pos);
        if (line.find_first_not_of(" \t") != std::string_view::npos)
            lines.push_back(line);
        pos = nl + 1;
    }
    return lines;
}

// @lines from index @from on, each on a line of its own, indented.
std::string quote_lines(const std::vector<std::string_view> &lines, size_t from = 0) {
    std::string out;
    for (size_t i = from; i < lines.size(); ++i)
        out += "\n    " + std::string(lines[i]);
    return out;
}

// The last @n non-empty lines of @text, each indented.
std::string last_lines(std::string_view text, size_t n) {
    auto lines = nonblank_lines(text);
    return quote_lines(lines, lines.size() > n ? lines.size() - n : 0);
}

// The reason: up to 7.2 the verifier ends its log with the failing
// instruction, the reason and a line of statistics, so the last lines hold
// it. Since 7.3 a report follows ("Verification failed: ...", then "Reason:",
// "At:" with source context, "Causal path:", "Suggestion:"), long enough to
// push the reason out of any fixed tail: quote the two lines before the
// report, its headline, the Reason and Suggestion sections and the
// statistics.
std::string verifier_excerpt(std::string_view log) {
    auto lines = nonblank_lines(log);
    auto top = [](std::string_view l) { return !l.empty() && l[0] != ' ' && l[0] != '\t'; };
    size_t k = lines.size();
    while (k-- > 0)
        if (lines[k].rfind("Verification failed:", 0) == 0)
            break;
    if (k >= lines.size())
        return last_lines(log, 8);
    std::vector<std::string_view> keep(lines.begin() + (k > 2 ? k - 2 : 0), lines.begin() + k + 1);
    std::string_view section;
    for (size_t i = k + 1; i < lines.size() && keep.size() < 24; ++i) {
        if (top(lines[i]))
            section = lines[i];
        if (section == "Reason:" || section == "Suggestion:" ||
            (i + 1 == lines.size() && top(lines[i])))
            keep.push_back(lines[i]);
    }
    return quote_lines(keep);
}

std::string kernel_release() {
    struct utsname u {};
    return uname(&u) == 0 ? u.release : "unknown";
}

// What the running kernel's BTF says it has; read once per process (the
// kernel does not change under it, and vmlinux BTF takes a while to parse).
struct KernelFeatures {
    bool execve_check = false; // linux_binprm.is_check
    bool fsverity_kfunc = false;
    bool setattr_idmap = true; // inode_setattr(idmap, dentry, attr): 6.3+
    bool acl_hooks = false;    // inode_set_acl, inode_remove_acl: 6.2+
};

// Parameters of BPF LSM hook @name (its bpf_lsm_ stub), or -1 without it.
int hook_params(const btf *b, const char *name) {
    int id = btf__find_by_name_kind(b, name, BTF_KIND_FUNC);
    if (id <= 0)
        return -1;
    const btf_type *proto = btf__type_by_id(b, btf__type_by_id(b, id)->type);
    return proto && btf_is_func_proto(proto) ? btf_vlen(proto) : -1;
}

const KernelFeatures &kernel_features() {
    static const KernelFeatures f = [] {
        KernelFeatures out;
        Owned<btf, btf__free> vmlinux(btf__load_vmlinux_btf());
        if (!vmlinux)
            return out;
        const btf *b = vmlinux.get();
        out.fsverity_kfunc =
            btf__find_by_name_kind(b, "bpf_get_fsverity_digest", BTF_KIND_FUNC) > 0;
        out.setattr_idmap = hook_params(b, "bpf_lsm_inode_setattr") != 2;
        out.acl_hooks = hook_params(b, "bpf_lsm_inode_set_acl") >= 0 &&
                        hook_params(b, "bpf_lsm_inode_remove_acl") >= 0;
        int id = btf__find_by_name_kind(b, "linux_binprm", BTF_KIND_STRUCT);
        if (id > 0) {
            const btf_type *t = btf__type_by_id(b, id);
            const btf_member *m = btf_members(t);
            for (unsigned i = 0; i < btf_vlen(t); ++i, ++m)
                if (std::strcmp(btf__name_by_offset(b, m->name_off), "is_check") == 0)
                    out.execve_check = true;
        }
        return out;
    }();
    return f;
}

} // namespace

bool kernel_has_fsverity_kfunc() {
    return kernel_features().fsverity_kfunc;
}

bool kernel_has_execve_check() {
    return kernel_features().execve_check;
}

bool kernel_setattr_has_idmap() {
    return kernel_features().setattr_idmap;
}

bool kernel_has_acl_hooks() {
    return kernel_features().acl_hooks;
}

void choose_programs(vouch_bpf *s) {
    bpf_program__set_autoload(s->progs.vouch_execve_check, kernel_has_execve_check());
    bool idmap = kernel_setattr_has_idmap();
    bpf_program__set_autoload(s->progs.vouch_inode_setattr, idmap);
    bpf_program__set_autoload(s->progs.vouch_inode_setattr_6_1, !idmap);
    bpf_program__set_autoload(s->progs.vouch_inode_set_acl, kernel_has_acl_hooks());
    bpf_program__set_autoload(s->progs.vouch_inode_remove_acl, kernel_has_acl_hooks());
}

namespace {

// Programs a vouch before file protection did not attach: pins it left are
// reattached without them (the next load attaches them), and protection()
// then reports the protection as not supported.
bool added_with_file_protection(const vouch_bpf *s, const bpf_program *p) {
    const bpf_program *added[] = {
        s->progs.vouch_inode_create,   s->progs.vouch_inode_mknod,
        s->progs.vouch_inode_mkdir,    s->progs.vouch_inode_symlink,
        s->progs.vouch_inode_link,     s->progs.vouch_inode_rmdir,
        s->progs.vouch_inode_setattr,  s->progs.vouch_inode_setattr_6_1,
        s->progs.vouch_inode_setxattr, s->progs.vouch_inode_removexattr,
        s->progs.vouch_inode_set_acl,  s->progs.vouch_inode_remove_acl,
        s->progs.vouch_sb_mount,       s->progs.vouch_move_mount,
    };
    return std::find(std::begin(added), std::end(added), p) != std::end(added);
}

} // namespace

LibbpfMessages::LibbpfMessages() {
    libbpf_sink = &text_;
    previous_ = reinterpret_cast<void *>(libbpf_set_print(collect_libbpf));
}

LibbpfMessages::~LibbpfMessages() {
    libbpf_set_print(reinterpret_cast<libbpf_print_fn_t>(previous_));
    libbpf_sink = nullptr;
}

Error bpf_load_error(int err, const std::string &messages) {
    // libbpf: "prog 'NAME': -- BEGIN PROG LOAD LOG --\n<log>-- END PROG LOAD LOG --"
    constexpr std::string_view begin = "-- BEGIN PROG LOAD LOG --", end = "-- END PROG LOAD LOG --";
    size_t b = messages.find(begin);
    if (b != std::string::npos) {
        size_t q2 = messages.rfind("':", b),
               q1 = q2 == std::string::npos ? q2 : messages.rfind("'", q2 - 1);
        std::string prog = q1 == std::string::npos ? "?" : messages.substr(q1 + 1, q2 - q1 - 1);
        size_t from = b + begin.size();
        size_t e = messages.find(end, from);
        std::string_view log = std::string_view(messages).substr(
            from, e == std::string::npos ? std::string::npos : e - from);
        return make_error(err, "the kernel's BPF verifier rejected program '" + prog +
                                   "' on Linux " + kernel_release() +
                                   " (a kernel this build of vouch does not support; report it "
                                   "with this message); the verifier said:" +
                                   verifier_excerpt(log));
    }
    std::string msg = "cannot load the BPF LSM programs: " + errno_message(err);
    if (err == -EPERM || err == -EACCES)
        msg += " (root with CAP_BPF and CAP_SYS_ADMIN is required; run `vouchctl check-kernel`)";
    else if (err == -EINVAL || err == -524 /* ENOTSUPP */ || err == -ESRCH || err == -ENOENT)
        msg += " (the kernel may lack CONFIG_BPF_LSM, BTF or IMA; run `vouchctl check-kernel`)";
    if (std::string last = last_lines(messages, 3); !last.empty())
        msg += "; libbpf said:" + last;
    return make_error(err, msg);
}

Result<std::unique_ptr<KernelSide>> KernelSide::load(const KernelSideOptions &opts) {
    if (!opts.skip_preflight) {
        if (auto r = preflight(); !r)
            return r.error();
    }
    std::unique_ptr<KernelSide> ks(new KernelSide());
    if (!opts.pin_dir.empty()) {
        struct stat st {};
        std::string probe = opts.pin_dir + "/vouch_config";
        if (stat(probe.c_str(), &st) == 0) {
            // Before opening the pins: in enforce mode only a measured agent
            // may, and a process that started before the hooks is not yet.
            measure_self();
            if (auto r = ks->open_pins(opts.pin_dir); !r)
                return r.error();
            if (auto r = ks->map_config(); !r)
                return r.error();
            if (uint32_t v = __atomic_load_n(&ks->cfg_->abi_version, __ATOMIC_SEQ_CST);
                v != VOUCH_ABI_VERSION)
                return make_error(EPROTO, opts.pin_dir +
                                              " was pinned by an incompatible vouch (ABI " +
                                              std::to_string(v) + ", expected " +
                                              std::to_string(VOUCH_ABI_VERSION) +
                                              "); remove the pins with `vouchctl unpin` first");
            note_pin_mount(opts.pin_dir);
            ks->reattached_ = true;
            return ks;
        }
    }

    ks->skel_.reset(vouch_bpf__open());
    if (!ks->skel_)
        return make_error(errno, "cannot open the BPF object: " + errno_message(errno));
    vouch_bpf *s = ks->skel_.get();
    s->rodata->cache_enabled = opts.cache;
    s->rodata->use_verity = opts.verity && kernel_has_fsverity_kfunc();
    choose_programs(s);
    int err = bpf_map__set_max_entries(s->maps.events, opts.ringbuf_bytes);
    if (!err)
        err = bpf_map__set_max_entries(s->maps.allow_a, opts.allow_max);
    if (!err)
        err = bpf_map__set_max_entries(s->maps.allow_b, opts.allow_max);
    if (err)
        return make_error(err, "cannot size the BPF maps: " + errno_message(err));
    {
        LibbpfMessages messages;
        err = vouch_bpf__load(s);
        if (err)
            return bpf_load_error(err, messages.text());
    }
    err = vouch_bpf__attach(s);
    if (err) {
        std::string msg = "cannot attach the BPF LSM hooks: " + errno_message(err);
        if (err == -EPERM || err == -EOPNOTSUPP || err == -EINVAL)
            msg += " (is `bpf` in the active LSM list? boot with lsm=...,bpf; run `vouchctl "
                   "check-kernel`)";
        return make_error(err, msg);
    }
    ks->events_ = dup_fd(bpf_map__fd(s->maps.events));
    ks->config_ = dup_fd(bpf_map__fd(s->maps.vouch_config));
    ks->stats_ = dup_fd(bpf_map__fd(s->maps.vouch_stats));
    ks->trust_ = dup_fd(bpf_map__fd(s->maps.vouch_trust));
    ks->protect_ = dup_fd(bpf_map__fd(s->maps.vouch_protect));
    ks->allow_[0] = dup_fd(bpf_map__fd(s->maps.allow_a));
    ks->allow_[1] = dup_fd(bpf_map__fd(s->maps.allow_b));
    ks->allow_max_ = opts.allow_max;
    if (auto r = ks->map_config(); !r)
        return r.error();
    __atomic_store_n(&ks->cfg_->abi_version, static_cast<uint32_t>(VOUCH_ABI_VERSION),
                     __ATOMIC_SEQ_CST);
    for (bpf_program *p : programs(s)) {
        bpf_link *l = nullptr;
        // The skeleton keeps its links in per-program slots; find this one's.
        for (int i = 0; i < s->skeleton->prog_cnt; ++i)
            if (*s->skeleton->progs[i].prog == p)
                l = *s->skeleton->progs[i].link;
        if (l)
            ks->links_.push_back(dup_fd(bpf_link__fd(l)));
    }
    measure_self();
    if (!opts.pin_dir.empty()) {
        if (auto r = ks->pin_all(opts.pin_dir); !r) {
            (void)unpin(opts.pin_dir);
            return r.error();
        }
    }
    return ks;
}

Result<void> KernelSide::pin_all(const std::string &dir) {
    if (mkdir(dir.c_str(), 0700) && errno != EEXIST)
        return make_error(errno, "create pin directory " + dir + ": " + errno_message(errno));
    vouch_bpf *s = skel_.get();
    bpf_map *maps[] = {s->maps.events, s->maps.vouch_config, s->maps.vouch_stats, s->maps.allow_a,
                       s->maps.allow_b};
    for (size_t i = 0; i < std::size(maps); ++i) {
        std::string path = dir + "/" + kPinnedMaps[i].name;
        if (bpf_obj_pin(bpf_map__fd(maps[i]), path.c_str()))
            return make_error(errno, "pin " + path + ": " + errno_message(errno));
    }
    if (std::string path = dir + "/" + kTrustPin.name;
        bpf_obj_pin(bpf_map__fd(s->maps.vouch_trust), path.c_str()))
        return make_error(errno, "pin " + path + ": " + errno_message(errno));
    if (std::string path = dir + "/" + kProtectPin.name;
        bpf_obj_pin(bpf_map__fd(s->maps.vouch_protect), path.c_str()))
        return make_error(errno, "pin " + path + ": " + errno_message(errno));
    for (int i = 0; i < s->skeleton->prog_cnt; ++i) {
        bpf_link *l = *s->skeleton->progs[i].link;
        if (!l)
            continue;
        std::string path = dir + "/" + kLinkPinPrefix + s->skeleton->progs[i].name;
        if (bpf_obj_pin(bpf_link__fd(l), path.c_str()))
            return make_error(errno, "pin " + path + ": " + errno_message(errno));
    }
    // The pins' directory, so the hooks can refuse unlinking them.
    struct stat st {};
    if (stat(dir.c_str(), &st))
        return make_error(errno, "stat " + dir + ": " + errno_message(errno));
    __atomic_store_n(&cfg_->pin_dir_ino, static_cast<uint64_t>(st.st_ino), __ATOMIC_SEQ_CST);
    note_pin_mount(dir);
    return {};
}

Result<void> KernelSide::map_config() {
    void *p =
        mmap(nullptr, sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE, MAP_SHARED, config_.get(), 0);
    if (p == MAP_FAILED)
        return make_error(errno, "map vouch_config: " + errno_message(errno));
    cfg_.reset(static_cast<vouch_config *>(p));
    return {};
}

// Mode, active list and the next generation in one 8-byte store: the programs
// read all three with one load, so they never see the new mode with the old
// list or the reverse, and every verdict they cached under an earlier word is
// retired by the same store. The generation continues from the stored word,
// which for a reattached loader is the pinned one, so no generation is reused;
// compare-and-swap so that not even two writers could store the same one.
void KernelSide::store_policy(vouch_mode mode, uint32_t active) {
    uint64_t cur = __atomic_load_n(&cfg_->policy, __ATOMIC_SEQ_CST);
    while (!__atomic_compare_exchange_n(&cfg_->policy, &cur, next_policy_word(cur, mode, active),
                                        false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
}

Result<void> KernelSide::open_pins(const std::string &dir) {
    UniqueFd *fds[] = {&events_, &config_, &stats_, &allow_[0], &allow_[1]};
    for (size_t i = 0; i < std::size(fds); ++i) {
        std::string path = dir + "/" + kPinnedMaps[i].name;
        fds[i]->reset(bpf_obj_get(path.c_str()));
        if (!*fds[i])
            return make_error(errno, "reattach to " + path + ": " + errno_message(errno) +
                                         (errno == EPERM ? " (vouch is enforcing and this "
                                                           "program is not its agent)"
                                                         : ""));
        bpf_map_info info{};
        uint32_t len = sizeof(info);
        if (bpf_obj_get_info_by_fd(fds[i]->get(), &info, &len))
            return make_error(errno, "inspect " + path + ": " + errno_message(errno));
        if (kPinnedMaps[i].value_size && info.value_size != kPinnedMaps[i].value_size)
            return make_error(EPROTO, path + " was pinned by an incompatible vouch (value size " +
                                          std::to_string(info.value_size) + ", expected " +
                                          std::to_string(kPinnedMaps[i].value_size) +
                                          "); remove the pins with `vouchctl unpin` first");
        if (fds[i] == &allow_[0])
            allow_max_ = info.max_entries;
    }
    if (std::string path = dir + "/" + kTrustPin.name;
        trust_.reset(bpf_obj_get(path.c_str())), !trust_ && errno != ENOENT)
        return make_error(errno, "reattach to " + path + ": " + errno_message(errno));
    if (std::string path = dir + "/" + kProtectPin.name;
        protect_.reset(bpf_obj_get(path.c_str())), !protect_ && errno != ENOENT)
        return make_error(errno, "reattach to " + path + ": " + errno_message(errno));
    // Hold the links too: they are what keeps the hooks attached.
    vouch_bpf *probe = vouch_bpf__open();
    if (!probe)
        return make_error(errno, "open BPF object: " + errno_message(errno));
    std::unique_ptr<vouch_bpf, SkelDeleter> guard(probe);
    choose_programs(probe);
    for (int i = 0; i < probe->skeleton->prog_cnt; ++i) {
        if (!bpf_program__autoload(*probe->skeleton->progs[i].prog))
            continue;
        std::string path = dir + "/" + kLinkPinPrefix + probe->skeleton->progs[i].name;
        UniqueFd fd(bpf_obj_get(path.c_str()));
        // Pins from a vouch before the execve_check program (an upgrade):
        // everything else still enforces; the next load attaches it too.
        if (!fd && errno == ENOENT &&
            (*probe->skeleton->progs[i].prog == probe->progs.vouch_execve_check ||
             added_with_file_protection(probe, *probe->skeleton->progs[i].prog)))
            continue;
        if (!fd)
            return make_error(errno, "reattach to " + path + ": " + errno_message(errno) +
                                         " (a hook is not pinned; its enforcement is gone)");
        links_.push_back(std::move(fd));
    }
    return {};
}

KernelSide::~KernelSide() = default;

std::vector<uint32_t> KernelSide::prog_ids() const {
    std::vector<uint32_t> out;
    for (const auto &l : links_) {
        bpf_link_info info{};
        uint32_t len = sizeof(info);
        if (bpf_obj_get_info_by_fd(l.get(), &info, &len) == 0)
            out.push_back(info.prog_id);
    }
    return out;
}

Result<vouch_config> KernelSide::config() const {
    vouch_config cfg{};
    cfg.policy = __atomic_load_n(&cfg_->policy, __ATOMIC_SEQ_CST);
    cfg.pin_dir_ino = __atomic_load_n(&cfg_->pin_dir_ino, __ATOMIC_SEQ_CST);
    cfg.abi_version = __atomic_load_n(&cfg_->abi_version, __ATOMIC_SEQ_CST);
    cfg.flags = __atomic_load_n(&cfg_->flags, __ATOMIC_SEQ_CST);
    return cfg;
}

Result<std::optional<vouch_trust>> KernelSide::trust() const {
    if (!trust_)
        return std::optional<vouch_trust>();
    vouch_trust t{};
    uint32_t zero = 0;
    if (bpf_map_lookup_elem(trust_.get(), &zero, &t))
        return make_error(errno, "read vouch_trust: " + errno_message(errno));
    return std::optional<vouch_trust>(t);
}

Result<void> KernelSide::set_trust(const vouch_trust &t) {
    if (!trust_)
        return {};
    uint32_t zero = 0;
    if (bpf_map_update_elem(trust_.get(), &zero, &t, BPF_ANY))
        return make_error(errno, "write vouch_trust: " + errno_message(errno));
    return {};
}

namespace {

// The device of the superblock a file is on, in the kernel's encoding (what
// the programs read from inode->i_sb->s_dev): /proc/self/mountinfo's
// MAJOR:MINOR for the mount statx names. stat's st_dev is the same on ext4,
// xfs and tmpfs, but not on btrfs subvolumes, which report an anonymous
// device of their own.
uint32_t sb_dev(const struct statx &sx) {
    uint32_t dev = (sx.stx_dev_major << 20) | (sx.stx_dev_minor & 0xfffff);
    if (!(sx.stx_mask & STATX_MNT_ID))
        return dev;
    auto info = read_file("/proc/self/mountinfo", 64u << 20);
    if (!info)
        return dev;
    const std::string id = std::to_string(sx.stx_mnt_id) + " ";
    for (size_t at = 0; at < info->size();) {
        size_t nl = info->find('\n', at);
        if (nl == std::string::npos)
            nl = info->size();
        std::string_view line(info->data() + at, nl - at);
        at = nl + 1;
        if (!line.starts_with(id))
            continue;
        // "ID PARENT MAJOR:MINOR ROOT MOUNTPOINT ..."
        unsigned long long self = 0, parent = 0;
        unsigned major = 0, minor = 0;
        if (std::sscanf(std::string(line).c_str(), "%llu %llu %u:%u", &self, &parent, &major,
                        &minor) == 4)
            return (major << 20) | (minor & 0xfffff);
    }
    return dev;
}

Result<vouch_protect_key> inode_key(const std::string &path, struct statx *sx) {
    *sx = {};
    if (statx(AT_FDCWD, path.c_str(), 0, STATX_BASIC_STATS | STATX_MNT_ID, sx))
        return make_error(errno, "stat " + path + ": " + errno_message(errno));
    vouch_protect_key k{};
    k.ino = sx->stx_ino;
    k.dev = sb_dev(*sx);
    k.kind = VOUCH_PROTECT_INODE;
    return k;
}

} // namespace

Result<ProtectionReport> KernelSide::protect(const std::vector<std::string> &dirs) {
    ProtectionReport rep;
    if (!protect_)
        return make_error(EOPNOTSUPP, "the pinned kernel side predates file protection (its "
                                      "pins were made by an older vouch): nothing is protected "
                                      "until the next boot");
    // Several entries for one key (a directory that is also another's
    // ancestor) get the union of their flags.
    std::vector<std::pair<vouch_protect_key, uint32_t>> want;
    auto add = [&](const vouch_protect_key &k, uint32_t flags) {
        for (auto &[key, f] : want)
            if (std::memcmp(&key, &k, sizeof(k)) == 0) {
                f |= flags;
                return;
            }
        want.emplace_back(k, flags);
    };
    for (const auto &d : dirs) {
        char *real = realpath(d.c_str(), nullptr);
        if (!real) {
            rep.missing.push_back(d);
            continue;
        }
        std::string path = real;
        free(real);
        struct statx sx {};
        auto k = inode_key(path, &sx);
        if (!k || !S_ISDIR(sx.stx_mode)) {
            rep.missing.push_back(d);
            continue;
        }
        add(*k, VOUCH_PROTECT_DIR);
        // Its file system: files there reached by file handle (no parent
        // to test) are refused to non-agents.
        vouch_protect_key fsk{};
        fsk.dev = k->dev;
        fsk.kind = VOUCH_PROTECT_FS;
        add(fsk, VOUCH_PROTECT_SB);
        rep.dirs.push_back(path);
        // What a write could reach through another name: reported, not
        // fixed (vouchd does not delete the owner's files).
        if (Owned<DIR, closedir> dir(opendir(path.c_str())); dir) {
            while (const dirent *e = readdir(dir.get())) {
                std::string name = e->d_name;
                if (name == "." || name == "..")
                    continue;
                struct stat st {};
                if (lstat((path + "/" + name).c_str(), &st) == 0 && !S_ISDIR(st.st_mode) &&
                    st.st_nlink > 1)
                    rep.linked.push_back(path + "/" + name);
            }
        }
        for (std::string up = path; up != "/";) {
            size_t slash = up.rfind('/');
            up = slash == 0 ? "/" : up.substr(0, slash);
            struct statx ax {};
            if (auto a = inode_key(up, &ax); a) {
                add(*a, VOUCH_PROTECT_ANCESTOR);
                if (std::find(rep.ancestors.begin(), rep.ancestors.end(), up) ==
                    rep.ancestors.end())
                    rep.ancestors.push_back(up);
            }
        }
    }
    // This process's mount namespace (vouchd's own, under its unit): the
    // programs record the agent's when it opens one of vouch's maps, so open
    // one now that the policy naming the agent is active. pid 1's the
    // programs find themselves.
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(protect_.get(), &info, &len) == 0) {
        if (UniqueFd again(bpf_map_get_fd_by_id(info.id)); !again && rep.error.empty())
            rep.error = "reopen vouch_protect: " + errno_message(errno);
    } else if (rep.error.empty()) {
        rep.error = "inspect vouch_protect: " + errno_message(errno);
    }
    for (const auto &[k, flags] : want) {
        uint32_t f = flags, old = 0;
        if (bpf_map_lookup_elem(protect_.get(), &k, &old) == 0)
            f |= old;
        if (bpf_map_update_elem(protect_.get(), &k, &f, BPF_ANY) && rep.error.empty())
            rep.error = "write vouch_protect: " + errno_message(errno);
    }
    protected_ = rep;
    return protection();
}

Result<void> KernelSide::check_protected(const std::string &dir) {
    ProtectionReport now = protection();
    if (!now.active)
        return {};
    std::string path = dir;
    if (char *real = realpath(dir.c_str(), nullptr)) {
        path = real;
        free(real);
    }
    if (std::find(now.dirs.begin(), now.dirs.end(), path) == now.dirs.end())
        return {};
    struct statx sx {};
    auto k = inode_key(path, &sx);
    uint32_t flags = 0;
    if (k && S_ISDIR(sx.stx_mode) && bpf_map_lookup_elem(protect_.get(), &*k, &flags) == 0 &&
        (flags & VOUCH_PROTECT_DIR))
        return {};
    if (std::find(protected_.replaced.begin(), protected_.replaced.end(), path) ==
        protected_.replaced.end())
        protected_.replaced.push_back(path);
    return make_error(EXDEV, path + " is no longer the directory vouch protects (the file system "
                                    "holding it was unmounted and another put in its place?): "
                                    "nothing written there");
}

ProtectionReport KernelSide::protection() const {
    ProtectionReport rep = protected_;
    rep.supported = static_cast<bool>(protect_);
    rep.entries = 0;
    if (protect_) {
        vouch_protect_key k{}, next{};
        const void *cur = nullptr;
        while (bpf_map_get_next_key(protect_.get(), cur, &next) == 0) {
            ++rep.entries;
            k = next;
            cur = &k;
        }
    }
    uint64_t word = __atomic_load_n(&cfg_->policy, __ATOMIC_SEQ_CST);
    rep.active = rep.supported && !rep.dirs.empty() &&
                 VOUCH_POLICY_MODE(word) == VOUCH_MODE_ENFORCE &&
                 VOUCH_POLICY_ACTIVE(word) != VOUCH_ACTIVE_NONE;
    return rep;
}

Result<vouch_stats> KernelSide::stats() const {
    vouch_stats st{};
    uint32_t zero = 0;
    if (bpf_map_lookup_elem(stats_.get(), &zero, &st))
        return make_error(errno, "read vouch_stats: " + errno_message(errno));
    return st;
}

namespace {

// Batches of this many keys per syscall: a 100,000-digest policy is a few
// dozen syscalls to clear and to fill instead of hundreds of thousands.
constexpr uint32_t kBatch = 8192;

Result<void> clear_map(int fd) {
    std::vector<vouch_digest> keys(kBatch);
    std::vector<uint32_t> values(kBatch);
    uint32_t in = 0, out = 0;
    bool first = true;
    for (;;) {
        uint32_t count = kBatch;
        int r = bpf_map_lookup_and_delete_batch(fd, first ? nullptr : &in, &out, keys.data(),
                                                values.data(), &count, nullptr);
        if (r && errno == ENOENT) // the last batch, possibly partial
            return {};
        if (r && (errno == EINVAL || errno == ENOTSUP || errno == EOPNOTSUPP) && first)
            break; // a kernel without batch ops for hash maps: one by one
        if (r)
            return make_error(errno, "clear allow-list: " + errno_message(errno));
        in = out;
        first = false;
    }
    vouch_digest key{};
    // Delete the first key until none is left: a walk from a deleted key
    // would restart from the beginning anyway.
    while (bpf_map_get_next_key(fd, nullptr, &key) == 0) {
        if (bpf_map_delete_elem(fd, &key) && errno != ENOENT)
            return make_error(errno, "clear allow-list: " + errno_message(errno));
    }
    return {};
}

Result<void> fill_map(int fd, const std::vector<vouch_digest> &keys,
                      const std::vector<uint32_t> &values) {
    size_t done = 0;
    while (done < keys.size()) {
        uint32_t count = static_cast<uint32_t>(std::min<size_t>(kBatch, keys.size() - done));
        LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
        if (bpf_map_update_batch(fd, &keys[done], &values[done], &count, &opts)) {
            if (done == 0 && (errno == EINVAL || errno == ENOTSUP || errno == EOPNOTSUPP))
                break;
            return make_error(errno, "fill allow-list: " + errno_message(errno));
        }
        done += count;
    }
    for (; done < keys.size(); ++done) {
        if (bpf_map_update_elem(fd, &keys[done], &values[done], BPF_ANY))
            return make_error(errno, "fill allow-list: " + errno_message(errno));
    }
    return {};
}

} // namespace

Result<void> KernelSide::set_policy(const std::vector<vouch_digest> &allowed, vouch_mode mode,
                                    const std::vector<vouch_digest> &agents,
                                    const std::vector<vouch_digest> &verity) {
    auto cur = config();
    if (!cur)
        return cur.error();
    uint32_t next =
        VOUCH_POLICY_ACTIVE(cur->policy) == VOUCH_ACTIVE_A ? VOUCH_ACTIVE_B : VOUCH_ACTIVE_A;
    int target = allow_[next == VOUCH_ACTIVE_A ? 0 : 1].get();
    // One entry per digest, with the flags of every list that names it.
    std::vector<std::pair<vouch_digest, uint32_t>> entries;
    entries.reserve(allowed.size() + agents.size() + verity.size());
    for (const auto &d : allowed)
        entries.emplace_back(d, VOUCH_ALLOW_EXEC);
    for (const auto &d : agents)
        entries.emplace_back(d, VOUCH_ALLOW_EXEC | VOUCH_ALLOW_AGENT);
    for (const auto &d : verity)
        entries.emplace_back(d, VOUCH_ALLOW_VERITY);
    auto less = [](const auto &a, const auto &b) {
        return std::memcmp(a.first.bytes, b.first.bytes, sizeof(a.first.bytes)) < 0;
    };
    std::sort(entries.begin(), entries.end(), less);
    std::vector<vouch_digest> keys;
    std::vector<uint32_t> values;
    for (const auto &[d, f] : entries) {
        if (!keys.empty() && std::memcmp(keys.back().bytes, d.bytes, sizeof(d.bytes)) == 0) {
            values.back() |= f;
        } else {
            keys.push_back(d);
            values.push_back(f);
        }
    }
    if (keys.size() > allow_max_)
        return make_error(E2BIG, "policy has " + std::to_string(keys.size()) +
                                     " digests, the kernel allow-list holds at most " +
                                     std::to_string(allow_max_));
    if (auto r = clear_map(target); !r)
        return r;
    if (auto r = fill_map(target, keys, values); !r)
        return r;
    store_policy(mode, next);
    return {};
}

Result<std::vector<uint32_t>>
KernelSide::allow_flags(const std::vector<vouch_digest> &digests) const {
    auto cur = config();
    if (!cur)
        return cur.error();
    std::vector<uint32_t> out(digests.size(), 0);
    uint32_t active = VOUCH_POLICY_ACTIVE(cur->policy);
    if (active == VOUCH_ACTIVE_NONE)
        return out;
    int fd = allow_[active == VOUCH_ACTIVE_A ? 0 : 1].get();
    for (size_t i = 0; i < digests.size(); ++i) {
        uint32_t flags = 0;
        if (bpf_map_lookup_elem(fd, &digests[i], &flags) == 0)
            out[i] = flags;
        else if (errno != ENOENT)
            return make_error(errno, "allow-list lookup: " + errno_message(errno));
    }
    return out;
}

Result<void> KernelSide::clear_policy() {
    store_policy(VOUCH_MODE_AUDIT, VOUCH_ACTIVE_NONE);
    return {};
}

int KernelSide::on_event(void *ctx, void *data, size_t size) {
    auto *self = static_cast<KernelSide *>(ctx);
    if (size < sizeof(vouch_event))
        return 0;
    self->handler_(*static_cast<const vouch_event *>(data));
    return 0;
}

Result<void> KernelSide::start_events(EventHandler handler) {
    handler_ = std::move(handler);
    rb_.reset(ring_buffer__new(events_.get(), on_event, this, nullptr));
    if (!rb_)
        return make_error(errno, "ring buffer: " + errno_message(errno));
    return {};
}

Result<int> KernelSide::poll(int timeout_ms) {
    int n = ring_buffer__poll(rb_.get(), timeout_ms);
    if (n < 0 && n != -EINTR)
        return make_error(n, "ring buffer poll: " + errno_message(n));
    return n < 0 ? 0 : n;
}

Result<int> KernelSide::consume() {
    int n = ring_buffer__consume(rb_.get());
    if (n < 0)
        return make_error(n, "ring buffer consume: " + errno_message(n));
    return n;
}

int KernelSide::events_fd() const {
    return rb_ ? ring_buffer__epoll_fd(rb_.get()) : -1;
}

} // namespace vouch
