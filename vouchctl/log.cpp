// SPDX-License-Identifier: Apache-2.0
// vouchctl log --file / log verify: the measurement log read from its file,
// and replayed against the TPM. Works without vouchd running.
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/digest.h"
#include "lib/file_io.h"
#include "lib/ima_log.h"
#include "lib/kernel_log.h"
#include "lib/measurement_log.h"
#include "lib/log_record.h"
#include "lib/tpm.h"
#include "lib/utf8.h"
#include "vouchctl/bus.h"
#include "vouchctl/commands.h"
#include "vouchctl/log_output.h"
#include "lib/vouch_records.h"
#include "policy/policy.h"

namespace vouch::ctl {

namespace {

using Json = nlohmann::ordered_json;

Result<std::vector<ima::Entry>> read_log(const std::string &path) {
    auto entries = read_binary_log(path);
    if (!entries && entries.error().code == ENOENT)
        return make_error(ENOENT, entries.error().message + " (is vouchd running?)");
    return entries;
}

// Entries [first, first + count) of the log file at `path`, through the same
// writers as the log from vouchd.
Exit print_log_file(const std::string &path, uint64_t first, uint64_t count, bool json) {
    auto entries = read_log(path);
    if (!entries) {
        std::fprintf(stderr, "vouchctl: %s\n", entries.error().message.c_str());
        return Exit::Failure;
    }
    std::optional<LogJsonWriter> writer;
    if (json)
        writer.emplace(stdout);
    for (uint64_t i = first; i < entries->size() && i - first < count; ++i) {
        LogRecord r = log_record((*entries)[i], i);
        if (writer)
            writer->add(r);
        else
            std::fputs(log_ascii(r, ::isatty(STDOUT_FILENO)).c_str(), stdout);
    }
    return Exit::Ok;
}

// What vouch's own records (lib/vouch_records.h) in a log that replays
// prove, one line each (or one JSON object each into *out), entries numbered
// as `vouchctl log` numbers them. Returns the index of the last vouch-policy
// record and its envelope field ("sha256:HEX"), or -1.
long print_records(const std::vector<ima::Entry> &entries, uint32_t pcr, std::string *last_env,
                   Json *out) {
    long last = -1;
    for (size_t i = 0; i < entries.size(); ++i) {
        const auto &e = entries[i];
        if (e.template_name != ima::kImaBuf || e.pcr != pcr)
            continue;
        std::string text(e.buf.begin(), e.buf.end());
        Json r = {{"entry", i}};
        if (e.path == records::kPolicy) {
            // "serial=N mode=M envelope=sha256:HEX"
            std::string serial, mode, envelope;
            size_t pos = 0;
            while (pos < text.size()) {
                size_t sp = text.find(' ', pos);
                std::string kv = text.substr(pos, sp == std::string::npos ? sp : sp - pos);
                pos = sp == std::string::npos ? text.size() : sp + 1;
                size_t eq = kv.find('=');
                std::string k = kv.substr(0, eq),
                            v = eq == std::string::npos ? "" : kv.substr(eq + 1);
                (k == "serial" ? serial : k == "mode" ? mode : k == "envelope" ? envelope : k) = v;
            }
            r["record"] = "policy";
            r["serial"] = printable(serial);
            r["mode"] = printable(mode);
            r["envelope"] = printable(envelope);
            if (!out)
                std::printf("policy serial %s (%s) active from entry %zu (envelope %s)\n",
                            printable(serial).c_str(), printable(mode).c_str(), i,
                            printable(envelope).c_str());
            last = static_cast<long>(i);
            *last_env = envelope;
        } else if (e.path == records::kMeasureStart) {
            r["record"] = "measure-start";
            r["detail"] = printable(text);
            if (!out)
                std::printf("entry %zu: measuring started (%s)\n", i, printable(text).c_str());
        } else if (e.path == records::kVouchdStart) {
            r["record"] = "vouchd-start";
            if (!out)
                std::printf("entry %zu: vouchd started\n", i);
        } else if (e.path == records::kVouchdStop) {
            r["record"] = "vouchd-stop";
            if (!out)
                std::printf("entry %zu: vouchd stopped\n", i);
        } else {
            continue;
        }
        if (out)
            out->push_back(std::move(r));
    }
    return last;
}

// The foreign_extends file beside a log file.
std::string foreign_beside(const std::string &log) {
    size_t slash = log.rfind('/');
    return (slash == std::string::npos ? std::string() : log.substr(0, slash + 1)) +
           "foreign_extends";
}

// With `json`, one JSON object on stdout instead of the text (errors that
// stop the replay still go to stderr): what replayed, per bank, the foreign
// extends, the records and the --envelope check.
Exit verify(const std::string &path, const std::string &tcti, std::optional<uint32_t> pcr_opt,
            const std::string &foreign_path, const std::string &envelope, bool json) {
    std::string want_env;
    if (!envelope.empty()) {
        auto bytes = read_file(envelope, policy::kMaxEnvelopeBytes);
        if (!bytes) {
            std::fprintf(stderr, "vouchctl: %s\n", bytes.error().message.c_str());
            return Exit::BadInput;
        }
        want_env =
            "sha256:" +
            to_hex(sha256_bytes({reinterpret_cast<const uint8_t *>(bytes->data()), bytes->size()}));
    }
    auto entries = read_log(path);
    if (!entries) {
        std::fprintf(stderr, "vouchctl: %s\n", entries.error().message.c_str());
        return Exit::Failure;
    }
    // Extends of the kernel's IMA that vouchd could not put into the log in
    // place: replayed where they fell.
    auto foreign = read_foreign(foreign_path);
    if (!foreign) {
        std::fprintf(stderr, "vouchctl: %s\n", foreign.error().message.c_str());
        return Exit::Failure;
    }
    uint32_t pcr = pcr_opt ? *pcr_opt : (entries->empty() ? 10 : (*entries)[0].pcr);
    std::vector<ima::Entry> on_pcr;
    for (const auto &e : *entries)
        if (e.pcr == pcr)
            on_pcr.push_back(e);
    if (!foreign->empty())
        on_pcr = with_foreign(on_pcr, *foreign);
    auto tpm = Tpm::open(tcti);
    if (!tpm) {
        std::fprintf(stderr, "vouchctl: %s\n", tpm.error().message.c_str());
        return Exit::Failure;
    }
    auto banks = (*tpm)->allocated_banks(pcr);
    if (!banks) {
        std::fprintf(stderr, "vouchctl: %s\n", banks.error().message.c_str());
        return Exit::Failure;
    }
    Json report = {{"log", path},
                   {"pcr", pcr},
                   {"entries", on_pcr.size() - foreign->size()},
                   {"verified", false},
                   {"banks", Json::array()},
                   {"foreign", Json::array()},
                   {"records", Json::array()}};
    auto finish = [&](Exit rc) {
        if (json) {
            report["verified"] = rc == Exit::Ok;
            std::printf("%s\n", report.dump(2).c_str());
        }
        return rc;
    };
    for (const auto &f : *foreign)
        report["foreign"].push_back(describe_foreign(f));
    int bad = 0;
    std::string ok_banks;
    for (uint16_t b : *banks) {
        const char *md = bank_md_name(b);
        if (!md)
            continue;
        auto value = (*tpm)->read_pcr(pcr, b);
        if (!value) {
            std::fprintf(stderr, "vouchctl: %s\n", value.error().message.c_str());
            return Exit::Failure;
        }
        long p = matching_prefix(on_pcr, pcr, md, *value);
        Json bank = {{"bank", md}, {"pcr_value", to_hex(*value)}};
        if (p == static_cast<long>(on_pcr.size())) {
            ok_banks += ok_banks.empty() ? md : std::string(", ") + md;
            bank["replays"] = true;
            report["banks"].push_back(std::move(bank));
            continue;
        }
        ++bad;
        bank["replays"] = false;
        // Entries the TPM holds, as a prefix of the log: -1 when none.
        bank["matching_prefix"] = p;
        if (p < 0) {
            if (!json)
                std::printf("PCR %u (%s bank) = %s: no prefix of the log replays to it, so the "
                            "log already disagrees at its first entry (%s): the PCR holds "
                            "extends the log does not show\n",
                            pcr, md, to_hex(*value).c_str(),
                            on_pcr.empty() ? "none" : printable(on_pcr[0].path).c_str());
        } else {
            const auto &e = on_pcr[static_cast<size_t>(p)];
            std::string what = e.violation ? "violation" : (e.algo + ":" + to_hex(e.file_digest));
            bank["first_disagreeing"] = {
                {"entry", p + 1}, {"digest", what}, {"path", printable(e.path)}};
            if (!json)
                std::printf("PCR %u (%s bank): the TPM holds the first %ld of %zu entries; entry "
                            "%ld (%s %s) is the first that disagrees (entries still queued in "
                            "vouchd look the same: retry once PendingExtends is 0)\n",
                            pcr, md, p, on_pcr.size(), p + 1, what.c_str(),
                            printable(e.path).c_str());
        }
        report["banks"].push_back(std::move(bank));
    }
    if (bad)
        return finish(Exit::Failure);
    if (ok_banks.empty()) {
        if (!json)
            std::printf("PCR %u is allocated in no bank vouchctl can compute\n", pcr);
        return finish(Exit::Failure);
    }
    if (json) {
        // The text below, as fields.
    } else if (foreign->empty()) {
        std::printf("log verified: %zu entries on PCR %u replay to the TPM's %s bank%s\n",
                    on_pcr.size(), pcr, ok_banks.c_str(),
                    ok_banks.find(',') == std::string::npos ? "" : "s");
    } else {
        std::printf("log verified with %zu foreign extend%s: %zu entries on PCR %u and the "
                    "extends recorded in %s replay to the TPM's %s bank%s; the log alone does "
                    "not:\n",
                    foreign->size(), foreign->size() == 1 ? "" : "s",
                    on_pcr.size() - foreign->size(), pcr, foreign_path.c_str(), ok_banks.c_str(),
                    ok_banks.find(',') == std::string::npos ? "" : "s");
        for (const auto &f : *foreign)
            std::printf("  %s\n", describe_foreign(f).c_str());
    }
    std::string last_env;
    long last = print_records(*entries, pcr, &last_env, json ? &report["records"] : nullptr);
    if (!envelope.empty()) {
        report["envelope"] = {{"file", envelope}, {"digest", want_env}};
        if (last < 0) {
            report["envelope"]["last_activated"] = false;
            if (!json)
                std::printf("%s: the log records no policy activation\n", envelope.c_str());
            return finish(Exit::Failure);
        }
        report["envelope"]["last_policy_entry"] = last;
        if (last_env != want_env) {
            report["envelope"]["last_activated"] = false;
            if (!json)
                std::printf("%s (%s) is not the last policy activated: entry %ld names "
                            "envelope %s\n",
                            envelope.c_str(), want_env.c_str(), last, printable(last_env).c_str());
            return finish(Exit::Failure);
        }
        report["envelope"]["last_activated"] = true;
        if (!json)
            std::printf("%s is the last policy activated (entry %ld)\n", envelope.c_str(), last);
    }
    return finish(Exit::Ok);
}

} // namespace

Exit cmd_log(const Command &self, int argc, char **argv) {
    enum : int { kFile = 300, kJson, kFirst, kCount };
    std::optional<std::string> file;
    bool json = false;
    uint64_t first = 0, count = UINT64_MAX;
    BusTarget bus;
    std::vector<Option> opts = {{"file", required_argument, kFile},
                                {"json", no_argument, kJson},
                                {"first", required_argument, kFirst},
                                {"count", required_argument, kCount}};
    for (const auto &o : bus_options())
        opts.push_back(o);
    auto p = parse_options(argc, argv, opts, [&](int id, const char *v) -> Result<void> {
        switch (id) {
        case kFile:
            file = v;
            return {};
        case kJson:
            json = true;
            return {};
        case kFirst:
        case kCount: {
            auto n = parse_number(id == kFirst ? "--first" : "--count", v, 0, UINT64_MAX);
            if (!n)
                return n.error();
            (id == kFirst ? first : count) = *n;
            return {};
        }
        }
        take_bus_option(&bus, id, v);
        return {};
    });
    if (auto e = settle_options(self, p, 0, 0, "takes no arguments ('log verify' replays the log)"))
        return *e;
    if (file && bus.given)
        return usage_error(self, "--file reads a file, so the bus options do not apply");
    return file ? print_log_file(*file, first, count, json)
                : print_log_from_bus(bus, first, count, json);
}

Exit cmd_log_verify(const Command &self, int argc, char **argv) {
    enum : int { kFile = 300, kTcti, kPcr, kForeign, kEnvelope, kJson };
    std::string file = kDefaultLog, tcti = Tpm::kDefaultTcti, envelope;
    bool json = false;
    std::optional<std::string> foreign;
    std::optional<uint32_t> pcr;
    auto on_option = [&](int id, const char *v) -> Result<void> {
        switch (id) {
        case kFile:
            file = v;
            return {};
        case kForeign:
            foreign = v;
            return {};
        case kTcti:
            tcti = v;
            return {};
        case kEnvelope:
            envelope = v;
            return {};
        case kJson:
            json = true;
            return {};
        }
        auto n = parse_number("--pcr", v, 0, 23);
        if (!n)
            return n.error();
        pcr = uint32_t(*n);
        return {};
    };
    auto p = parse_options(argc, argv,
                           {{"file", required_argument, kFile},
                            {"tcti", required_argument, kTcti},
                            {"pcr", required_argument, kPcr},
                            {"foreign", required_argument, kForeign},
                            {"envelope", required_argument, kEnvelope},
                            {"json", no_argument, kJson}},
                           on_option);
    if (auto e = settle_options(self, p, 0, 0, "takes no arguments"))
        return *e;
    return verify(file, tcti, pcr, foreign ? *foreign : foreign_beside(file), envelope, json);
}

} // namespace vouch::ctl
