/* SPDX-License-Identifier: Apache-2.0 */
// The loader for bpf/vouch.bpf.c: open, configure, load, attach, pin,
// reattach to pinned objects, read events, swap the allow-list.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lib/abi.h"
#include "lib/fd.h"
#include "lib/pins.h"
#include "lib/result.h"

struct vouch_bpf;
struct ring_buffer;

namespace vouch {

// libbpf's messages (warnings and the verifier's log) for as long as this
// object lives, collected instead of printed: library code does not log, and
// the load's error quotes what matters. One at a time: libbpf's print hook is
// process-wide.
class LibbpfMessages {
  public:
    LibbpfMessages();
    ~LibbpfMessages();
    LibbpfMessages(const LibbpfMessages &) = delete;
    LibbpfMessages &operator=(const LibbpfMessages &) = delete;
    const std::string &text() const { return text_; }

  private:
    std::string text_;
    void *previous_;
};

// Does the running kernel's linux_binprm have is_check, i.e. does it know
// execveat(AT_EXECVE_CHECK) (6.14+)? vouch attaches its bprm_creds_for_exec
// program only then.
bool kernel_has_execve_check();
// Does the running kernel have the bpf_get_fsverity_digest kfunc (6.8+)?
bool kernel_has_fsverity_kfunc();

// Marks the programs of an opened (not yet loaded) object that this kernel
// gets: each is loaded, attached and pinned, and so expected by a reattach.
// The bprm_creds_for_exec program only matters where AT_EXECVE_CHECK exists;
// elsewhere it would cost every exec a call for nothing.
void choose_programs(vouch_bpf *s);

// The error of a failed BPF object load (err: libbpf's negative errno). When
// the verifier rejected a program, it says so, names the program and the
// running kernel, and quotes the verifier's reason (its last lines; from
// 7.3's longer report the reason, Reason and Suggestion); otherwise it names
// the likely cause (privileges, kernel options).
Error bpf_load_error(int err, const std::string &libbpf_messages);

// Does the running kernel's inode_setattr hook take the mount's idmap first
// (6.3+)? Each prototype has its own program; the loader attaches the one
// that matches.
bool kernel_setattr_has_idmap();
// Does the running kernel have the inode_set_acl/inode_remove_acl hooks (6.2+)?
bool kernel_has_acl_hooks();

// What vouch's kernel side protects of its own files (issue #14): the keys
// and state directories and their entries, against anyone but the agent,
// while a policy enforces. For status reports (vouchd's D-Bus, vouchctl).
struct ProtectionReport {
    // The pinned kernel side has the map (pins made by a vouch before file
    // protection do not, until the next boot or unpin).
    bool supported = false;
    // supported, a policy enforces and at least one directory is protected:
    // the directories below are refused to everyone but the agent now.
    bool active = false;
    // Protected with every entry directly in them, as this vouchd named them.
    std::vector<std::string> dirs;
    // Named but absent when protect() ran: not protected.
    std::vector<std::string> missing;
    // Directories above them: no mount over them, no rename of them.
    std::vector<std::string> ancestors;
    // Files in them with more than one name (st_nlink > 1): the other name,
    // made before protection, is outside it and can still be written.
    std::vector<std::string> linked;
    // Entries in the kernel side's map (directories and ancestors of every
    // vouchd this boot, file systems, and the agent's mount namespace).
    size_t entries = 0;
    // The first error protect() met, if any (the rest of the set was done).
    std::string error;
    // Directories of dirs whose path now names another directory (or none):
    // what was there was unmounted (umount -l) and something else put in
    // its place; vouchd refuses to write its state or keys there.
    std::vector<std::string> replaced;
};

struct KernelSideOptions {
    bool cache = true;                 // per-inode digest cache
    uint32_t ringbuf_bytes = 4u << 20; // power of two, multiple of the page size
    uint32_t allow_max = 1u << 17;     // capacity of each allow-list buffer
    // Where maps and links are pinned, so enforcement outlives this process.
    // Empty: nothing is pinned; the hooks detach when this object goes away.
    std::string pin_dir;
    // Identify files with fs-verity by their fs-verity digest, on kernels
    // with bpf_get_fsverity_digest (6.8+); otherwise their content is hashed.
    bool verity = true;
    // Skip the running-kernel preflight (tests that probe failure paths).
    bool skip_preflight = false;
};

class KernelSide {
  public:
    using EventHandler = std::function<void(const vouch_event &)>;

    // With a pin_dir that holds vouch's pins: reattaches to them (the hooks
    // stay attached throughout). Otherwise loads, attaches and pins. The
    // error names what the kernel lacks.
    static Result<std::unique_ptr<KernelSide>> load(const KernelSideOptions &opts);
    ~KernelSide();

    bool reattached() const { return reattached_; }

    // Replaces the allow-list and mode in one step: the inactive buffer is
    // filled, then a single config update makes it the one execs see.
    // Agents are allowed to run and may change vouch's objects. verity:
    // fs-verity digests, which allow only files the kernel side identified by
    // fs-verity (and allowed/agents only files it hashed).
    Result<void> set_policy(const std::vector<vouch_digest> &allowed, vouch_mode mode,
                            const std::vector<vouch_digest> &agents = {},
                            const std::vector<vouch_digest> &verity = {});
    // Back to measuring only: no policy, audit mode.
    Result<void> clear_policy();
    // The active allow-list's flags (VOUCH_ALLOW_*) for each digest, 0 for a
    // digest it does not hold (all 0 with no policy): what execs see now.
    Result<std::vector<uint32_t>> allow_flags(const std::vector<vouch_digest> &digests) const;
    Result<vouch_config> config() const;
    Result<vouch_stats> stats() const;
    // vouchd's trust state; nullopt when the pins predate it.
    Result<std::optional<vouch_trust>> trust() const;
    Result<void> set_trust(const vouch_trust &t);
    // Protects dirs (vouchd: keys_dir and state_dir) and their entries while
    // a policy enforces: adds them and every directory above them to the
    // kernel side's map, and has the programs record this process's mount
    // namespace as the agent's. Only adds: a
    // vouchd started later with other directories cannot unprotect the
    // first's. Needs the agent's rights when a policy enforces. A missing
    // directory is skipped (reported); the result says what is protected.
    Result<ProtectionReport> protect(const std::vector<std::string> &dirs);
    // The report of the last protect() against the kernel side as it is now
    // (mode, map size): what a status report shows. Before protect(): only
    // `supported`, `active` and `entries`.
    ProtectionReport protection() const;
    // Is `dir`, which protect() protected, still the directory at that
    // path? An error when the path now names another directory or none
    // (recorded in protection().replaced); fine for a path protect() did not
    // protect, and while no policy enforces.
    Result<void> check_protected(const std::string &dir);

    // IDs of the attached programs (to show that a reattach kept them).
    std::vector<uint32_t> prog_ids() const;

    // Events are delivered to handler from poll()/consume().
    Result<void> start_events(EventHandler handler);
    Result<int> poll(int timeout_ms);
    Result<int> consume();
    int events_fd() const;

  private:
    struct SkelDeleter {
        void operator()(vouch_bpf *s) const;
    };
    struct RingBufferDeleter {
        void operator()(ring_buffer *r) const;
    };

    KernelSide() = default;
    static int on_event(void *ctx, void *data, size_t size);
    Result<void> pin_all(const std::string &dir);
    Result<void> open_pins(const std::string &dir);
    Result<void> map_config();
    void store_policy(vouch_mode mode, uint32_t active);

    struct Unmap {
        void operator()(vouch_config *p) const;
    };

    std::unique_ptr<vouch_bpf, SkelDeleter> skel_;
    // Map and link descriptors, whether from the skeleton (dup'ed) or pins.
    UniqueFd events_, config_, stats_, trust_, protect_, allow_[2];
    // What protect() last did (paths as given), for protection().
    ProtectionReport protected_;
    // vouch_config, mapped: mode and active list change with one atomic store.
    std::unique_ptr<vouch_config, Unmap> cfg_;
    std::vector<UniqueFd> links_;
    uint32_t allow_max_ = 0;
    bool reattached_ = false;
    std::unique_ptr<ring_buffer, RingBufferDeleter> rb_;
    EventHandler handler_;
};

} // namespace vouch
