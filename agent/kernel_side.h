// The loader for bpf/vouch.bpf.c: open, configure, load, attach, read events,
// swap the allow-list.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "abi.h"
#include "result.h"

struct vouch_bpf;
struct ring_buffer;

namespace vouch {

struct KernelSideOptions {
    bool cache = true;                 // per-inode digest cache
    uint32_t ringbuf_bytes = 4u << 20; // power of two, multiple of the page size
    uint32_t allow_max = 1u << 17;     // capacity of each allow-list buffer
};

class KernelSide {
  public:
    using EventHandler = std::function<void(const vouch_event &)>;

    // Loads and attaches every hook. The error names what the kernel lacks.
    static Result<std::unique_ptr<KernelSide>> load(const KernelSideOptions &opts);
    ~KernelSide();

    // Replaces the allow-list and mode in one step: the inactive buffer is
    // filled, then a single config update makes it the one execs see.
    Result<void> set_policy(const std::vector<vouch_digest> &allowed, vouch_mode mode);
    // Back to measuring only: no policy, audit mode.
    Result<void> clear_policy();
    Result<vouch_config> config() const;
    Result<vouch_stats> stats() const;

    // Events are delivered to handler from poll()/consume().
    Result<void> start_events(EventHandler handler);
    Result<int> poll(int timeout_ms);
    Result<int> consume();
    int events_fd() const;

  private:
    struct SkelDeleter {
        void operator()(vouch_bpf *s) const;
    };
    struct RingBufferDeleter {
        void operator()(ring_buffer *r) const;
    };

    KernelSide() = default;
    static int on_event(void *ctx, void *data, size_t size);

    std::unique_ptr<vouch_bpf, SkelDeleter> skel_;
    std::unique_ptr<ring_buffer, RingBufferDeleter> rb_;
    EventHandler handler_;
};

} // namespace vouch
