// SPDX-License-Identifier: Apache-2.0
// vouchctl denials: reads vouchd's denied and would-deny records from the
// system journal (sd-journal) and prints them grouped by file.
#include "vouchctl/denials.h"

#include <systemd/sd-id128.h>
#include <unistd.h>
#include <systemd/sd-journal.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "lib/journal_fields.h"
#include "lib/parse.h"
#include "lib/utf8.h"
#include "vouchctl/commands.h"

namespace vouch::ctl {

namespace {

constexpr uint64_t kUsecPerSec = 1000000;

// Local midnight of the day `days` after today's.
uint64_t local_midnight(time_t now, int days) {
    std::tm tm{};
    localtime_r(&now, &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_mday += days;
    tm.tm_isdst = -1;
    return static_cast<uint64_t>(std::mktime(&tm)) * kUsecPerSec;
}

std::string utc_iso(uint64_t usec) {
    time_t t = static_cast<time_t>(usec / kUsecPerSec);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

template <class T> std::string join(const std::vector<T> &v) {
    std::string s;
    for (const auto &x : v) {
        if (!s.empty())
            s += ',';
        if constexpr (std::is_same_v<T, std::string>)
            s += x;
        else
            s += std::to_string(x);
    }
    return s.empty() ? "-" : s;
}

} // namespace

std::vector<DenialGroup> group_denials(const std::vector<DenialRecord> &records) {
    std::map<std::tuple<std::string, std::string, bool>, DenialGroup> by_key;
    std::map<std::tuple<std::string, std::string, bool>,
             std::pair<std::set<uint32_t>, std::set<std::string>>>
        sets;
    for (const auto &r : records) {
        auto key = std::make_tuple(r.path, r.digest, r.would);
        auto [it, fresh] = by_key.try_emplace(key);
        DenialGroup &g = it->second;
        if (fresh) {
            g.would = r.would;
            g.path = r.path;
            g.digest = r.digest;
            g.first_usec = g.last_usec = r.usec;
        }
        ++g.count;
        g.first_usec = std::min(g.first_usec, r.usec);
        g.last_usec = std::max(g.last_usec, r.usec);
        auto &[uids, hooks] = sets[key];
        if (r.uid)
            uids.insert(*r.uid);
        if (!r.hook.empty())
            hooks.insert(r.hook);
    }
    std::vector<DenialGroup> out;
    for (auto &[key, g] : by_key) {
        auto &[uids, hooks] = sets[key];
        g.uids.assign(uids.begin(), uids.end());
        g.hooks.assign(hooks.begin(), hooks.end());
        out.push_back(std::move(g));
    }
    // by_key's order (path, digest, kind) breaks ties: a stable sort keeps it.
    std::stable_sort(out.begin(), out.end(), [](const DenialGroup &a, const DenialGroup &b) {
        return a.last_usec < b.last_usec;
    });
    return out;
}

Result<Since> parse_since(const std::string &text, uint64_t now_usec) {
    auto bad = [&] {
        return make_error(EINVAL, "--since: '" + text +
                                      "' is not a time: YYYY-MM-DD [HH:MM[:SS]], @SECONDS, -N "
                                      "followed by s, m, h or d, today, yesterday or boot");
    };
    time_t now = static_cast<time_t>(now_usec / kUsecPerSec);
    if (text == "boot")
        return Since{true, 0};
    if (text == "today")
        return Since{false, local_midnight(now, 0)};
    if (text == "yesterday")
        return Since{false, local_midnight(now, -1)};
    if (text.size() >= 2 && (text[0] == '-' || text[0] == '@')) {
        std::string digits = text.substr(1);
        uint64_t unit = kUsecPerSec;
        if (text[0] == '-') {
            static const std::map<char, uint64_t> units = {
                {'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
            auto u = units.find(digits.back());
            if (u == units.end())
                return bad();
            unit = u->second * kUsecPerSec;
            digits.pop_back();
        }
        uint64_t n = 0;
        if (!parse_uint(digits, UINT64_MAX / unit, &n))
            return bad();
        if (text[0] == '@')
            return Since{false, n * unit};
        return Since{false, n * unit > now_usec ? 0 : now_usec - n * unit};
    }
    for (const char *format : {"%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"}) {
        std::tm tm{};
        const char *end = strptime(text.c_str(), format, &tm);
        if (!end || *end)
            continue;
        tm.tm_isdst = -1;
        time_t t = std::mktime(&tm);
        if (t < 0)
            return bad();
        return Since{false, static_cast<uint64_t>(t) * kUsecPerSec};
    }
    return bad();
}

std::string local_time(uint64_t usec) {
    time_t t = static_cast<time_t>(usec / kUsecPerSec);
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

std::string denial_line(const DenialGroup &g) {
    return std::string(g.would ? "would-deny" : "denied    ") + " " + std::to_string(g.count) +
           "x " + local_time(g.first_usec) + " .. " + local_time(g.last_usec) +
           " uid=" + join(g.uids) + " hook=" + join(g.hooks) + " " + printable(g.path) + " " +
           (g.digest.empty() ? "-" : g.digest) + "\n";
}

std::string denial_json(const DenialGroup &g) {
    nlohmann::ordered_json j;
    j["kind"] = g.would ? "would-deny" : "denied";
    j["path"] = utf8_safe(g.path);
    j["digest"] = utf8_safe(g.digest);
    j["count"] = g.count;
    j["first"] = utc_iso(g.first_usec);
    j["last"] = utc_iso(g.last_usec);
    j["first_usec"] = g.first_usec;
    j["last_usec"] = g.last_usec;
    j["uids"] = g.uids;
    nlohmann::ordered_json hooks = nlohmann::ordered_json::array();
    for (const auto &h : g.hooks)
        hooks.push_back(utf8_safe(h));
    j["hooks"] = hooks;
    return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

namespace {

struct JournalClose {
    void operator()(sd_journal *j) const { sd_journal_close(j); }
};
using JournalPtr = std::unique_ptr<sd_journal, JournalClose>;

// The value of FIELD in the current entry, if it has one.
std::optional<std::string> field(sd_journal *j, const char *name) {
    const void *data = nullptr;
    size_t len = 0;
    if (sd_journal_get_data(j, name, &data, &len) < 0)
        return std::nullopt;
    std::string_view s(static_cast<const char *>(data), len);
    size_t eq = s.find('=');
    if (eq == std::string_view::npos)
        return std::nullopt;
    return std::string(s.substr(eq + 1));
}

Result<std::vector<DenialRecord>> read_journal(const Since &since, bool bounded) {
    sd_journal *raw = nullptr;
    int r = sd_journal_open(&raw, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM);
    if (r < 0)
        return make_error(r, "opening the system journal: " + errno_message(r));
    JournalPtr j(raw);
    // Matches on one field are alternatives; a match on another field must
    // hold as well.
    for (const char *id : {journal::kDenied, journal::kWouldDeny}) {
        std::string m = std::string("MESSAGE_ID=") + id;
        if ((r = sd_journal_add_match(j.get(), m.c_str(), 0)) < 0)
            return make_error(r, "journal match: " + errno_message(r));
    }
    if (since.boot) {
        sd_id128_t boot;
        if ((r = sd_id128_get_boot(&boot)) < 0)
            return make_error(r, "the boot id: " + errno_message(r));
        char id[SD_ID128_STRING_MAX];
        std::string m = std::string("_BOOT_ID=") + sd_id128_to_string(boot, id);
        if ((r = sd_journal_add_match(j.get(), m.c_str(), 0)) < 0)
            return make_error(r, "journal match: " + errno_message(r));
    }
    r = bounded && !since.boot ? sd_journal_seek_realtime_usec(j.get(), since.usec)
                               : sd_journal_seek_head(j.get());
    if (r < 0)
        return make_error(r, "journal seek: " + errno_message(r));
    std::vector<DenialRecord> out;
    while ((r = sd_journal_next(j.get())) > 0) {
        uint64_t usec = 0;
        if (sd_journal_get_realtime_usec(j.get(), &usec) < 0)
            continue;
        if (bounded && !since.boot && usec < since.usec)
            continue;
        auto id = field(j.get(), "MESSAGE_ID");
        if (!id)
            continue;
        DenialRecord rec;
        rec.would = *id == journal::kWouldDeny;
        rec.usec = usec;
        rec.path = field(j.get(), journal::kPath).value_or("");
        rec.digest = field(j.get(), journal::kDigest).value_or("");
        rec.hook = field(j.get(), journal::kHook).value_or("");
        uint64_t uid = 0;
        if (auto u = field(j.get(), journal::kUid); u && parse_uint(*u, UINT32_MAX, &uid))
            rec.uid = static_cast<uint32_t>(uid);
        out.push_back(std::move(rec));
    }
    if (r < 0)
        return make_error(r, "reading the journal: " + errno_message(r));
    return out;
}

} // namespace

Exit cmd_denials(const Command &self, int argc, char **argv) {
    enum { kSince = 300, kJson };
    std::optional<std::string> since_text;
    bool as_json = false;
    auto p = parse_options(argc, argv,
                           {{"since", required_argument, kSince}, {"json", no_argument, kJson}},
                           [&](int id, const char *v) -> Result<void> {
                               if (id == kSince)
                                   since_text = v;
                               else
                                   as_json = true;
                               return {};
                           });
    if (auto e = settle_options(self, p, 0, 0, "takes no arguments"))
        return *e;
    Since since;
    if (since_text) {
        timespec now{};
        clock_gettime(CLOCK_REALTIME, &now);
        auto s = parse_since(*since_text, static_cast<uint64_t>(now.tv_sec) * kUsecPerSec +
                                              static_cast<uint64_t>(now.tv_nsec) / 1000);
        if (!s)
            return usage_error(self, s.error().message);
        since = *s;
    }
    auto records = read_journal(since, since_text.has_value());
    if (!records) {
        std::fprintf(stderr, "vouchctl denials: %s\n", records.error().message.c_str());
        return records.error().code == EACCES || records.error().code == EPERM ? Exit::Denied
                                                                               : Exit::Failure;
    }
    auto groups = group_denials(*records);
    for (const auto &g : groups) {
        std::string line = as_json ? denial_json(g) + "\n" : denial_line(g);
        std::fwrite(line.data(), 1, line.size(), stdout);
    }
    std::fflush(stdout);
    if (groups.empty())
        std::fprintf(stderr, "vouchctl denials: no denied or would-deny records%s\n",
                     ::geteuid() == 0 ? ""
                                      : " (reading the system journal needs root or "
                                        "group adm or systemd-journal)");
    return Exit::Ok;
}

} // namespace vouch::ctl
