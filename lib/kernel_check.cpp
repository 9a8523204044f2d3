// SPDX-License-Identifier: Apache-2.0
#include "lib/kernel_check.h"

#include <sys/utsname.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace vouch {

std::string_view builtin_kernel_contract() {
    static const char text[] =
#include "kernel_config.inc"
        ;
    return text;
}

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() &&
           (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
        s.remove_suffix(1);
    return s;
}

template <class F> void for_each_line(std::string_view text, F f) {
    size_t pos = 0;
    while (pos <= text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos)
            nl = text.size();
        f(text.substr(pos, nl - pos));
        pos = nl + 1;
    }
}

std::optional<std::string> read_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return std::nullopt;
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::optional<std::string> read_gzip(const std::string &path) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f)
        return std::nullopt;
    std::string out;
    char buf[1 << 14];
    int n;
    while ((n = gzread(f, buf, sizeof(buf))) > 0)
        out.append(buf, static_cast<size_t>(n));
    bool ok = n == 0;
    gzclose(f);
    if (!ok)
        return std::nullopt;
    return out;
}

bool list_has(std::string_view csv, std::string_view item) {
    size_t pos = 0;
    while (pos <= csv.size()) {
        size_t c = csv.find(',', pos);
        if (c == std::string_view::npos)
            c = csv.size();
        if (trim(csv.substr(pos, c - pos)) == item)
            return true;
        pos = c + 1;
    }
    return false;
}

// "6.1.0-56-amd64" -> {6, 1}
std::pair<int, int> version_of(const std::string &release) {
    int major = 0, minor = 0;
    std::sscanf(release.c_str(), "%d.%d", &major, &minor);
    return {major, minor};
}

// Since 6.9, IMA and EVM are LSMs of their own ("ima", "evm") and show in
// the active list; before, IMA came with "integrity", which the list does not
// show but lsm= must keep.
bool ima_is_lsm(const std::string &release) {
    auto [major, minor] = version_of(release);
    return major > 6 || (major == 6 && minor >= 9);
}

// The active list plus what vouch needs (IMA and bpf), keeping every LSM the
// machine already runs (AppArmor, SELinux, ...).
std::string suggested_lsm(std::string_view active, const std::string &release) {
    std::string out(trim(active));
    if (ima_is_lsm(release)) {
        if (!list_has(out, "ima"))
            out += ",ima";
    } else if (!list_has(out, "integrity")) {
        out += ",integrity";
    }
    if (!list_has(out, "bpf"))
        out += ",bpf";
    return out;
}

// The value of the last lsm= word of a kernel command line.
std::optional<std::string_view> last_lsm_param(std::string_view cmdline) {
    std::optional<std::string_view> out;
    size_t pos = 0;
    while (pos < cmdline.size()) {
        size_t end = cmdline.find_first_of(" \t\n", pos);
        if (end == std::string_view::npos)
            end = cmdline.size();
        std::string_view word = cmdline.substr(pos, end - pos);
        if (word.substr(0, 4) == "lsm=")
            out = word.substr(4);
        pos = end + 1;
    }
    return out;
}

// How to get `list` onto the next boot's command line, for the boot setups
// found on this machine.
std::string lsm_fix(const std::string &list, const KernelFacts &facts) {
    std::string param = "lsm=" + list;
    std::vector<std::string> ways;
    const BootConfig &b = facts.boot;
    if (b.update_grub && b.vouch_grub_dropin)
        ways.push_back("the vouch package's /etc/default/grub.d/vouch.cfg adds it to GRUB's "
                       "command line (computed by /usr/lib/vouch/lsm-cmdline): run update-grub "
                       "and reboot");
    else if (b.update_grub)
        ways.push_back("put " + param +
                       " in GRUB_CMDLINE_LINUX in /etc/default/grub (in place of any lsm= "
                       "there), run update-grub and reboot");
    if (b.kernel_cmdline)
        ways.push_back(
            "put " + param +
            " in /etc/kernel/cmdline (in place of any lsm= there), run kernel-install "
            "add " +
            facts.release + " " +
            (b.kernel_image.empty() ? "/boot/vmlinuz-" + facts.release : b.kernel_image) +
            " (which also rebuilds a unified kernel image) and reboot");
    if (b.grubby)
        ways.push_back("grubby --update-kernel=ALL --args=" + param + " and reboot");
    if (ways.empty())
        ways.push_back("add " + param +
                       " to the kernel command line in the boot loader's configuration and "
                       "reboot");
    std::string out = "boot with " + param + " (every LSM this kernel runs, plus bpf): ";
    for (size_t i = 0; i < ways.size(); ++i)
        out += (i ? "; or " : "") + ways[i];
    return out;
}

} // namespace

std::string lsm_list_with_bpf(std::string_view active, std::string_view cmdline,
                              const std::string &release) {
    std::string out;
    if (auto configured = last_lsm_param(cmdline))
        out = std::string(trim(*configured));
    else if (!trim(active).empty())
        out = suggested_lsm(active, release);
    else
        return "";
    if (!list_has(out, "bpf"))
        out += out.empty() ? "bpf" : ",bpf";
    return out;
}

Result<std::vector<KernelRequirement>> parse_kernel_contract(std::string_view text) {
    std::vector<KernelRequirement> out;
    std::string why;
    int lineno = 0;
    Error err;
    bool failed = false;
    for_each_line(text, [&](std::string_view raw) {
        ++lineno;
        std::string_view line = trim(raw);
        if (failed)
            return;
        if (line.empty()) {
            why.clear();
            return;
        }
        if (line.front() == '#') {
            line.remove_prefix(1);
            line = trim(line);
            if (!why.empty())
                why += ' ';
            why += line;
            return;
        }
        size_t eq = line.find('=');
        if (line.substr(0, 7) != "CONFIG_" || eq == std::string_view::npos) {
            err = make_error(EINVAL, "kernel contract line " + std::to_string(lineno) +
                                         ": expected CONFIG_NAME=value");
            failed = true;
            return;
        }
        out.push_back({std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)), why});
        why.clear();
    });
    if (failed)
        return err;
    return out;
}

std::map<std::string, std::string> parse_kconfig(std::string_view text) {
    std::map<std::string, std::string> out;
    for_each_line(text, [&](std::string_view raw) {
        std::string_view line = trim(raw);
        constexpr std::string_view unset_prefix = "# CONFIG_";
        constexpr std::string_view unset_suffix = " is not set";
        if (line.substr(0, unset_prefix.size()) == unset_prefix &&
            line.size() > unset_suffix.size() &&
            line.substr(line.size() - unset_suffix.size()) == unset_suffix) {
            out[std::string(line.substr(2, line.size() - 2 - unset_suffix.size()))] = "n";
            return;
        }
        if (line.substr(0, 7) != "CONFIG_")
            return;
        size_t eq = line.find('=');
        if (eq == std::string_view::npos)
            return;
        std::string value(line.substr(eq + 1));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
            value = value.substr(1, value.size() - 2);
        out[std::string(line.substr(0, eq))] = value;
    });
    return out;
}

std::vector<KernelFinding> live_kernel_findings(const KernelFacts &facts) {
    std::vector<KernelFinding> out;
    auto [major, minor] = version_of(facts.release);
    if (major < 5 || (major == 5 && minor < 18))
        out.push_back({"Linux " + facts.release +
                           " is older than 5.18, which added "
                           "bpf_ima_file_hash()",
                       "run Linux 5.18 or newer"});
    if (!facts.lsm_list)
        out.push_back({"the active LSM list is not readable (/sys/kernel/security/lsm)",
                       "mount securityfs (CONFIG_SECURITYFS=y): mount -t securityfs "
                       "securityfs /sys/kernel/security"});
    else if (!list_has(*facts.lsm_list, "bpf")) {
        std::string list = lsm_list_with_bpf(*facts.lsm_list, facts.cmdline, facts.release);
        out.push_back(
            {"`bpf` is not in the active LSM list (" + std::string(trim(*facts.lsm_list)) + ")",
             list.empty() ? "add bpf to the kernel's LSM list (CONFIG_LSM in its "
                            "configuration) with lsm= on the kernel command line"
                          : lsm_fix(list, facts)});
    }
    if (!facts.btf)
        out.push_back({"no kernel BTF at /sys/kernel/btf/vmlinux",
                       "build the kernel with CONFIG_DEBUG_INFO_BTF=y"});
    if (facts.lsm_list && !facts.ima_securityfs) {
        if (ima_is_lsm(facts.release) && !list_has(*facts.lsm_list, "ima"))
            out.push_back({"IMA is not active: `ima` is not in the active LSM list (" +
                               std::string(trim(*facts.lsm_list)) + ")",
                           "boot with lsm=" + suggested_lsm(*facts.lsm_list, facts.release) +
                               " (since Linux 6.9 IMA is an LSM of its own)"});
        else
            out.push_back({"IMA is not active (no /sys/kernel/security/ima)",
                           "build the kernel with CONFIG_IMA=y"});
    }
    return out;
}

std::vector<KernelFinding> check_kernel(const std::vector<KernelRequirement> &contract,
                                        const KernelFacts &facts) {
    std::vector<KernelFinding> out;
    if (facts.kconfig) {
        for (const auto &req : contract) {
            auto it = facts.kconfig->find(req.option);
            std::string have = it == facts.kconfig->end() ? "n" : it->second;
            if (have == req.value)
                continue;
            if (req.option == "CONFIG_IMA_DEFAULT_HASH_SHA256" &&
                facts.cmdline.find("ima_hash=sha256") != std::string::npos)
                continue;
            out.push_back({req.option + " is " + (have == "n" ? "not set" : have) + " in " +
                               facts.kconfig_source + " (" + req.why + ")",
                           "build the kernel with " + req.option + "=" + req.value +
                               " (kernel/config lists every option)"});
        }
    } else {
        out.push_back({"the kernel configuration is not readable (no /proc/config.gz, no "
                       "/boot/config-" +
                           facts.release + "); only live checks were made",
                       "install the kernel's config file or enable CONFIG_IKCONFIG_PROC"});
    }
    auto live = live_kernel_findings(facts);
    out.insert(out.end(), live.begin(), live.end());
    return out;
}

KernelFacts probe_running_kernel(const std::string &root) {
    KernelFacts f;
    struct utsname u {};
    if (uname(&u) == 0)
        f.release = u.release;
    if (auto c = read_gzip(root + "/proc/config.gz")) {
        f.kconfig = parse_kconfig(*c);
        f.kconfig_source = "/proc/config.gz";
    } else if (auto c2 = read_file(root + "/boot/config-" + f.release)) {
        f.kconfig = parse_kconfig(*c2);
        f.kconfig_source = "/boot/config-" + f.release;
    }
    f.lsm_list = read_file(root + "/sys/kernel/security/lsm");
    f.btf = static_cast<bool>(std::ifstream(root + "/sys/kernel/btf/vmlinux"));
    f.ima_securityfs = static_cast<bool>(
        std::ifstream(root + "/sys/kernel/security/ima/ascii_runtime_measurements"));
    if (auto c = read_file(root + "/proc/cmdline"))
        f.cmdline = *c;
    auto exists = [&](const std::string &path) { return access((root + path).c_str(), F_OK) == 0; };
    f.boot.update_grub = exists("/usr/sbin/update-grub");
    f.boot.vouch_grub_dropin = exists("/etc/default/grub.d/vouch.cfg");
    f.boot.kernel_cmdline = exists("/etc/kernel/cmdline");
    f.boot.grubby = exists("/usr/sbin/grubby");
    for (std::string image :
         {"/usr/lib/modules/" + f.release + "/vmlinuz", "/boot/vmlinuz-" + f.release})
        if (exists(image)) {
            f.boot.kernel_image = image;
            break;
        }
    return f;
}

} // namespace vouch
