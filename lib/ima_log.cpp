// SPDX-License-Identifier: Apache-2.0
#include "lib/ima_log.h"

#include <algorithm>

#include <cstring>
#include <memory>
#include <optional>

#include <openssl/evp.h>

#include "lib/digest.h"

namespace vouch::ima {

namespace {

// Bounds for untrusted logs: far above what the kernel writes.
constexpr uint32_t kMaxNameLen = 255;
constexpr uint32_t kMaxDataLen = 1u << 20;
constexpr uint32_t kMaxDigestLen = 64;

void put_u32(std::vector<uint8_t> &out, uint32_t v) {
    // native endian, like the kernel's log; resize + memcpy rather than
    // insert, which g++ 12 -O2 misreads as an overflow (-Wstringop-overflow)
    size_t at = out.size();
    out.resize(at + 4);
    std::memcpy(out.data() + at, &v, 4);
}

void put_field(std::vector<uint8_t> &out, std::span<const uint8_t> data) {
    put_u32(out, static_cast<uint32_t>(data.size()));
    out.insert(out.end(), data.begin(), data.end());
}

std::span<const uint8_t> bytes_of(const std::string &s, bool with_nul) {
    return {reinterpret_cast<const uint8_t *>(s.c_str()), s.size() + (with_nul ? 1 : 0)};
}

class Reader {
  public:
    explicit Reader(std::span<const uint8_t> b) : b_(b) {}
    bool done() const { return pos_ == b_.size(); }
    size_t pos() const { return pos_; }
    bool u32(uint32_t &v) {
        if (b_.size() - pos_ < 4)
            return false;
        std::memcpy(&v, b_.data() + pos_, 4);
        pos_ += 4;
        return true;
    }
    bool take(size_t n, std::span<const uint8_t> &out) {
        if (b_.size() - pos_ < n)
            return false;
        out = b_.subspan(pos_, n);
        pos_ += n;
        return true;
    }

  private:
    std::span<const uint8_t> b_;
    size_t pos_ = 0;
};

bool is_zero(std::span<const uint8_t> b) {
    for (uint8_t x : b)
        if (x)
            return false;
    return true;
}

// Splits d-ng (or d-ngv2) / n-ng / sig (ima-buf: buf) out of the template
// data of ima-ng, ima-sig, their v2 forms and ima-buf.
bool parse_fields(Entry &e) {
    Reader r(e.template_data);
    std::span<const uint8_t> d, n, s;
    uint32_t len;
    if (!r.u32(len) || !r.take(len, d) || !r.u32(len) || !r.take(len, n))
        return false;
    const bool buf = e.template_name == kImaBuf;
    if ((buf || has_sig(e.template_name)) && (!r.u32(len) || !r.take(len, s)))
        return false;
    if (!r.done())
        return false;
    // d-ng: "algo" ':' NUL digest; d-ngv2: "type" ':' "algo" ':' NUL digest
    const uint8_t *nul = static_cast<const uint8_t *>(std::memchr(d.data(), 0, d.size()));
    if (!nul || nul == d.data() || nul[-1] != ':')
        return false;
    const uint8_t *colon = nul - 1;
    e.algo.assign(reinterpret_cast<const char *>(d.data()), colon - d.data());
    size_t off = colon - d.data() + 2;
    if (d.size() - off > kMaxDigestLen)
        return false;
    e.file_digest.assign(d.begin() + off, d.end());
    // n-ng: path NUL
    if (n.empty() || n.back() != 0)
        return false;
    e.path.assign(reinterpret_cast<const char *>(n.data()), n.size() - 1);
    (buf ? e.buf : e.sig).assign(s.begin(), s.end());
    return true;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool from_hex(std::string_view hex, std::vector<uint8_t> &out) {
    if (hex.size() % 2)
        return false;
    out.clear();
    for (size_t i = 0; i < hex.size(); i += 2) {
        int hi = hex_digit(hex[i]), lo = hex_digit(hex[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out.push_back(static_cast<uint8_t>(hi << 4 | lo));
    }
    return true;
}

// The next space-separated word of `rest`, taken off its front.
std::string_view word(std::string_view &rest) {
    size_t sp = rest.find(' ');
    std::string_view w = rest.substr(0, sp);
    rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
    return w;
}

} // namespace

bool has_sig(const std::string &template_name) {
    return template_name == kImaSig || template_name == kImaSigV2;
}

std::string v2_template(const std::string &template_name) {
    return has_sig(template_name) ? kImaSigV2 : kImaNgV2;
}

std::vector<uint8_t> template_data(const std::string &template_name, const std::string &algo,
                                   std::span<const uint8_t> file_digest, const std::string &path,
                                   std::span<const uint8_t> sig) {
    std::vector<uint8_t> d;
    d.insert(d.end(), algo.begin(), algo.end());
    d.push_back(':');
    d.push_back(0);
    d.insert(d.end(), file_digest.begin(), file_digest.end());
    std::vector<uint8_t> out;
    put_field(out, d);
    put_field(out, bytes_of(path, true));
    // ima-buf's third field is the buffer, passed where ima-sig's goes.
    if (has_sig(template_name) || template_name == kImaBuf)
        put_field(out, sig);
    return out;
}

Entry make_entry(uint32_t pcr, const std::string &template_name, const std::string &algo,
                 std::span<const uint8_t> file_digest, const std::string &path,
                 std::span<const uint8_t> sig) {
    Entry e;
    e.pcr = pcr;
    e.template_name = template_name;
    e.algo = algo;
    e.file_digest.assign(file_digest.begin(), file_digest.end());
    // As the kernel's IMA writes a name field: each space becomes '_', before
    // the template hash, so that the ASCII log's space-separated fields stay
    // parseable and the entry equals the kernel's for the same file. Other
    // bytes stay as they are, as the kernel leaves them.
    e.path = path;
    std::replace(e.path.begin(), e.path.end(), ' ', '_');
    if (has_sig(template_name))
        e.sig.assign(sig.begin(), sig.end());
    e.template_data = template_data(template_name, algo, file_digest, e.path, e.sig);
    unsigned int len = 0;
    EVP_Digest(e.template_data.data(), e.template_data.size(), e.template_sha1.data(), &len,
               EVP_sha1(), nullptr);
    return e;
}

Entry make_violation(uint32_t pcr, const std::string &template_name, const std::string &path) {
    std::vector<uint8_t> zeros(32, 0);
    Entry e = make_entry(pcr, template_name, "sha256", zeros, path);
    e.violation = true;
    e.template_sha1.fill(0);
    return e;
}

Entry make_buf_entry(uint32_t pcr, const std::string &name, std::span<const uint8_t> buf) {
    Entry e;
    e.pcr = pcr;
    e.template_name = kImaBuf;
    e.algo = "sha256";
    Sha256 d = sha256_bytes(buf);
    e.file_digest.assign(d.begin(), d.end());
    e.path = name;
    e.buf.assign(buf.begin(), buf.end());
    e.template_data = template_data(kImaBuf, e.algo, e.file_digest, e.path, e.buf);
    unsigned int len = 0;
    EVP_Digest(e.template_data.data(), e.template_data.size(), e.template_sha1.data(), &len,
               EVP_sha1(), nullptr);
    return e;
}

std::vector<uint8_t> bank_template_hash(const Entry &e, const char *md_name) {
    const EVP_MD *md = EVP_get_digestbyname(md_name);
    if (!md)
        return {};
    std::vector<uint8_t> out(static_cast<size_t>(EVP_MD_get_size(md)));
    if (e.violation) {
        std::fill(out.begin(), out.end(), 0xff);
        return out;
    }
    unsigned int len = 0;
    EVP_Digest(e.template_data.data(), e.template_data.size(), out.data(), &len, md, nullptr);
    return out;
}

std::vector<uint8_t> encode_binary(const Entry &e) {
    std::vector<uint8_t> out;
    out.reserve(32 + e.template_name.size() + e.template_data.size());
    put_u32(out, e.pcr);
    out.insert(out.end(), e.template_sha1.begin(), e.template_sha1.end());
    put_field(out, bytes_of(e.template_name, false));
    put_field(out, e.template_data);
    return out;
}

std::string encode_ascii(const Entry &e) {
    // The kernel prints "%2d " for the PCR and a space before every field;
    // an empty signature leaves a trailing space.
    char pcr[16];
    std::snprintf(pcr, sizeof(pcr), "%2u ", e.pcr);
    std::string s = pcr;
    s += to_hex(e.template_sha1);
    s += ' ';
    s += e.template_name;
    s += ' ';
    s += e.algo + ":" + to_hex(e.file_digest);
    s += ' ';
    s += e.path;
    if (has_sig(e.template_name)) {
        s += ' ';
        s += to_hex(e.sig);
    } else if (e.template_name == kImaBuf) {
        s += ' ';
        s += to_hex(e.buf); // the kernel prints the buf field in hex
    }
    s += '\n';
    return s;
}

Result<std::vector<Entry>> parse_binary(std::span<const uint8_t> bytes) {
    std::vector<Entry> out;
    Reader r(bytes);
    while (!r.done()) {
        size_t at = r.pos();
        auto bad = [&](const char *what) {
            return make_error(EBADMSG, "measurement log entry " + std::to_string(out.size()) +
                                           " at byte " + std::to_string(at) + ": " + what);
        };
        Entry e;
        std::span<const uint8_t> hash, name, data;
        uint32_t len;
        if (!r.u32(e.pcr) || !r.take(20, hash))
            return bad("truncated header");
        std::memcpy(e.template_sha1.data(), hash.data(), 20);
        if (!r.u32(len) || len == 0 || len > kMaxNameLen || !r.take(len, name))
            return bad("bad template name length");
        e.template_name.assign(reinterpret_cast<const char *>(name.data()), name.size());
        if (!r.u32(len) || len > kMaxDataLen || !r.take(len, data))
            return bad("bad template data length");
        e.template_data.assign(data.begin(), data.end());
        e.violation = is_zero(e.template_sha1);
        if ((e.template_name == kImaNg || e.template_name == kImaNgV2 ||
             e.template_name == kImaBuf || has_sig(e.template_name)) &&
            !parse_fields(e))
            return bad(("malformed " + e.template_name + " template data").c_str());
        out.push_back(std::move(e));
    }
    return out;
}

namespace {

// The fields after the template name of an ima-ng/ima-sig (v1 or v2) or
// legacy "ima" line: digest, path, and ima-sig's signature, which is the
// last field (so a path may hold spaces, as names of other writers do).
// Fills `e`; the error says what is wrong.
std::optional<std::string> digest_path_sig(std::string_view rest, bool ng, Entry &e) {
    std::string_view digest = word(rest);
    std::string_view path = rest;
    e.sig.clear();
    e.buf.clear();
    const bool buf = e.template_name == kImaBuf;
    if (has_sig(e.template_name) || buf) {
        size_t sp = rest.rfind(' ');
        if (sp == std::string_view::npos)
            return buf ? "no buf field" : "no signature field";
        path = rest.substr(0, sp);
        if (!from_hex(rest.substr(sp + 1), buf ? e.buf : e.sig))
            return buf ? "buf is not hex" : "signature is not hex";
    }
    std::string_view hex = digest;
    if (ng) {
        size_t colon = digest.rfind(':');
        if (colon == std::string_view::npos || colon == 0)
            return "digest has no algorithm";
        e.algo = digest.substr(0, colon);
        hex = digest.substr(colon + 1);
    } else {
        e.algo = "sha1";
    }
    if (hex.empty() || hex.size() > 2 * kMaxDigestLen || !from_hex(hex, e.file_digest))
        return "bad file digest";
    e.path = path;
    if (ng)
        e.template_data =
            template_data(e.template_name, e.algo, e.file_digest, e.path, buf ? e.buf : e.sig);
    return std::nullopt;
}

// Does `line` begin as an entry does: PCR, 40 hex digits, a template name?
bool entry_start(std::string_view line) {
    while (line.starts_with(' '))
        line.remove_prefix(1);
    std::string_view pcr = word(line), hash = word(line), name = word(line);
    std::vector<uint8_t> h;
    return !pcr.empty() && pcr.size() <= 9 &&
           std::all_of(pcr.begin(), pcr.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
           hash.size() == 40 && from_hex(hash, h) && !name.empty();
}

bool hash_matches(const Entry &e) {
    std::array<uint8_t, 20> h{};
    unsigned int len = 0;
    EVP_Digest(e.template_data.data(), e.template_data.size(), h.data(), &len, EVP_sha1(), nullptr);
    return h == e.template_sha1;
}

// A name may hold a newline: the kernel's IMA writes the name field as it
// is (only ' ' becomes '_'), so its ASCII log continues such an entry on
// the next line. How far an entry reaches is decided by its template hash,
// which covers the name: the fewest following lines that make it match. A
// violation's hash covers nothing; it takes the following lines that do not
// begin as an entry does.
constexpr size_t kMaxNameLines = 16;
constexpr size_t kMaxNameBytes = 4096; // PATH_MAX, the kernel IMA's d_path buffer

} // namespace

Result<std::vector<Entry>> parse_ascii(std::string_view text) {
    std::vector<std::string_view> lines;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        lines.push_back(text.substr(0, nl));
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    }
    std::vector<Entry> out;
    for (size_t i = 0; i < lines.size(); ++i) {
        std::string_view line = lines[i];
        size_t line_no = i + 1;
        auto bad = [&](const std::string &what) {
            return make_error(EBADMSG,
                              "measurement log line " + std::to_string(line_no) + ": " + what);
        };
        if (line.empty())
            continue;
        // "%2d": PCRs below 10 come with a leading space.
        while (line.starts_with(' '))
            line.remove_prefix(1);
        Entry e;
        std::string_view rest = line;
        std::string_view pcr = word(rest), hash = word(rest), name = word(rest);
        e.pcr = 0;
        if (pcr.empty() || pcr.size() > 9)
            return bad("bad PCR index");
        for (char c : pcr) {
            if (c < '0' || c > '9')
                return bad("bad PCR index");
            e.pcr = e.pcr * 10 + static_cast<uint32_t>(c - '0');
        }
        std::vector<uint8_t> h;
        if (hash.size() != 40 || !from_hex(hash, h))
            return bad("bad template hash");
        std::memcpy(e.template_sha1.data(), h.data(), 20);
        e.violation = is_zero(h);
        if (name.empty() || name.size() > kMaxNameLen)
            return bad("bad template name");
        e.template_name = name;
        bool ng = name == kImaNg || name == kImaNgV2 || name == kImaBuf || has_sig(e.template_name);
        if (ng || name == "ima") {
            auto err = digest_path_sig(rest, ng, e);
            if (err && !ng)
                return bad(*err);
            // The entry's text from its digest on, with following lines
            // joined as the name's newlines. A kernel's name holds no space
            // (it became '_'), so ima-sig's signature is on the last line.
            std::string joined(rest);
            size_t taken = 0;
            for (size_t k = 1;
                 ng && (err || e.violation || !hash_matches(e)) && k <= kMaxNameLines &&
                 i + k < lines.size() && joined.size() < kMaxNameBytes;
                 ++k) {
                if (e.violation && entry_start(lines[i + k]))
                    break;
                joined += '\n';
                joined += lines[i + k];
                Entry longer = e;
                if (digest_path_sig(joined, ng, longer))
                    continue;
                if (!e.violation && !hash_matches(longer))
                    continue;
                e = std::move(longer);
                err.reset();
                taken = k;
                if (!e.violation)
                    break;
            }
            if (err)
                return bad(*err);
            i += taken;
        }
        out.push_back(std::move(e));
    }
    return out;
}

Result<std::vector<Entry>> parse_any(std::span<const uint8_t> bytes) {
    bool binary = false;
    for (size_t i = 0; i < bytes.size() && i < 4; ++i)
        binary |= bytes[i] == 0;
    if (binary)
        return parse_binary(bytes);
    return parse_ascii({reinterpret_cast<const char *>(bytes.data()), bytes.size()});
}

} // namespace vouch::ima
