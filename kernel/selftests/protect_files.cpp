// SPDX-License-Identifier: Apache-2.0
// vouch's own files while a policy enforces (issue #14): the trusted keys
// (/etc/vouch/keys) and the state (/var/lib/vouch: the highest serial) decide
// what the next boot trusts, so root without the owner's key must not change
// them. Here root, but not the agent, attacks them with plain commands (a
// busybox shell): writes, creates, links, renames, unlinks, attribute and
// xattr changes, mounts over them or a directory above them (mount(2) and
// move_mount(2)). Each must fail with EPERM and leave the files as they were.
// vouchd itself still rotates keys and raises the serial; a private mount
// namespace may still mount over /etc; remounts and propagation changes
// work. In audit mode, which protects nothing, the same commands succeed.
#include <fcntl.h>
#include <signal.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "lib/file_io.h"
#include "lib/pins.h"
#include "kernel/selftests/lib/policy_env.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"
#include "kernel/selftests/lib/verity.h"
#include "kernel/selftests/lib/vouchd.h"

using namespace vouch;
using namespace vouch::selftest;
namespace fs = std::filesystem;

namespace {

const std::string kPins = "/sys/fs/bpf/vouch-protect";
const std::string kWork = "/run/vouch-protect-test";
const std::string kKeys = "/etc/vouch/keys", kState = "/var/lib/vouch";
const std::string kSrc = "/tmp/protect-src", kMnt = "/tmp/protect-mnt";
constexpr const char *kBusybox = "/bin/busybox";

struct Out {
    int status = -1;
    std::string text;
};

// `cmd` run by busybox sh as root (not the agent: busybox is not one), with
// its stdout and stderr.
Out sh(const std::string &cmd) {
    int p[2];
    if (pipe2(p, O_CLOEXEC))
        return {};
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        dup2(p[1], 2);
        execl(kBusybox, "sh", "-c", cmd.c_str(), static_cast<char *>(nullptr));
        _exit(127);
    }
    close(p[1]);
    Out o;
    char buf[4096];
    ssize_t n;
    while ((n = read(p[0], buf, sizeof(buf))) > 0)
        o.text.append(buf, n);
    close(p[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    o.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return o;
}

// Failed with EPERM. busybox mount says EPERM (and EACCES) as "permission
// denied (are you root?)"; the caller also checks that vouch counted it.
bool refused(const Out &o) {
    return o.status != 0 && (o.text.find("Operation not permitted") != std::string::npos ||
                             o.text.find("permission denied (are you root?)") != std::string::npos);
}

// Names, modes, owners, times and contents of everything in `dirs`.
std::map<std::string, std::string> snapshot(const std::vector<std::string> &dirs) {
    std::map<std::string, std::string> out;
    for (const auto &d : dirs) {
        std::error_code ec;
        for (const auto &e : fs::directory_iterator(d, ec)) {
            struct stat st {};
            std::string p = e.path().string();
            if (lstat(p.c_str(), &st))
                continue;
            std::string v = std::to_string(st.st_mode) + " " + std::to_string(st.st_uid) + ":" +
                            std::to_string(st.st_gid) + " " + std::to_string(st.st_mtim.tv_sec) +
                            "." + std::to_string(st.st_mtim.tv_nsec) + " " +
                            std::to_string(st.st_ino);
            if (S_ISREG(st.st_mode))
                if (auto c = read_file(p, 1 << 20))
                    v += " " + *c;
            char x[64] = {};
            if (getxattr(p.c_str(), "trusted.vouch", x, sizeof(x)) >= 0)
                v += " xattr";
            out[p] = v;
        }
        struct stat st {};
        if (stat(d.c_str(), &st) == 0)
            out[d] = std::to_string(st.st_mode) + " " + std::to_string(st.st_ino);
    }
    return out;
}

struct Attack {
    std::string name, enforce, audit; // audit: empty means the same command
};

// The attacks on the keys directory holding `key` (a file name) and on the
// state directory. Ordered so that each still applies in audit mode after
// the ones before it succeeded.
std::vector<Attack> attacks(const std::string &key) {
    const std::string k = kKeys + "/" + key, s = kState + "/policy-serial";
    const std::string h = helper("");
    return {
        {"create a key file (echo > keys/root.pem)", "echo root > " + kKeys + "/root.pem", ""},
        {"append to a trusted key (echo >>)", "echo x >> " + k, ""},
        {"overwrite a trusted key (cp)", "cp " + kSrc + "/root.pem " + k, ""},
        {"truncate the serial file", "truncate -s 0 " + s, ""},
        {"chmod a trusted key", "chmod 666 " + k, ""},
        {"chown the serial file", "chown 1:1 " + s, ""},
        // A file handle after the caches were dropped: a dentry with no
        // parent (the state directory is on ext4, whose dentries go).
        {"write the serial through a file handle (open_by_handle_at, disconnected)",
         h + "openbyhandle write " + s, ""},
        {"chmod the serial through a file handle (fchmod)", h + "openbyhandle chmod " + s, ""},
        {"truncate a trusted key through a file handle (ftruncate)",
         h + "openbyhandle truncate " + k, ""},
        {"link the serial out of its directory through a file handle (linkat AT_EMPTY_PATH)",
         h + "openbyhandle link " + s + " /var/serial.link",
         h + "openbyhandle link " + s + " /var/serial.link && rm /var/serial.link"},
        {"touch (utimes) a trusted key", "touch -t 200001010000 " + k, ""},
        {"chmod the keys directory", "chmod 777 " + kKeys, ""},
        {"setxattr on a trusted key", h + "setxattr trusted.vouch 01 " + k, ""},
        {"removexattr on a trusted key", h + "setxattr trusted.vouch - " + k, ""},
        {"symlink into the keys directory", "ln -s " + kSrc + "/root.pem " + kKeys + "/link.pem",
         ""},
        {"mkdir in the keys directory", "mkdir " + kKeys + "/sub", ""},
        {"mknod (a FIFO) in the state directory", "mknod " + kState + "/fifo p", ""},
        {"hard link into the keys directory", "ln /etc/vouch/x.pem " + kKeys + "/x.pem", ""},
        {"hard link a trusted key out of it", "ln " + k + " /etc/vouch/key.hard", ""},
        {"rename a file into the keys directory", "mv /etc/vouch/y.pem " + kKeys + "/y.pem", ""},
        {"rename a trusted key out of it", "mv " + k + " /etc/vouch/moved.pem",
         "mv " + k + " /etc/vouch/moved.pem && mv /etc/vouch/moved.pem " + k},
        {"unlink the serial file", "rm " + s, ""},
        {"rmdir the state directory (rmdir in it in audit mode)", "rmdir " + kState,
         "rmdir " + kKeys + "/sub"},
        {"rename the state directory", "mv " + kState + " /var/lib/vouch.old",
         "mv " + kState + " /var/lib/vouch.old && mv /var/lib/vouch.old " + kState},
        {"rename a directory above it (/var/lib)", "mv /var/lib /var/lib.old",
         "mv /var/lib /var/lib.old && mv /var/lib.old /var/lib"},
        {"mount a tmpfs over the keys directory", "mount -t tmpfs none " + kKeys,
         "mount -t tmpfs none " + kKeys + " && umount " + kKeys},
        {"bind mount over /var/lib", "mount -o bind " + kSrc + " /var/lib",
         "mount -o bind " + kSrc + " /var/lib && umount /var/lib"},
        {"bind mount over a trusted key", "mount -o bind " + kSrc + "/root.pem " + k,
         "mount -o bind " + kSrc + "/root.pem " + k + " && umount " + k},
        {"mount a tmpfs over /etc", "mount -t tmpfs none /etc",
         "mount -t tmpfs none /etc && umount /etc"},
        {"move a mount over the state directory (mount -o move)",
         "mount -o move " + kMnt + " " + kState,
         "mount -o move " + kMnt + " " + kState + " && mount -o move " + kState + " " + kMnt},
        {"move_mount(2) a cloned tree over /var", h + "movemount " + kSrc + " /var",
         h + "movemount " + kSrc + " /var && umount /var"},
        // /etc/vouch shared (as / is under systemd): a namespace that keeps
        // the propagation is a peer, its mount would appear in this one.
        {"mount over the keys from unshare -m --propagation shared (shared peer)",
         "mount --make-shared /etc/vouch && unshare -m --propagation shared mount -t tmpfs "
         "none " +
             kKeys + "; r=$?; mount --make-private /etc/vouch; exit $r",
         "mount --make-shared /etc/vouch && unshare -m --propagation shared mount -t tmpfs "
         "none " +
             kKeys + " && grep -q ' " + kKeys + " tmpfs' /proc/mounts && umount " + kKeys +
             "; r=$?; mount --make-private /etc/vouch; exit $r"},
    };
}

} // namespace

int main() {
    const size_t n_attacks = attacks("k").size();
    Tap t("protect_files", static_cast<int>(2 * n_attacks + 19));
    (void)unpin(kPins);
    std::error_code ec;
    fs::remove_all(kWork, ec);
    fs::create_directories(kWork);
    const std::string keys = self_dir() + "/keys";
    const std::string old_key = keys + "/ecdsa-p256.key", new_key = keys + "/untrusted-p256.key";
    const std::string new_pub = keys + "/untrusted/untrusted-p256.pem";
    auto pem = [&](const std::string &path) {
        auto text = read_file(path, 1 << 20);
        if (!text)
            t.bail(text.error().message);
        return *text;
    };

    // The owner's layout: /etc/vouch and /var on file systems of their own
    // (so that remounts of a protected ancestor can be tried), the keys and
    // the state directory. Made as the test (the agent) before enforcing.
    // /var is a directory of the run's ext4 image, whose dentries and
    // inodes drop_caches evicts (tmpfs keeps them): a file handle then
    // gives a disconnected dentry.
    const bool had_var = fs::exists("/var");
    for (const char *d : {"/etc/vouch", kSrc.c_str(), kMnt.c_str()}) {
        fs::create_directories(d, ec);
        if (mount("none", d, "tmpfs", 0, "mode=0755"))
            t.bail(std::string("mount tmpfs on ") + d + ": " + std::strerror(errno));
    }
    if (auto m = mount_verity_fs(); !m)
        t.bail(m.error().message);
    const std::string ext4_var = std::string(kVerityMount) + "/protect-var";
    fs::remove_all(ext4_var, ec);
    fs::create_directories(ext4_var);
    fs::create_directories("/var", ec);
    if (mount(ext4_var.c_str(), "/var", nullptr, MS_BIND, nullptr))
        t.bail("bind mount " + ext4_var + " on /var: " + std::strerror(errno));
    fs::create_directories(kKeys);
    fs::create_directories(kState);
    fs::copy_file(keys + "/trusted/ecdsa-p256.pem", kKeys + "/owner.pem");
    if (!write_file_atomic("/etc/vouch/x.pem", "x\n", 0644) ||
        !write_file_atomic("/etc/vouch/y.pem", "y\n", 0644) ||
        !write_file_atomic(kSrc + "/root.pem", "root's key\n", 0644) ||
        !write_file_atomic(kState + "/linked", "linked\n", 0600) ||
        link((kState + "/linked").c_str(), "/var/linked"))
        t.bail("cannot create the test files");

    char exe[4096] = {};
    if (readlink("/proc/self/exe", exe, sizeof(exe) - 1) <= 0)
        t.bail("readlink /proc/self/exe");
    const std::vector<std::string> extra = {kBusybox, helper("setxattr"), helper("movemount"),
                                            helper("openbyhandle"), helper("setflags")};
    auto input = [&](uint64_t serial, vouch_mode mode, const std::vector<std::string> &trust) {
        auto in = policy_input(t, serial, mode, {}, exe, extra);
        for (const auto &p : trust)
            in.trust_keys.push_back(pem(p));
        return in;
    };
    const std::string pol = kWork + "/policy.dsse";
    install(t, pol, sign_with(t, input(5, VOUCH_MODE_ENFORCE, {}), {old_key}));
    Vouchd d({"--no-bus", "--no-tpm", "--pin-dir", kPins, "--log-dir", kWork + "/log", "--policy",
              pol, "--state-dir", kState, "--keys-dir", kKeys});
    bool started = d.start({});
    if (!t.ok(started && fs::exists(kState + "/policy-serial"),
              "vouchd enforces serial 5 with keys in %s and state in %s", kKeys.c_str(),
              kState.c_str()))
        t.bail(d.output());

    auto tamper_count = [&]() -> uint64_t {
        KernelSideOptions o;
        o.pin_dir = kPins;
        auto ks = KernelSide::load(o);
        if (!ks)
            return 0;
        auto st = (*ks)->stats();
        return st ? st->tamper_denied : 0;
    };

    // Enforce mode: every attack refused with EPERM, nothing changed.
    const std::vector<std::string> watched = {kKeys, kState, "/etc/vouch", "/var/lib", "/var"};
    const auto before = snapshot(watched);
    const uint64_t denied_before = tamper_count();
    bool flip = t.broken();
    for (const auto &a : attacks("owner.pem")) {
        const uint64_t was = tamper_count();
        Out o = sh(a.enforce);
        const uint64_t now = tamper_count();
        if (!t.ok((refused(o) && now > was) != flip, "enforce: %s: EPERM from vouch",
                  a.name.c_str())) {
            t.diag("$ %s (exit %d, tamper_denied %llu -> %llu)", a.enforce.c_str(), o.status,
                   static_cast<unsigned long long>(was), static_cast<unsigned long long>(now));
            t.diag_lines(o.text);
        }
    }
    const auto after = snapshot(watched);
    if (!t.ok(before == after, "enforce: the keys, the state and the directories above them are "
                               "unchanged")) {
        for (const auto &[p, v] : after)
            if (!before.count(p) || before.at(p) != v)
                t.diag("changed or new: %s", p.c_str());
        for (const auto &[p, v] : before)
            if (!after.count(p))
                t.diag("gone: %s", p.c_str());
    }
    const uint64_t denied_after = tamper_count();
    t.ok(denied_after >= denied_before + n_attacks,
         "each refusal is counted in tamper_denied (%llu -> %llu, %zu attacks)",
         static_cast<unsigned long long>(denied_before),
         static_cast<unsigned long long>(denied_after), n_attacks);

    // What a status report shows (KernelSide::protection()).
    {
        KernelSideOptions o;
        o.pin_dir = kPins;
        auto ks = KernelSide::load(o);
        bool good = false;
        if (ks) {
            auto r = (*ks)->protect({kKeys, kState});
            auto has = [](const std::vector<std::string> &v, const std::string &x) {
                return std::find(v.begin(), v.end(), x) != v.end();
            };
            good = r && r->supported && r->active && r->error.empty() &&
                   r->dirs == std::vector<std::string>{kKeys, kState} &&
                   has(r->linked, kState + "/linked") && has(r->ancestors, "/etc/vouch") &&
                   has(r->ancestors, "/var/lib") && has(r->ancestors, "/") &&
                   r->entries >= r->dirs.size() + 5;
            if (!good && r)
                t.diag("supported %d active %d dirs %zu linked %zu ancestors %zu entries %zu %s",
                       r->supported, r->active, r->dirs.size(), r->linked.size(),
                       r->ancestors.size(), r->entries, r->error.c_str());
        }
        t.ok(good, "the report: both directories protected and active, the ancestors, the file "
                   "with a second name (state/linked) named");
    }
    t.ok(sh("echo more >> /var/linked").status == 0,
         "a second name made before protection (/var/linked) is outside it, as reported");
    // (busybox mount reads /etc/fstab for a remount unless given a source too)
    Out o = sh("mount -t tmpfs -o remount,rw none /var && mount --make-private /var && "
               "mount --make-shared /var && mount --make-private /var && mount -t tmpfs -o "
               "remount,rw none /etc/vouch");
    if (!t.ok(o.status == 0, "remounts and propagation changes of a protected ancestor work"))
        t.diag_lines(o.text);
    o = sh("unshare -m --propagation private sh -c 'mount -t tmpfs none " + kKeys +
           " && mount -o bind " + kSrc + " /etc && test -e /etc/root.pem'");
    if (!t.ok(o.status == 0, "in a private mount namespace (unshare -m) a tmpfs over the keys "
                             "directory and a bind mount over /etc succeed"))
        t.diag_lines(o.text);
    o = sh("mount --make-shared /etc/vouch && unshare -m --propagation slave sh -c 'mount -t "
           "tmpfs none " +
           kKeys + " && touch " + kKeys + "/new'; r=$?; test -e " + kKeys +
           "/new && r=9; mount --make-private /etc/vouch; exit $r");
    if (!t.ok(o.status == 0, "with /etc/vouch shared, in a slave mount namespace (unshare -m "
                             "--propagation slave) a tmpfs over the keys directory succeeds and "
                             "does not reach this one"))
        t.diag_lines(o.text);
    o = sh("unshare -m --propagation private sh -c 'echo x >> " + kKeys + "/owner.pem'");
    t.ok(refused(o), "from that namespace, writing a trusted key is still refused");

    // vouchd's own mount namespace (under its unit, ProtectSystem= gives it
    // one): the programs record it when the vouchd that serves the kernel
    // side opens a map. Root entering it (nsenter) cannot mount over the
    // keys; a second vouchd root starts in a namespace of its own, and
    // another agent process (this test) opening the maps, do not move the
    // record. vouchd restarts in such a namespace here, and again in the
    // test's afterwards.
    {
        d.kill_it(SIGTERM);
        Vouchd a = d;
        a.own_mount_ns = true;
        const bool a_started = a.start({});
        const std::string ns = "nsenter -t " + std::to_string(a.pid) + " -m ";
        Out in = sh(ns + "mount -t tmpfs none " + kKeys);
        Out other = sh(ns + "mount -t tmpfs none " + kMnt + " && " + ns + "umount " + kMnt);
        if (!t.ok(a_started && refused(in) && other.status == 0,
                  "vouchd restarted in a mount namespace of its own: there (nsenter) a mount over "
                  "the keys directory is refused, one elsewhere is not"))
            t.diag_lines(a.output() + in.text + other.text);

        size_t mark = a.output().size();
        Vouchd second = d;
        second.own_mount_ns = true;
        const bool second_started = second.start({}, 20000);
        const bool second_refused =
            !second_started && a.output().find("another vouchd", mark) != std::string::npos;
        (void)tamper_count(); // this test is an agent process too
        Out again = sh(ns + "mount -t tmpfs none " + kKeys);
        if (!t.ok(second_refused && refused(again),
                  "a second vouchd root starts in a namespace of its own exits (another one "
                  "serves) and, like another agent process opening the maps, leaves the record "
                  "alone: in the first one's namespace the mount over the keys is still refused"))
            t.diag_lines(a.output().substr(mark) + again.text);
        second.kill_it(SIGKILL);

        struct stat agent_ns {};
        stat(("/proc/" + std::to_string(a.pid) + "/ns/mnt").c_str(), &agent_ns);
        a.kill_it(SIGTERM);
        // What systemd does when it restarts vouchd's unit: a new namespace,
        // made a slave, gets bind mounts over /etc/vouch before vouchd runs.
        // The kernel hands it the exited vouchd's namespace inode number
        // (the number is checked below); it is not the agent's.
        o = sh("unshare -m --propagation slave sh -c 'stat -L -c %i /proc/self/ns/mnt; mount "
               "--bind /etc/vouch " +
               kKeys + " && umount " + kKeys + "'");
        const bool reused = o.text.find(std::to_string(agent_ns.st_ino) + "\n") == 0;
        if (!t.ok(o.status == 0 && agent_ns.st_ino,
                  "after that vouchd exited, a new slave namespace may bind-mount over the keys "
                  "directory (systemd's unit setup)"))
            t.diag_lines(o.text);
        t.diag("the new namespace %s the exited vouchd's inode number %lu",
               reused ? "reused" : "did not reuse", static_cast<unsigned long>(agent_ns.st_ino));
        if (!t.ok(d.start({}), "vouchd restarted in the test's namespace enforces serial 5 again"))
            t.bail(d.output());
    }

    // vouchd itself: a signed rotation rewrites the keys directory, a higher
    // serial is committed to the state directory.
    auto reload = [&](const std::string &envelope, const char *needle) {
        size_t mark = d.output().size();
        install(t, pol, envelope);
        kill(d.pid, SIGHUP);
        return wait_for_output(d, needle, mark);
    };
    auto k = policy::parse_public_key(pem(new_pub), new_pub);
    if (!k)
        t.bail(k.error().message);
    const std::string want = k->keyid.substr(0, 16) + ".pem";
    bool rotated = reload(sign_with(t, input(6, VOUCH_MODE_ENFORCE, {new_pub}), {old_key, new_key}),
                          "policy serial 6 active");
    std::vector<std::string> now;
    for (const auto &e : fs::directory_iterator(kKeys, ec))
        now.push_back(e.path().filename().string());
    if (!t.ok(rotated && now == std::vector<std::string>{want},
              "vouchd (the agent) rotates the keys: the keys directory holds %s alone",
              want.c_str()))
        t.diag_lines(d.output());
    auto serial = read_file(kState + "/policy-serial", 64);
    t.ok(serial && *serial == "6\n", "and commits serial 6 to %s/policy-serial", kState.c_str());

    // Inode flags by ioctl are not refused (README, Threat model): root
    // makes the serial immutable (chattr +i; a helper, busybox has none). What that gains is a
    // refusal of every new policy, naming the failed write; the active one and the serial stay.
    {
        Out i = sh(helper("setflags") + " +i " + kState + "/policy-serial");
        bool refused_7 =
            i.status == 0 && reload(sign_with(t, input(7, VOUCH_MODE_ENFORCE, {}), {new_key}),
                                    "policy-serial: Operation not permitted");
        Out u = sh(helper("setflags") + " -i " + kState + "/policy-serial");
        auto kept = read_file(kState + "/policy-serial", 64);
        if (!t.ok(refused_7 && u.status == 0 && kept && *kept == "6\n",
                  "root's chattr +i on the serial (not refused) only makes vouchd refuse serial 7, "
                  "naming the write; serial 6 stays"))
            t.diag_lines(i.text + u.text + d.output());
    }

    // umount -l /var (not refused) and a tmpfs with an empty state
    // directory in its place: vouchd does not commit the next serial there,
    // where the next boot would not find it.
    {
        Out u = sh("umount -l /var && mount -t tmpfs none /var && mkdir -p " + kState);
        bool kept = u.status == 0 &&
                    reload(sign_with(t, input(7, VOUCH_MODE_ENFORCE, {}), {new_key}),
                           "is no longer the directory vouch protects") &&
                    !fs::exists(kState + "/policy-serial");
        umount2("/var", MNT_DETACH);
        if (mount(ext4_var.c_str(), "/var", nullptr, MS_BIND, nullptr))
            t.bail("bind mount " + ext4_var + " on /var again: " + std::strerror(errno));
        if (!t.ok(kept, "after umount -l /var and a tmpfs there, vouchd refuses to commit serial 7 "
                        "into the new directory"))
            t.diag_lines(u.text + d.output());
    }

    // Audit mode protects nothing: the same commands succeed.
    bool audit =
        reload(sign_with(t, input(7, VOUCH_MODE_AUDIT, {}), {new_key}), "policy serial 7 active");
    if (!t.ok(audit, "an audit policy (serial 7, signed by the new key) is active"))
        t.diag_lines(d.output());
    const uint64_t audit_before = tamper_count();
    for (const auto &a : attacks(want)) {
        const std::string &cmd = a.audit.empty() ? a.enforce : a.audit;
        Out r = sh(cmd);
        // The serial's handle must really give a disconnected dentry (ext4
        // after drop_caches), or the enforce check above proved nothing.
        bool done = r.status == 0 && (cmd.find("openbyhandle write") == std::string::npos ||
                                      r.text.find("(disconnected)") != std::string::npos);
        if (!t.ok(done != flip, "audit: %s: done", a.name.c_str())) {
            t.diag("$ %s (exit %d)", cmd.c_str(), r.status);
            t.diag_lines(r.text);
        }
    }
    const uint64_t audit_after = tamper_count();
    t.ok(audit_after == audit_before, "audit mode counts no tamper denial (%llu -> %llu)",
         static_cast<unsigned long long>(audit_before),
         static_cast<unsigned long long>(audit_after));

    d.kill_it(SIGTERM);
    if (std::string why = switch_off(kPins); !why.empty())
        std::printf("# cleanup: %s\n", why.c_str());
    for (const char *m : {"/etc/vouch", "/var", kSrc.c_str(), kMnt.c_str()})
        umount2(m, MNT_DETACH);
    fs::remove_all(ext4_var, ec);
    fs::remove_all("/etc/vouch", ec);
    if (!had_var)
        fs::remove_all("/var", ec);
    fs::remove_all(kSrc, ec);
    fs::remove_all(kMnt, ec);
    fs::remove_all(kWork, ec);
    return t.finish();
}
