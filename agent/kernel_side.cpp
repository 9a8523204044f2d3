#include "kernel_side.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cstring>
#include <string>

#include "vouch.skel.h"

namespace vouch {

void KernelSide::SkelDeleter::operator()(vouch_bpf *s) const { vouch_bpf__destroy(s); }
void KernelSide::RingBufferDeleter::operator()(ring_buffer *r) const { ring_buffer__free(r); }

namespace {

std::string errstr(int err) { return std::strerror(err < 0 ? -err : err); }

Error load_error(int err) {
    std::string msg = "cannot load the BPF LSM programs: " + errstr(err);
    if (err == -EPERM || err == -EACCES)
        msg += " (root with CAP_BPF and CAP_SYS_ADMIN is required; run `vouchctl check-kernel`)";
    else if (err == -EINVAL || err == -524 /* ENOTSUPP */ || err == -ESRCH || err == -ENOENT)
        msg += " (the kernel may lack CONFIG_BPF_LSM, BTF or IMA; run `vouchctl check-kernel`)";
    return make_error(err, msg);
}

} // namespace

Result<std::unique_ptr<KernelSide>> KernelSide::load(const KernelSideOptions &opts) {
    std::unique_ptr<KernelSide> ks(new KernelSide());
    ks->skel_.reset(vouch_bpf__open());
    if (!ks->skel_)
        return make_error(errno, "cannot open the BPF object: " + errstr(errno));
    vouch_bpf *s = ks->skel_.get();
    s->rodata->cache_enabled = opts.cache;
    int err = bpf_map__set_max_entries(s->maps.events, opts.ringbuf_bytes);
    if (!err)
        err = bpf_map__set_max_entries(s->maps.allow_a, opts.allow_max);
    if (!err)
        err = bpf_map__set_max_entries(s->maps.allow_b, opts.allow_max);
    if (err)
        return make_error(err, "cannot size the BPF maps: " + errstr(err));
    err = vouch_bpf__load(s);
    if (err)
        return load_error(err);
    err = vouch_bpf__attach(s);
    if (err) {
        std::string msg = "cannot attach the BPF LSM hooks: " + errstr(err);
        if (err == -EPERM || err == -EOPNOTSUPP || err == -EINVAL)
            msg += " (is `bpf` in the active LSM list? boot with lsm=...,bpf; run `vouchctl "
                   "check-kernel`)";
        return make_error(err, msg);
    }
    return ks;
}

KernelSide::~KernelSide() = default;

Result<vouch_config> KernelSide::config() const {
    vouch_config cfg{};
    uint32_t zero = 0;
    if (bpf_map__lookup_elem(skel_->maps.vouch_config, &zero, sizeof(zero), &cfg, sizeof(cfg), 0))
        return make_error(errno, "read vouch_config: " + errstr(errno));
    return cfg;
}

Result<vouch_stats> KernelSide::stats() const {
    vouch_stats st{};
    uint32_t zero = 0;
    if (bpf_map__lookup_elem(skel_->maps.vouch_stats, &zero, sizeof(zero), &st, sizeof(st), 0))
        return make_error(errno, "read vouch_stats: " + errstr(errno));
    return st;
}

namespace {

Result<void> clear_map(bpf_map *map) {
    vouch_digest first{};
    // Delete the first key until none is left: a walk from a deleted key
    // would restart from the beginning anyway.
    while (bpf_map__get_next_key(map, nullptr, &first, sizeof(first)) == 0) {
        if (bpf_map__delete_elem(map, &first, sizeof(first), 0) && errno != ENOENT)
            return make_error(errno, "clear allow-list: " + errstr(errno));
    }
    return {};
}

} // namespace

Result<void> KernelSide::set_policy(const std::vector<vouch_digest> &allowed, vouch_mode mode) {
    auto cur = config();
    if (!cur)
        return cur.error();
    uint32_t next_active = cur->active ? 0 : 1;
    bpf_map *target = next_active ? skel_->maps.allow_b : skel_->maps.allow_a;
    if (allowed.size() > bpf_map__max_entries(target))
        return make_error(E2BIG, "policy has " + std::to_string(allowed.size()) +
                                     " digests, the kernel allow-list holds at most " +
                                     std::to_string(bpf_map__max_entries(target)));
    if (auto r = clear_map(target); !r)
        return r;
    uint32_t one = 1;
    for (const auto &d : allowed) {
        if (bpf_map__update_elem(target, &d, sizeof(d), &one, sizeof(one), BPF_ANY))
            return make_error(errno, "fill allow-list: " + errstr(errno));
    }
    vouch_config cfg{};
    cfg.mode = mode;
    cfg.active = next_active;
    cfg.flags = VOUCH_CFGF_POLICY_LOADED;
    uint32_t zero = 0;
    if (bpf_map__update_elem(skel_->maps.vouch_config, &zero, sizeof(zero), &cfg, sizeof(cfg),
                             BPF_ANY))
        return make_error(errno, "activate allow-list: " + errstr(errno));
    return {};
}

Result<void> KernelSide::clear_policy() {
    vouch_config cfg{};
    uint32_t zero = 0;
    if (bpf_map__update_elem(skel_->maps.vouch_config, &zero, sizeof(zero), &cfg, sizeof(cfg),
                             BPF_ANY))
        return make_error(errno, "clear policy: " + errstr(errno));
    return {};
}

int KernelSide::on_event(void *ctx, void *data, size_t size) {
    auto *self = static_cast<KernelSide *>(ctx);
    if (size < sizeof(vouch_event))
        return 0;
    self->handler_(*static_cast<const vouch_event *>(data));
    return 0;
}

Result<void> KernelSide::start_events(EventHandler handler) {
    handler_ = std::move(handler);
    rb_.reset(ring_buffer__new(bpf_map__fd(skel_->maps.events), on_event, this, nullptr));
    if (!rb_)
        return make_error(errno, "ring buffer: " + errstr(errno));
    return {};
}

Result<int> KernelSide::poll(int timeout_ms) {
    int n = ring_buffer__poll(rb_.get(), timeout_ms);
    if (n < 0 && n != -EINTR)
        return make_error(n, "ring buffer poll: " + errstr(n));
    return n < 0 ? 0 : n;
}

Result<int> KernelSide::consume() {
    int n = ring_buffer__consume(rb_.get());
    if (n < 0)
        return make_error(n, "ring buffer consume: " + errstr(n));
    return n;
}

int KernelSide::events_fd() const { return rb_ ? ring_buffer__epoll_fd(rb_.get()) : -1; }

} // namespace vouch
