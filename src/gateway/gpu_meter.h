// GpuEnergyMeter: measured energy for models served from this host's GPUs (`meter: nvml`), read
// through NVML and shared among the requests running on those GPUs by the tokens each produced.
#ifndef SOBRE_GATEWAY_GPU_METER_H_
#define SOBRE_GATEWAY_GPU_METER_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "core/units.h"
#include "footprint/energy_counter.h"

namespace sobre::gateway {

// How often the sampler thread closes an interval.
inline constexpr std::chrono::milliseconds kGpuSampleInterval{100};

// Attribution rule. The GPUs' energy counters are read every kGpuSampleInterval and also whenever
// a request finishes, so that the interval holding its end is known at once. Each GPU's energy E
// over an interval is shared among the requests on that GPU active during the interval, in
// proportion to the tokens each produced in it:
//  - a request that reported tokens as they came (AddTokens: a stream's chunks) weighs the
//    tokens reported within the interval;
//  - a finished request that reported none (not streamed) weighs its total tokens spread evenly
//    over its duration: total × (its time in the interval / its duration);
//  - a request still running that has reported none weighs, as the finishing request R sees it,
//    R's own average token rate × its time in the interval (its count is not known yet).
// When every weight is zero (prefill before the first token) E is shared by time in the interval.
// An interval in which no request ran on a GPU is that GPU's idle energy: counted in
// idle_joules(), charged to nobody. A request's share is final when it finishes and is not
// revised when a concurrent request's count becomes known later; it is capped by what earlier
// finishers left of each interval, so requests are never charged more than was measured (with
// concurrent non-streamed requests of different rates, somewhat less may be charged).
//
// Thread contract: thread-safe. One sampler std::jthread (when started) reads the counters; a
// finishing request also reads them, serialised with the sampler by a mutex. The counters are
// read on the caller's thread on Finish (a few NVML calls, microseconds each).
class GpuEnergyMeter {
 public:
  // One request's registration. Move-only; finishing it (or destroying it unfinished, counted
  // as zero tokens and its share dropped) ends it. Must not outlive the meter.
  class Request {
   public:
    Request() = default;
    Request(Request&& o) noexcept : meter_(std::exchange(o.meter_, nullptr)), id_(o.id_) {}
    Request& operator=(Request&& o) noexcept;
    Request(const Request&) = delete;
    Request& operator=(const Request&) = delete;
    ~Request();

    // `tokens` produced now (a stream's chunk). Thread-safe.
    void AddTokens(int64_t tokens);
    // Ends the request with `total_tokens` produced and returns its share of the GPUs' energy
    // (IT energy, no PUE). Zero when already finished.
    Joules Finish(int64_t total_tokens);

   private:
    friend class GpuEnergyMeter;
    Request(GpuEnergyMeter* meter, uint64_t id) : meter_(meter), id_(id) {}
    GpuEnergyMeter* meter_ = nullptr;
    uint64_t id_ = 0;
  };

  // Loads NVML from `library` (empty: the SOBRE_NVML_LIBRARY environment variable, else
  // libnvidia-ml.so.1) and meters the GPUs with the given NVML indices (empty: every GPU NVML
  // reports), with a sampler thread on the system clock. FailedPrecondition when NVML or a
  // requested GPU is unavailable, saying why.
  static StatusOr<std::unique_ptr<GpuEnergyMeter>> Create(const std::string& library,
                                                          const std::vector<int>& gpu_indices);

  // Meters `counters` (one per GPU; device_index() is the GPU's NVML index) on `clock`, which
  // must outlive the meter. Without `start_sampler` nothing samples but Finish() and
  // SampleNow(): for tests with a FakeClock.
  GpuEnergyMeter(std::vector<std::unique_ptr<footprint::EnergyCounter>> counters,
                 const Clock& clock, bool start_sampler);
  ~GpuEnergyMeter();
  GpuEnergyMeter(const GpuEnergyMeter&) = delete;
  GpuEnergyMeter& operator=(const GpuEnergyMeter&) = delete;

  // Registers a request starting now on the GPUs with NVML indices `gpus` (empty: all metered
  // GPUs; indices the meter does not hold are ignored).
  Request Begin(std::span<const int> gpus);

  // Reads the counters now and closes an interval (what the sampler thread does periodically).
  void SampleNow();

  // Energy of intervals with no request on the GPU, since construction, per metered GPU in the
  // order of gpu_indices().
  std::vector<Joules> idle_joules() const;
  // The metered GPUs' NVML indices.
  std::vector<int> gpu_indices() const;
  // Whether every index in `gpus` is metered here.
  bool Holds(std::span<const int> gpus) const;

  // Prometheus lines for sobre_gpu_idle_joules_total{gpu="N"}, with HELP and TYPE.
  std::string RenderMetrics() const;

 private:
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Interval {
    TimePoint start;
    TimePoint end;
    std::vector<double> joules;   // Per counter.
    std::vector<double> charged;  // Per counter: shares given to finished requests so far.
  };
  struct Tracked {
    std::vector<bool> on_gpu;  // Per counter.
    TimePoint start;
    bool finished = false;
    TimePoint end;
    int64_t total_tokens = 0;
    std::vector<std::pair<TimePoint, int64_t>> events;  // AddTokens, in time order.
  };

  void AddTokens(uint64_t id, int64_t tokens);
  Joules Finish(uint64_t id, int64_t total_tokens);
  // Reads every counter and appends the interval ending at the returned time. Takes sample_mu_
  // (caller holds it) then mu_.
  TimePoint SampleLocked();
  // Token weight of `q` in `i`; `rate_per_s` estimates a running request that reported none.
  static double Weight(const Tracked& q, const Interval& i, double rate_per_s);
  static double OverlapSeconds(const Tracked& q, const Interval& i);
  // Drops intervals and finished requests that no running request overlaps. Caller holds mu_.
  void Collect();
  void Run(std::stop_token stop);

  const Clock& clock_;
  std::mutex sample_mu_;  // Serialises counter reads; taken before mu_.
  std::vector<std::unique_ptr<footprint::EnergyCounter>> counters_;  // Guarded by sample_mu_.
  std::vector<int> gpu_indices_;                                     // Immutable.

  mutable std::mutex mu_;
  TimePoint last_sample_;                 // Guarded by mu_.
  std::deque<Interval> intervals_;        // Guarded by mu_; those some tracked request overlaps.
  std::map<uint64_t, Tracked> requests_;  // Guarded by mu_; running, and finished still needed.
  uint64_t next_id_ = 1;                  // Guarded by mu_.
  std::vector<double> idle_j_;            // Guarded by mu_; per counter.

  std::jthread sampler_;  // Last: stops and joins before the members it reads go.
};

}  // namespace sobre::gateway

#endif  // SOBRE_GATEWAY_GPU_METER_H_
