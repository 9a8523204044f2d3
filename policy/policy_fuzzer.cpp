// libFuzzer target for what reaches vouchd from outside: the DSSE envelope and
// the policy payload. The first input byte picks the mode:
//   0  the rest is an envelope, checked against the fixed test trust store;
//   1  the rest is a payload, parsed without a signature;
//   2  the rest is a payload, signed here with the Ed25519 test key and then
//      verified and parsed: reaches the payload parser through the real
//      envelope path, and checks that signing never changes the verdict.
// Built by `make fuzz` ($(O)/fuzz/policy_fuzzer) and run in `make check`.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

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
    switch (data[0] % 3) {
    case 0: {
        auto p = verify_and_parse(rest, f.keys);
        if (p)
            check(p->entries == p->digests.size() && !p->keyid.empty());
        break;
    }
    case 1: {
        auto p = parse_payload(rest);
        if (p) {
            check(p->entries == p->digests.size());
            check(p->agents.size() <= p->digests.size());
        }
        auto decoded = base64_decode(base64_encode(rest));
        check(decoded.ok() && *decoded == rest);
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
