// SPDX-License-Identifier: Apache-2.0
#include "vouchd/nv_serial.h"

#include <cerrno>
#include <cstdio>

namespace vouch {

namespace {

std::string attributes_text(uint32_t a) {
    struct Bit {
        uint32_t bit;
        const char *name;
    };
    static constexpr Bit kBits[] = {
        {kTpmaNvOwnerWrite, "ownerwrite"},
        {kTpmaNvAuthWrite, "authwrite"},
        {kTpmaNvOwnerRead, "ownerread"},
        {kTpmaNvAuthRead, "authread"},
        {kTpmaNvNoDa, "no_da"},
        {kTpmaNvPlatformCreate, "platformcreate"},
    };
    std::string out;
    uint32_t rest = a & ~kTpmaNvStateBits;
    for (const Bit &b : kBits) {
        if (rest & b.bit) {
            out += (out.empty() ? "" : "|") + std::string(b.name);
            rest &= ~b.bit;
        }
    }
    if (rest) {
        char hex[16];
        std::snprintf(hex, sizeof(hex), "0x%08x", rest);
        out += (out.empty() ? "" : "|") + std::string(hex);
    }
    return out.empty() ? "none" : out;
}

std::vector<uint8_t> big_endian(uint64_t v) {
    std::vector<uint8_t> b(kNvSerialSize);
    for (int i = kNvSerialSize - 1; i >= 0; --i, v >>= 8)
        b[static_cast<size_t>(i)] = static_cast<uint8_t>(v);
    return b;
}

} // namespace

std::string nv_index_name(uint32_t index) {
    char s[16];
    std::snprintf(s, sizeof(s), "0x%08x", index);
    return s;
}

std::string nv_define_command(const std::string &owner_password) {
    return "tpm2_nvdefine " + nv_index_name() + " -C o -P " + owner_password + " -s " +
           std::to_string(kNvSerialSize) + " -g sha256 -a \"" +
           attributes_text(kNvSerialAttributes) + "\"";
}

void NvSerial::unavailable(std::string why, bool retry) {
    state_ = State::Unavailable;
    why_ = std::move(why);
    retry_ = retry;
    tpm_.reset();
}

void NvSerial::disable(std::string why) {
    unavailable(std::move(why), false);
}

void NvSerial::connect(const std::string &tcti) {
    auto t = Tpm::open(tcti);
    if (!t) {
        unavailable("no TPM: " + t.error().message, true);
        return;
    }
    tpm_ = std::move(*t);
    const std::string name = "TPM NV index " + nv_index_name();
    auto owner = tpm_->owner_auth_set();
    if (!owner) {
        unavailable(owner.error().message, Tpm::transient(owner.error()));
        return;
    }
    owner_auth_set_ = *owner;
    auto pub = tpm_->nv_read_public(kNvSerialIndex);
    if (!pub && pub.error().code == ENOENT) {
        if (owner_auth_set_) {
            unavailable("the TPM's owner hierarchy has a password and " + name +
                            " is not defined: define it as the owner (" + nv_define_command() +
                            ") and restart vouchd",
                        false);
            return;
        }
        if (auto d = tpm_->nv_define(kNvSerialIndex, kNvSerialSize, kNvSerialAttributes); !d) {
            unavailable("defining " + name + " failed: " + d.error().message,
                        Tpm::transient(d.error()));
            return;
        }
        pub = tpm_->nv_read_public(kNvSerialIndex);
    }
    if (!pub) {
        unavailable(pub.error().message, Tpm::transient(pub.error()));
        return;
    }
    // Someone else's index at this handle (or one redefined by hand with
    // other attributes) is not vouch's to trust or to overwrite.
    if (pub->size != kNvSerialSize || pub->name_alg != kTpmAlgSha256 ||
        (pub->attributes & ~kTpmaNvStateBits) != kNvSerialAttributes) {
        char alg[8];
        std::snprintf(alg, sizeof(alg), "0x%04x", pub->name_alg);
        unavailable(name + " is defined with size " + std::to_string(pub->size) + ", attributes " +
                        attributes_text(pub->attributes) + ", nameAlg " +
                        (pub->name_alg == kTpmAlgSha256 ? std::string("sha256") : alg) +
                        ", not vouch's (size " + std::to_string(kNvSerialSize) + ", " +
                        attributes_text(kNvSerialAttributes) +
                        ", sha256): not used and not overwritten",
                    false);
        return;
    }
    uint64_t v = 0;
    if (pub->attributes & kTpmaNvWritten) {
        auto bytes = tpm_->nv_read(kNvSerialIndex, kNvSerialSize);
        if (!bytes) {
            unavailable(bytes.error().message, Tpm::transient(bytes.error()));
            return;
        }
        for (uint8_t b : *bytes)
            v = v << 8 | b;
    }
    serial_ = v;
    state_ = State::Active;
    retry_ = false;
    why_.clear();
}

Result<void> NvSerial::check(uint64_t serial) const {
    if (state_ == State::Active && serial < serial_)
        return make_error(ESTALE, "policy serial " + std::to_string(serial) +
                                      " is older than serial " + std::to_string(serial_) +
                                      " recorded in TPM NV index " + nv_index_name() +
                                      ": rolled back?");
    return {};
}

Result<void> NvSerial::raise(uint64_t serial) {
    if (state_ != State::Active || serial <= serial_)
        return {};
    auto r = tpm_->nv_write(kNvSerialIndex, big_endian(serial));
    if (!r) {
        write_error_ = "raising it to " + std::to_string(serial) + " failed: " + r.error().message;
        return make_error(r.error().code, "TPM NV index " + nv_index_name() + " holds serial " +
                                              std::to_string(serial_) + "; " + write_error_);
    }
    serial_ = serial;
    write_error_.clear();
    return {};
}

std::string NvSerial::report() const {
    switch (state_) {
    case State::Unchecked:
        return "disk only: the TPM was not asked yet";
    case State::Unavailable:
        return "disk only: " + why_;
    case State::Active:
        break;
    }
    std::string s = "tpm-nv " + nv_index_name() + " serial " + std::to_string(serial_) + ", " +
                    (owner_auth_set_ ? "owner password set"
                                     : "owner password not set: root can reset the index");
    if (!write_error_.empty())
        s += "; " + write_error_;
    return s;
}

} // namespace vouch
