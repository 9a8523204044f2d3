// vouchctl log --file / log verify: the measurement log read from its file,
// and replayed against the TPM. Works without vouchd running.
#include <getopt.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "lib/digest.h"
#include "lib/ima_log.h"
#include "lib/measurement_log.h"
#include "lib/parse.h"
#include "lib/tpm.h"

namespace {

constexpr const char *kDefaultLog = "/run/vouch/binary_runtime_measurements";

vouch::Result<std::vector<vouch::ima::Entry>> read_log(const std::string &path) {
    auto entries = vouch::read_binary_log(path);
    if (!entries && entries.error().code == ENOENT)
        return vouch::make_error(ENOENT, entries.error().message + " (is vouchd running?)");
    return entries;
}

std::string json_escape(const std::string &s) {
    std::string out;
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20) {
            char b[8];
            std::snprintf(b, sizeof(b), "\\u%04x", c);
            out += b;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

int print_log(const std::string &path, bool json) {
    auto entries = read_log(path);
    if (!entries) {
        std::fprintf(stderr, "vouchctl: %s\n", entries.error().message.c_str());
        return 1;
    }
    if (!json) {
        for (const auto &e : *entries)
            std::fputs(vouch::ima::encode_ascii(e).c_str(), stdout);
        return 0;
    }
    std::printf("[");
    for (size_t i = 0; i < entries->size(); ++i) {
        const auto &e = (*entries)[i];
        std::printf("%s\n  {\"index\": %zu, \"pcr\": %u, \"template_hash\": \"%s\", \"template\": "
                    "\"%s\", \"digest\": \"%s:%s\", \"path\": \"%s\", \"signature\": \"%s\", "
                    "\"violation\": %s}",
                    i ? "," : "", i, e.pcr, vouch::to_hex(e.template_sha1).c_str(),
                    json_escape(e.template_name).c_str(), json_escape(e.algo).c_str(),
                    vouch::to_hex(e.file_digest).c_str(), json_escape(e.path).c_str(),
                    vouch::to_hex(e.sig).c_str(), e.violation ? "true" : "false");
    }
    std::printf("%s]\n", entries->empty() ? "" : "\n");
    return 0;
}

int verify(const std::string &path, const std::string &tcti, long pcr_opt) {
    auto entries = read_log(path);
    if (!entries) {
        std::fprintf(stderr, "vouchctl: %s\n", entries.error().message.c_str());
        return 1;
    }
    uint32_t pcr =
        pcr_opt >= 0 ? static_cast<uint32_t>(pcr_opt) : (entries->empty() ? 10 : (*entries)[0].pcr);
    std::vector<vouch::ima::Entry> on_pcr;
    for (const auto &e : *entries)
        if (e.pcr == pcr)
            on_pcr.push_back(e);
    auto tpm = vouch::Tpm::open(tcti);
    if (!tpm) {
        std::fprintf(stderr, "vouchctl: %s\n", tpm.error().message.c_str());
        return 1;
    }
    auto banks = (*tpm)->allocated_banks(pcr);
    if (!banks) {
        std::fprintf(stderr, "vouchctl: %s\n", banks.error().message.c_str());
        return 1;
    }
    int bad = 0;
    std::string ok_banks;
    for (uint16_t b : *banks) {
        const char *md = vouch::bank_md_name(b);
        if (!md)
            continue;
        auto value = (*tpm)->read_pcr(pcr, b);
        if (!value) {
            std::fprintf(stderr, "vouchctl: %s\n", value.error().message.c_str());
            return 1;
        }
        long p = vouch::matching_prefix(on_pcr, pcr, md, *value);
        if (p == static_cast<long>(on_pcr.size())) {
            ok_banks += ok_banks.empty() ? md : std::string(", ") + md;
            continue;
        }
        ++bad;
        if (p < 0) {
            std::printf("PCR %u (%s bank) = %s: no prefix of the log replays to it, so the log "
                        "already disagrees at its first entry (%s): the PCR holds extends the "
                        "log does not show\n",
                        pcr, md, vouch::to_hex(*value).c_str(),
                        on_pcr.empty() ? "none" : on_pcr[0].path.c_str());
        } else {
            const auto &e = on_pcr[static_cast<size_t>(p)];
            std::printf("PCR %u (%s bank): the TPM holds the first %ld of %zu entries; entry %ld "
                        "(%s %s) is the first that disagrees (entries still queued in vouchd "
                        "look the same: retry once PendingExtends is 0)\n",
                        pcr, md, p, on_pcr.size(), p + 1,
                        e.violation ? "violation"
                                    : (e.algo + ":" + vouch::to_hex(e.file_digest)).c_str(),
                        e.path.c_str());
        }
    }
    if (bad)
        return 1;
    if (ok_banks.empty()) {
        std::printf("PCR %u is allocated in no bank vouchctl can compute\n", pcr);
        return 1;
    }
    std::printf("log verified: %zu entries on PCR %u replay to the TPM's %s bank%s\n",
                on_pcr.size(), pcr, ok_banks.c_str(),
                ok_banks.find(',') == std::string::npos ? "" : "s");
    return 0;
}

} // namespace

// vouchctl log [verify] [--file PATH] [--json] [--tcti SPEC] [--pcr N]
int vouchctl_log(int argc, char **argv) {
    bool do_verify = argc > 1 && std::strcmp(argv[1], "verify") == 0;
    if (do_verify) {
        --argc;
        ++argv;
    }
    static const option opts[] = {
        {"file", required_argument, nullptr, 'f'}, {"json", no_argument, nullptr, 'j'},
        {"tcti", required_argument, nullptr, 't'}, {"pcr", required_argument, nullptr, 'p'},
        {"help", no_argument, nullptr, 'h'},       {nullptr, 0, nullptr, 0},
    };
    std::string file = kDefaultLog, tcti = vouch::Tpm::kDefaultTcti;
    bool json = false;
    long pcr = -1;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, nullptr)) != -1) {
        switch (c) {
        case 'f':
            file = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 't':
            tcti = optarg;
            break;
        case 'p': {
            uint64_t n = 0;
            if (!vouch::parse_uint(optarg, 23, &n)) {
                std::fprintf(stderr,
                             "vouchctl log: --pcr must be a PCR index from 0 to 23, not '%s'\n",
                             optarg);
                return 2;
            }
            pcr = static_cast<long>(n);
            break;
        }
        case 'h':
            std::printf("Usage: vouchctl log [--file PATH] [--json]\n"
                        "       vouchctl log verify [--file PATH] [--tcti SPEC] [--pcr N]\n"
                        "\n"
                        "Print the measurement log (default %s) in IMA's ASCII form or\n"
                        "as JSON; `verify` replays it against the TPM's PCR in every bank and\n"
                        "names the first entry that disagrees.\n",
                        kDefaultLog);
            return 0;
        default:
            return 2;
        }
    }
    return do_verify ? verify(file, tcti, pcr) : print_log(file, json);
}
