// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for what reaches vouchd from outside: the DSSE envelope and
// the policy payload. The first input byte picks the mode:
//   0  the rest is an envelope, checked against the fixed test trust store;
//   1  the rest is a payload, parsed without a signature;
//   2  the rest is a payload, signed here with the Ed25519 test key and then
//      verified and parsed: reaches the payload parser through the real
//      envelope path, and checks that signing never changes the verdict.
//   3  the rest is a policy file for `policy diff|merge|make --base`
//      (read_document()): what it reads writes back to an equal document,
//      which vouchd accepts exactly when it accepts the one read;
//   4  the rest is a measurement log, binary or ASCII (`policy make
//      --from-log`): every entry is counted exactly once.
// Built by `make fuzz` ($(O)/fuzz/policy_fuzzer) and run in `make check`.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "lib/ima_log.h"
#include "policy/compose.h"
#include "policy/dsse.h"
#include "lib/file_io.h"
#include "policy/policy.h"

#ifndef VOUCH_SRC_DIR
#define VOUCH_SRC_DIR "."
#endif

namespace {

using namespace vouch::policy;

struct Fixture {
    TrustStore keys;
    SigningKey signer;
};

const Fixture &fixture() {
    static const Fixture f = [] {
        auto keys = TrustStore::load(VOUCH_SRC_DIR "/policy/test-keys/trusted");
        auto signer = SigningKey::load_file(VOUCH_SRC_DIR "/policy/test-keys/ed25519.key");
        if (!keys || !signer || keys->keys().empty())
            std::abort(); // a fuzzer without its keys would only exercise refusals
        return Fixture{std::move(*keys), std::move(*signer)};
    }();
    return f;
}

void check(bool ok) {
    if (!ok)
        std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    const Fixture &f = fixture();
    std::string_view rest(reinterpret_cast<const char *>(data) + 1, size - 1);
    switch (data[0] % 5) {
    case 0: {
        auto p = verify_and_parse(rest, f.keys);
        if (p)
            check(p->entries == p->digests.size() + p->verity.size() && !p->keyid.empty());
        break;
    }
    case 1: {
        auto p = parse_payload(rest);
        if (p) {
            check(p->entries == p->digests.size() + p->verity.size());
            check(p->agents.size() <= p->digests.size());
        }
        // The offline reader differs from vouchd's only by Keylime's fields
        // vouch cannot honour in enforce mode.
        auto content = parse_payload_content(rest);
        check(content.ok() || !p.ok());
        if (content && !p)
            check(content->mode == VOUCH_MODE_ENFORCE &&
                  (content->excludes || content->verification_keys));
        auto decoded = base64_decode(base64_encode(rest));
        check(decoded.ok() && *decoded == rest);
        break;
    }
    case 3: {
        auto d = read_document(rest);
        if (d) {
            std::string text = write_document(*d, "");
            check(parse_payload_content(text).ok());
            // Writing keeps the Keylime fields and the mode, so vouchd's
            // verdict on the document.
            check(parse_payload(text).ok() == parse_payload(d->payload).ok());
            auto again = read_document(text);
            check(again.ok() && again->serial == d->serial && again->digests == d->digests &&
                  again->agents == d->agents && again->verity == d->verity);
            // Writing adds the digests of vouch's own records to ima-buf
            // (they may be new); after that a round trip changes nothing.
            auto third = read_document(write_document(*again, ""));
            check(third.ok() && diff(*again, *third).empty());
        }
        break;
    }
    case 4: {
        auto entries =
            vouch::ima::parse_any({reinterpret_cast<const uint8_t *>(rest.data()), rest.size()});
        if (entries) {
            FromLog l = from_log(*entries);
            size_t other = 0, taken = 0;
            for (const auto &[algo, n] : l.other_algos)
                other += n;
            for (const auto &m : {l.digests, l.verity})
                for (const auto &[path, list] : m)
                    taken += list.size();
            check(l.entries == entries->size());
            check(l.violations + l.boot_aggregate + l.vouch_records + l.unknown + other + taken <=
                  l.entries);
            check(l.unique_digests <= taken);
        }
        break;
    }
    default: {
        auto env = sign_envelope(rest, f.signer);
        check(env.ok());
        auto signed_p = verify_and_parse(*env, f.keys);
        auto plain = parse_payload(rest);
        check(signed_p.ok() == plain.ok());
        if (plain) {
            check(signed_p->serial == plain->serial && signed_p->entries == plain->entries);
            check(signed_p->keyid == f.signer.keyid());
        } else {
            check(signed_p.error().code == plain.error().code);
        }
        break;
    }
    }
    return 0;
}
