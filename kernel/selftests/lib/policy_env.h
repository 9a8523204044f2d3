/* SPDX-License-Identifier: Apache-2.0 */
// Signed policies for the vouchd selftests, made in the VM from the files
// they name and signed with policy/test-keys.
#pragma once

#include <sys/stat.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "lib/digest.h"
#include "lib/file_io.h"
#include "policy/dsse.h"
#include "policy/make.h"
#include "policy/policy.h"
#include "kernel/selftests/lib/tap.h"
#include "kernel/selftests/lib/util.h"

namespace vouch::selftest {

inline std::string hex_of(Tap &t, const std::string &path) {
    return to_hex(digest_of(t, path).bytes);
}

// A policy allowing `allowed`, plus vouchd, `extra` and every library in the
// VM (a restarted vouchd must be allowed to start under the policy it
// enforces), with `agent` (the test itself) as agent.
inline policy::PolicyInput policy_input(Tap &t, uint64_t serial, vouch_mode mode,
                                        const std::vector<std::string> &allowed,
                                        const std::string &agent,
                                        const std::vector<std::string> &extra = {}) {
    policy::PolicyInput in;
    in.serial = serial;
    in.mode = mode;
    std::vector<std::string> roots = {"/usr/bin/vouchd"};
    roots.insert(roots.end(), extra.begin(), extra.end());
    for (const char *d : {"/lib", "/lib64", "/usr/lib/x86_64-linux-gnu"}) {
        struct stat st;
        if (lstat(d, &st) == 0 && S_ISDIR(st.st_mode))
            roots.push_back(d);
    }
    for (const auto &p : policy::collect_files(roots).files)
        in.digests[p] = {hex_of(t, p)};
    for (const auto &p : allowed)
        in.digests[p] = {hex_of(t, p)};
    in.agents[agent] = {hex_of(t, agent)};
    return in;
}

// `in` signed with each of `keys` (private key files), one signature each.
inline std::string sign_with(Tap &t, const policy::PolicyInput &in,
                             const std::vector<std::string> &keys) {
    std::vector<policy::SigningKey> loaded;
    for (const auto &key : keys) {
        auto k = policy::SigningKey::load_file(key);
        if (!k)
            t.bail(k.error().message);
        loaded.push_back(std::move(*k));
    }
    std::vector<const policy::SigningKey *> signers;
    for (const auto &k : loaded)
        signers.push_back(&k);
    auto env = policy::sign_envelope(policy::serialize(in), signers);
    if (!env)
        t.bail(env.error().message);
    return *env;
}

// The same, signed with `key`.
inline std::string signed_policy(Tap &t, uint64_t serial, vouch_mode mode,
                                 const std::vector<std::string> &allowed, const std::string &agent,
                                 const std::string &key,
                                 const std::vector<std::string> &extra = {}) {
    return sign_with(t, policy_input(t, serial, mode, allowed, agent, extra), {key});
}

// Writes a policy file as an operator would deploy it (atomically).
inline void install(Tap &t, const std::string &path, const std::string &bytes) {
    if (!write_file_atomic(path, bytes, 0644))
        t.bail("cannot write " + path);
}

} // namespace vouch::selftest
