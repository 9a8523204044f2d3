// SPDX-License-Identifier: Apache-2.0
#include "lib/tpm.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "lib/owned.h"

namespace vouch {

static_assert(kTpmAlgSha1 == TPM2_ALG_SHA1 && kTpmAlgSha256 == TPM2_ALG_SHA256 &&
              kTpmAlgSha384 == TPM2_ALG_SHA384 && kTpmAlgSha512 == TPM2_ALG_SHA512 &&
              kTpmAlgSm3_256 == TPM2_ALG_SM3_256);
static_assert(sizeof(TPM2_ALG_ID) == sizeof(uint16_t));
static_assert(kTpmaNvOwnerWrite == TPMA_NV_OWNERWRITE && kTpmaNvAuthWrite == TPMA_NV_AUTHWRITE &&
              kTpmaNvWriteLocked == TPMA_NV_WRITELOCKED && kTpmaNvOwnerRead == TPMA_NV_OWNERREAD &&
              kTpmaNvAuthRead == TPMA_NV_AUTHREAD && kTpmaNvNoDa == TPMA_NV_NO_DA &&
              kTpmaNvReadLocked == TPMA_NV_READLOCKED && kTpmaNvWritten == TPMA_NV_WRITTEN &&
              kTpmaNvPlatformCreate == TPMA_NV_PLATFORMCREATE);

namespace {

void finalize_tcti(TSS2_TCTI_CONTEXT *c) {
    Tss2_TctiLdr_Finalize(&c);
}
void finalize_esys(ESYS_CONTEXT *c) {
    Esys_Finalize(&c);
}
// Every structure ESAPI hands out is allocated by it and must go back through
// Esys_Free.
template <class T> using EsysPtr = Owned<T, Esys_Free>;

// One TPM2_GetCapability answer: the first property of `cap` from `property`.
// Every caller asks for one property, which never sets moreData.
TSS2_RC get_capability(ESYS_CONTEXT *esys, TPM2_CAP cap, uint32_t property,
                       EsysPtr<TPMS_CAPABILITY_DATA> *out) {
    TPMI_YES_NO more = TPM2_NO;
    TPMS_CAPABILITY_DATA *raw = nullptr;
    TSS2_RC rc = Esys_GetCapability(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, cap, property,
                                    1, &more, &raw);
    out->reset(raw);
    return rc;
}

// ESAPI's synchronous calls already resubmit a command the TPM asked to retry
// (a handful of times, without delay); what still comes back is worth a
// later retry by the caller.
bool tpm_says_retry(TSS2_RC rc) {
    TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;
    if (layer != TSS2_TPM_RC_LAYER && layer != TSS2_RESMGR_TPM_RC_LAYER)
        return false;
    TSS2_RC base = rc & ~TSS2_RC_LAYER_MASK;
    return base == TPM2_RC_RETRY || base == TPM2_RC_YIELDED || base == TPM2_RC_TESTING ||
           base == TPM2_RC_CANCELED;
}

// Failures below the TPM: the TCTI lost or could not reach the TPM.
bool transport_failed(TSS2_RC rc) {
    TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;
    if (layer == TSS2_TPM_RC_LAYER || layer == TSS2_RESMGR_TPM_RC_LAYER)
        return false;
    TSS2_RC base = rc & ~TSS2_RC_LAYER_MASK;
    return base == TSS2_BASE_RC_IO_ERROR || base == TSS2_BASE_RC_NO_CONNECTION ||
           base == TSS2_BASE_RC_TRY_AGAIN;
}

// The TPM's response code without the layer and the handle, session or
// parameter number a format-one code carries; 0 for a code not from the TPM.
TSS2_RC tpm_base(TSS2_RC rc) {
    TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;
    if (layer != TSS2_TPM_RC_LAYER && layer != TSS2_RESMGR_TPM_RC_LAYER)
        return 0;
    TSS2_RC base = rc & 0xFFF;
    if (base & TPM2_RC_FMT1)
        base &= TPM2_RC_FMT1 | 0x3F;
    return base;
}

std::string hex32(uint32_t v) {
    char s[16];
    std::snprintf(s, sizeof(s), "0x%08x", v);
    return s;
}

std::string rc_text(TSS2_RC rc) {
    char hex[16];
    std::snprintf(hex, sizeof(hex), "0x%08x", rc);
    // Tss2_RC_Decode returns a buffer it reuses on the next call: copy now.
    return std::string(hex) + " " + Tss2_RC_Decode(rc);
}

std::string alg_text(uint16_t alg) {
    if (digest_size(alg))
        return bank_name(alg);
    char s[24];
    std::snprintf(s, sizeof(s), "alg 0x%04x", alg);
    return s;
}

TPMS_PCR_SELECTION select_one(uint32_t pcr, uint16_t alg) {
    TPMS_PCR_SELECTION s{};
    s.hash = alg;
    // A TPM must accept a select of at least PCR_SELECT_MIN bytes (3 for the
    // 24 PCRs of a PC client TPM) even when only one bit is set.
    s.sizeofSelect = static_cast<uint8_t>(std::max<uint32_t>(3, pcr / 8 + 1));
    s.pcrSelect[pcr / 8] = static_cast<uint8_t>(1u << (pcr % 8));
    return s;
}

bool selected(const TPMS_PCR_SELECTION &s, uint32_t pcr) {
    return pcr / 8 < s.sizeofSelect && (s.pcrSelect[pcr / 8] & (1u << (pcr % 8)));
}

} // namespace

namespace {

// The banks vouch knows: name, digest size, and OpenSSL's name for the hash
// when vouch can compute it (it cannot for SM3).
struct Bank {
    uint16_t alg;
    const char *name;
    size_t size;
    const char *md;
};
constexpr Bank kBanks[] = {
    {kTpmAlgSha1, "sha1", 20, "sha1"},        {kTpmAlgSha256, "sha256", 32, "sha256"},
    {kTpmAlgSha384, "sha384", 48, "sha384"},  {kTpmAlgSha512, "sha512", 64, "sha512"},
    {kTpmAlgSm3_256, "sm3_256", 32, nullptr},
};

const Bank *find_bank(uint16_t alg) {
    for (const auto &b : kBanks)
        if (b.alg == alg)
            return &b;
    return nullptr;
}

} // namespace

size_t digest_size(uint16_t alg) {
    const Bank *b = find_bank(alg);
    return b ? b->size : 0;
}

const char *bank_md_name(uint16_t alg) {
    const Bank *b = find_bank(alg);
    return b ? b->md : nullptr;
}

const char *bank_name(uint16_t alg) {
    const Bank *b = find_bank(alg);
    return b ? b->name : "unknown";
}

// The ESAPI context owns no TCTI it did not create, so the TCTI must outlive
// it: members are destroyed in reverse order.
struct Tpm::Conn {
    Owned<TSS2_TCTI_CONTEXT, finalize_tcti> tcti;
    Owned<ESYS_CONTEXT, finalize_esys> esys;
};

Result<std::unique_ptr<Tpm::Conn>> Tpm::connect(const std::string &tcti) {
    auto c = std::make_unique<Conn>();
    TSS2_TCTI_CONTEXT *t = nullptr;
    TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti.c_str(), &t);
    if (rc != TSS2_RC_SUCCESS)
        return make_error(ENODEV, "no TPM at TCTI \"" + tcti + "\": " + rc_text(rc));
    c->tcti.reset(t);
    ESYS_CONTEXT *e = nullptr;
    rc = Esys_Initialize(&e, t, nullptr);
    if (rc != TSS2_RC_SUCCESS)
        return make_error(ENODEV, "TPM at TCTI \"" + tcti + "\": ESAPI: " + rc_text(rc));
    c->esys.reset(e);
    return c;
}

Tpm::Tpm(std::string tcti, std::unique_ptr<Conn> conn)
    : tcti_(std::move(tcti)), conn_(std::move(conn)) {}

Tpm::~Tpm() = default;

Result<std::unique_ptr<Tpm>> Tpm::open(const std::string &tcti) {
    auto c = connect(tcti);
    if (!c)
        return c.error();
    std::unique_ptr<Tpm> tpm(new Tpm(tcti, std::move(*c)));
    // The swtpm TCTI connects per command and the device TCTI only opens a
    // file: ask something so that a TPM that does not answer fails here.
    auto banks = tpm->allocated_banks(0);
    if (!banks) {
        Error e = banks.error();
        if (e.code == EIO)
            e.code = ENODEV;
        return e;
    }
    return tpm;
}

Result<Tpm::Conn *> Tpm::conn() {
    if (!conn_) {
        auto c = connect(tcti_);
        if (!c) {
            // The TPM answered before, so this is a TPM gone away (for now),
            // not a wrong configuration.
            Error e = c.error();
            e.code = EIO;
            e.message = "reconnecting after a lost connection: " + e.message;
            return e;
        }
        conn_ = std::move(*c);
    }
    return conn_.get();
}

Error Tpm::fail(const std::string &what, uint32_t rc) {
    int code = EPROTO;
    if (tpm_says_retry(rc)) {
        code = EAGAIN;
    } else if (transport_failed(rc)) {
        code = EIO;
    } else {
        switch (tpm_base(rc)) {
        case TPM2_RC_HANDLE:
            code = ENOENT;
            break;
        case TPM2_RC_NV_DEFINED:
            code = EEXIST;
            break;
        case TPM2_RC_NV_UNINITIALIZED:
            code = ENODATA;
            break;
        case TPM2_RC_NV_SPACE:
            code = ENOSPC;
            break;
        case TPM2_RC_BAD_AUTH:
        case TPM2_RC_AUTH_FAIL:
        case TPM2_RC_LOCKOUT:
            code = EACCES;
            break;
        default:
            break;
        }
    }
    // After any failure that is not the TPM's answer ESAPI puts its context
    // into an internal-error state and refuses every later command, so only
    // a fresh context can go on.
    TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;
    if (layer != TSS2_TPM_RC_LAYER && layer != TSS2_RESMGR_TPM_RC_LAYER)
        conn_.reset();
    return make_error(code, "TPM at TCTI \"" + tcti_ + "\": " + what + ": " + rc_text(rc));
}

Result<std::vector<uint16_t>> Tpm::allocated_banks(uint32_t pcr) {
    if (pcr > TPM2_MAX_PCRS - 1)
        return make_error(EINVAL, "PCR " + std::to_string(pcr) + " out of range");
    auto c = conn();
    if (!c)
        return c.error();
    // TPM2_CAP_PCRS has a single property, the whole allocation, so one
    // answer holds every bank and moreData is never set.
    EsysPtr<TPMS_CAPABILITY_DATA> cap;
    TSS2_RC rc = get_capability((*c)->esys.get(), TPM2_CAP_PCRS, 0, &cap);
    if (rc != TSS2_RC_SUCCESS)
        return fail("GetCapability(PCRS)", rc);
    std::vector<uint16_t> banks;
    const TPML_PCR_SELECTION &sel = cap->data.assignedPCR;
    for (uint32_t i = 0; i < sel.count && i < TPM2_NUM_PCR_BANKS; ++i)
        if (selected(sel.pcrSelections[i], pcr))
            banks.push_back(sel.pcrSelections[i].hash);
    return banks;
}

Result<void> Tpm::extend(uint32_t pcr, const std::vector<BankDigest> &digests) {
    if (pcr > ESYS_TR_PCR31 - ESYS_TR_PCR0)
        return make_error(EINVAL, "extend: PCR " + std::to_string(pcr) + " out of range");
    if (digests.empty())
        return make_error(EINVAL, "extend PCR " + std::to_string(pcr) + ": no digests");
    if (digests.size() > TPM2_NUM_PCR_BANKS)
        return make_error(EINVAL, "extend PCR " + std::to_string(pcr) + ": " +
                                      std::to_string(digests.size()) + " digests, at most " +
                                      std::to_string(TPM2_NUM_PCR_BANKS) + " banks");
    TPML_DIGEST_VALUES values{};
    // Checked here because nothing downstream can: TPMT_HA has no length, its
    // algorithm alone says how many bytes go to the TPM, so a digest of the
    // wrong length would be extended cut or padded, without an error.
    for (const auto &[alg, d] : digests) {
        size_t n = digest_size(alg);
        if (n == 0)
            return make_error(EINVAL, "extend PCR " + std::to_string(pcr) + ": " + alg_text(alg) +
                                          " is not a known PCR bank");
        if (d.size() != n)
            return make_error(EINVAL, "extend PCR " + std::to_string(pcr) + ": " + bank_name(alg) +
                                          " digest is " + std::to_string(d.size()) +
                                          " bytes, not " + std::to_string(n));
        for (uint32_t i = 0; i < values.count; ++i)
            if (values.digests[i].hashAlg == alg)
                return make_error(EINVAL, "extend PCR " + std::to_string(pcr) + ": " +
                                              bank_name(alg) + " given twice");
        TPMT_HA &ha = values.digests[values.count++];
        ha.hashAlg = alg;
        std::memcpy(&ha.digest, d.data(), n);
    }
    auto c = conn();
    if (!c)
        return c.error();
    // PCRs need no policy or password by default: an empty password session.
    TSS2_RC rc = Esys_PCR_Extend((*c)->esys.get(), ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD,
                                 ESYS_TR_NONE, ESYS_TR_NONE, &values);
    if (rc != TSS2_RC_SUCCESS)
        return fail("PCR_Extend of PCR " + std::to_string(pcr), rc);
    return {};
}

Result<std::vector<uint8_t>> Tpm::read_pcr(uint32_t pcr, uint16_t bank) {
    const std::string what = "PCR_Read of PCR " + std::to_string(pcr) + " " + alg_text(bank);
    if (pcr > TPM2_MAX_PCRS - 1)
        return make_error(EINVAL, what + ": PCR out of range");
    if (digest_size(bank) == 0)
        return make_error(EINVAL, what + ": not a known PCR bank");
    auto c = conn();
    if (!c)
        return c.error();
    TPML_PCR_SELECTION in{};
    in.count = 1;
    in.pcrSelections[0] = select_one(pcr, bank);
    UINT32 update_counter = 0;
    TPML_PCR_SELECTION *out_raw = nullptr;
    TPML_DIGEST *values_raw = nullptr;
    TSS2_RC rc = Esys_PCR_Read((*c)->esys.get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &in,
                               &update_counter, &out_raw, &values_raw);
    EsysPtr<TPML_PCR_SELECTION> out(out_raw);
    EsysPtr<TPML_DIGEST> values(values_raw);
    if (rc != TSS2_RC_SUCCESS)
        return fail(what, rc);
    // The TPM answers with the subset of the selection it has: an empty one
    // for a bank it implements but has not allocated this PCR in.
    bool present = false;
    for (uint32_t i = 0; i < out->count && i < TPM2_NUM_PCR_BANKS; ++i)
        present |= out->pcrSelections[i].hash == bank && selected(out->pcrSelections[i], pcr);
    if (!present || values->count != 1)
        return make_error(ENOENT, "TPM at TCTI \"" + tcti_ + "\": PCR " + std::to_string(pcr) +
                                      " is not allocated in bank " + alg_text(bank));
    const TPM2B_DIGEST &d = values->digests[0];
    if (d.size != digest_size(bank))
        return make_error(EPROTO, "TPM at TCTI \"" + tcti_ + "\": " + what + ": " +
                                      std::to_string(d.size) + "-byte value");
    return std::vector<uint8_t>(d.buffer, d.buffer + d.size);
}

// An ESYS_TR handed out for an NV index, closed (ESAPI's record of it
// freed) when it goes out of scope, if the connection it belongs to is
// still the one open: fail() may have dropped it meanwhile.
class Tpm::NvHandle {
  public:
    NvHandle(std::unique_ptr<Conn> &owner) : owner_(owner), conn_(owner.get()) {}
    ~NvHandle() {
        if (tr != ESYS_TR_NONE && owner_.get() == conn_)
            (void)Esys_TR_Close(conn_->esys.get(), &tr);
    }
    NvHandle(const NvHandle &) = delete;
    NvHandle &operator=(const NvHandle &) = delete;
    ESYS_TR tr = ESYS_TR_NONE;

  private:
    std::unique_ptr<Conn> &owner_;
    Conn *conn_;
};

Result<bool> Tpm::owner_auth_set() {
    auto c = conn();
    if (!c)
        return c.error();
    EsysPtr<TPMS_CAPABILITY_DATA> cap;
    TSS2_RC rc = get_capability((*c)->esys.get(), TPM2_CAP_TPM_PROPERTIES, TPM2_PT_PERMANENT, &cap);
    if (rc != TSS2_RC_SUCCESS)
        return fail("GetCapability(TPM_PT_PERMANENT)", rc);
    const TPML_TAGGED_TPM_PROPERTY &p = cap->data.tpmProperties;
    if (p.count < 1 || p.tpmProperty[0].property != TPM2_PT_PERMANENT)
        return make_error(EPROTO, "TPM at TCTI \"" + tcti_ +
                                      "\": GetCapability(TPM_PT_PERMANENT): no such property");
    return (p.tpmProperty[0].value & TPMA_PERMANENT_OWNERAUTHSET) != 0;
}

Result<void> Tpm::nv_define(uint32_t index, uint16_t size, uint32_t attributes) {
    const std::string what = "NV_DefineSpace of " + hex32(index);
    if ((index >> 24) != TPM2_HT_NV_INDEX)
        return make_error(EINVAL, what + ": not an NV index handle");
    if (attributes & (kTpmaNvStateBits | kTpmaNvPlatformCreate))
        return make_error(EINVAL, what + ": attributes the TPM sets itself");
    auto c = conn();
    if (!c)
        return c.error();
    TPM2B_AUTH auth{}; // empty: the index's own password
    TPM2B_NV_PUBLIC pub{};
    pub.nvPublic.nvIndex = index;
    pub.nvPublic.nameAlg = TPM2_ALG_SHA256;
    pub.nvPublic.attributes = attributes;
    pub.nvPublic.dataSize = size;
    NvHandle h(conn_);
    TSS2_RC rc = Esys_NV_DefineSpace((*c)->esys.get(), ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
                                     ESYS_TR_NONE, ESYS_TR_NONE, &auth, &pub, &h.tr);
    if (rc != TSS2_RC_SUCCESS)
        return fail(what, rc);
    return {};
}

Result<void> Tpm::nv_undefine(uint32_t index) {
    const std::string what = "NV_UndefineSpace of " + hex32(index);
    auto c = conn();
    if (!c)
        return c.error();
    NvHandle h(conn_);
    TSS2_RC rc = Esys_TR_FromTPMPublic((*c)->esys.get(), index, ESYS_TR_NONE, ESYS_TR_NONE,
                                       ESYS_TR_NONE, &h.tr);
    if (rc != TSS2_RC_SUCCESS)
        return fail(what, rc);
    rc = Esys_NV_UndefineSpace((*c)->esys.get(), ESYS_TR_RH_OWNER, h.tr, ESYS_TR_PASSWORD,
                               ESYS_TR_NONE, ESYS_TR_NONE);
    if (rc != TSS2_RC_SUCCESS)
        return fail(what, rc);
    // ESAPI dropped its record of the index with the index.
    h.tr = ESYS_TR_NONE;
    return {};
}

Result<bool> Tpm::nv_defined(uint32_t index) {
    auto c = conn();
    if (!c)
        return c.error();
    EsysPtr<TPMS_CAPABILITY_DATA> cap;
    TSS2_RC rc = get_capability((*c)->esys.get(), TPM2_CAP_HANDLES, index, &cap);
    if (rc != TSS2_RC_SUCCESS)
        return fail("GetCapability(HANDLES " + hex32(index) + ")", rc);
    const TPML_HANDLE &h = cap->data.handles;
    return h.count >= 1 && h.handle[0] == index;
}

Result<NvPublic> Tpm::nv_read_public(uint32_t index) {
    const std::string what = "NV_ReadPublic of " + hex32(index);
    // Asked first so that an absent index is an answer, not an error that
    // tpm2-tss logs on stderr.
    auto defined = nv_defined(index);
    if (!defined)
        return defined.error();
    if (!*defined)
        return make_error(ENOENT, "TPM at TCTI \"" + tcti_ + "\": " + what + ": not defined");
    auto c = conn();
    if (!c)
        return c.error();
    NvHandle h(conn_);
    TSS2_RC rc = Esys_TR_FromTPMPublic((*c)->esys.get(), index, ESYS_TR_NONE, ESYS_TR_NONE,
                                       ESYS_TR_NONE, &h.tr);
    if (rc != TSS2_RC_SUCCESS)
        return fail(what, rc);
    TPM2B_NV_PUBLIC *pub_raw = nullptr;
    TPM2B_NAME *name_raw = nullptr;
    rc = Esys_NV_ReadPublic((*c)->esys.get(), h.tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                            &pub_raw, &name_raw);
    EsysPtr<TPM2B_NV_PUBLIC> pub(pub_raw);
    EsysPtr<TPM2B_NAME> name(name_raw);
    if (rc != TSS2_RC_SUCCESS)
        return fail(what, rc);
    NvPublic out;
    out.index = pub->nvPublic.nvIndex;
    out.name_alg = pub->nvPublic.nameAlg;
    out.attributes = pub->nvPublic.attributes;
    out.size = pub->nvPublic.dataSize;
    return out;
}

Result<std::vector<uint8_t>> Tpm::nv_read(uint32_t index, uint16_t size) {
    const std::string what = "NV_Read of " + hex32(index);
    if (size == 0 || size > TPM2_MAX_NV_BUFFER_SIZE)
        return make_error(EINVAL, what + ": " + std::to_string(size) + " bytes");
    auto c = conn();
    if (!c)
        return c.error();
    NvHandle h(conn_);
    TSS2_RC rc = Esys_TR_FromTPMPublic((*c)->esys.get(), index, ESYS_TR_NONE, ESYS_TR_NONE,
                                       ESYS_TR_NONE, &h.tr);
    if (rc != TSS2_RC_SUCCESS)
        return fail(what, rc);
    TPM2B_MAX_NV_BUFFER *data_raw = nullptr;
    rc = Esys_NV_Read((*c)->esys.get(), h.tr, h.tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                      size, 0, &data_raw);
    EsysPtr<TPM2B_MAX_NV_BUFFER> data(data_raw);
    if (rc != TSS2_RC_SUCCESS)
        return fail(what, rc);
    if (data->size != size)
        return make_error(EPROTO, "TPM at TCTI \"" + tcti_ + "\": " + what + ": " +
                                      std::to_string(data->size) + " bytes, asked " +
                                      std::to_string(size));
    return std::vector<uint8_t>(data->buffer, data->buffer + data->size);
}

Result<void> Tpm::nv_write(uint32_t index, const std::vector<uint8_t> &bytes) {
    const std::string what = "NV_Write of " + hex32(index);
    TPM2B_MAX_NV_BUFFER data{};
    if (bytes.empty() || bytes.size() > sizeof(data.buffer))
        return make_error(EINVAL, what + ": " + std::to_string(bytes.size()) + " bytes");
    data.size = static_cast<UINT16>(bytes.size());
    std::memcpy(data.buffer, bytes.data(), bytes.size());
    auto c = conn();
    if (!c)
        return c.error();
    NvHandle h(conn_);
    TSS2_RC rc = Esys_TR_FromTPMPublic((*c)->esys.get(), index, ESYS_TR_NONE, ESYS_TR_NONE,
                                       ESYS_TR_NONE, &h.tr);
    if (rc != TSS2_RC_SUCCESS)
        return fail(what, rc);
    rc = Esys_NV_Write((*c)->esys.get(), h.tr, h.tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                       &data, 0);
    if (rc != TSS2_RC_SUCCESS)
        return fail(what, rc);
    return {};
}

bool Tpm::transient(const Error &e) {
    return e.code == EAGAIN || e.code == EIO;
}

} // namespace vouch
