// GPU energy shared among requests by tokens. Intervals are kept only while a request that
// overlaps them is running, so memory follows the longest request, not the uptime.
#include "gateway/gpu_meter.h"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "core/logging.h"
#include "footprint/nvml.h"

namespace sobre::gateway {
namespace {

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

GpuEnergyMeter::Request& GpuEnergyMeter::Request::operator=(Request&& o) noexcept {
  if (this != &o) {
    if (meter_ != nullptr) meter_->Finish(id_, 0);
    meter_ = std::exchange(o.meter_, nullptr);
    id_ = o.id_;
  }
  return *this;
}

GpuEnergyMeter::Request::~Request() {
  if (meter_ != nullptr) meter_->Finish(id_, 0);
}

void GpuEnergyMeter::Request::AddTokens(int64_t tokens) {
  if (meter_ != nullptr) meter_->AddTokens(id_, tokens);
}

Joules GpuEnergyMeter::Request::Finish(int64_t total_tokens) {
  if (meter_ == nullptr) return Joules(0);
  return std::exchange(meter_, nullptr)->Finish(id_, total_tokens);
}

StatusOr<std::unique_ptr<GpuEnergyMeter>> GpuEnergyMeter::Create(
    const std::string& library, const std::vector<int>& gpu_indices) {
  std::string path = library;
  if (path.empty()) {
    if (const char* env = std::getenv("SOBRE_NVML_LIBRARY")) path = env;
  }
  footprint::NvmlSetup setup = footprint::DiscoverNvml(path);
  for (const std::string& w : setup.warnings) SOBRE_LOG(kWarning, "nvml: {}", w);
  if (setup.counters.empty()) {
    return FailedPreconditionError(fmt::format(
        "meter: nvml needs NVML, which is unavailable: {} (library {}; set nvml_library or "
        "SOBRE_NVML_LIBRARY, or remove meter: nvml)",
        setup.unavailable_reason, setup.library));
  }
  std::vector<std::unique_ptr<footprint::EnergyCounter>> chosen;
  if (gpu_indices.empty()) {
    chosen = std::move(setup.counters);
  } else {
    const std::set<int> wanted(gpu_indices.begin(), gpu_indices.end());
    std::vector<int> usable;
    for (auto& c : setup.counters) {
      usable.push_back(c->device_index());
      if (wanted.count(c->device_index()) != 0) chosen.push_back(std::move(c));
    }
    for (int index : wanted) {
      if (std::find(usable.begin(), usable.end(), index) == usable.end()) {
        return FailedPreconditionError(
            fmt::format("meter: nvml: GPU {} is not metered by NVML ({}); usable GPUs: {}",
                        index, setup.library, fmt::join(usable, ", ")));
      }
    }
  }
  return std::make_unique<GpuEnergyMeter>(std::move(chosen), SystemClock(), true);
}

GpuEnergyMeter::GpuEnergyMeter(std::vector<std::unique_ptr<footprint::EnergyCounter>> counters,
                               const Clock& clock, bool start_sampler)
    : clock_(clock), counters_(std::move(counters)) {
  for (const auto& c : counters_) gpu_indices_.push_back(c->device_index());
  idle_j_.assign(counters_.size(), 0.0);
  // The first read of a counter sets its baseline.
  last_sample_ = clock_.Now();
  for (auto& c : counters_) (void)c->Sample(last_sample_);
  if (start_sampler) {
    sampler_ = std::jthread([this](std::stop_token stop) { Run(stop); });
  }
}

GpuEnergyMeter::~GpuEnergyMeter() = default;

GpuEnergyMeter::Request GpuEnergyMeter::Begin(std::span<const int> gpus) {
  Tracked t;
  t.on_gpu.assign(gpu_indices_.size(), gpus.empty());
  for (int g : gpus) {
    auto it = std::find(gpu_indices_.begin(), gpu_indices_.end(), g);
    if (it != gpu_indices_.end()) t.on_gpu[static_cast<size_t>(it - gpu_indices_.begin())] = true;
  }
  std::lock_guard lock(mu_);
  t.start = clock_.Now();
  const uint64_t id = next_id_++;
  requests_.emplace(id, std::move(t));
  return Request(this, id);
}

void GpuEnergyMeter::AddTokens(uint64_t id, int64_t tokens) {
  if (tokens <= 0) return;
  std::lock_guard lock(mu_);
  auto it = requests_.find(id);
  if (it == requests_.end() || it->second.finished) return;
  // Strictly after the start, so that a token at the very start instant lands in an interval
  // the request overlaps.
  const TimePoint at =
      std::max(clock_.Now(), it->second.start + std::chrono::steady_clock::duration(1));
  it->second.events.emplace_back(at, tokens);
}

void GpuEnergyMeter::SampleNow() {
  std::lock_guard sample_lock(sample_mu_);
  SampleLocked();
}

GpuEnergyMeter::TimePoint GpuEnergyMeter::SampleLocked() {
  const TimePoint now = clock_.Now();
  Interval interval;
  interval.joules.assign(counters_.size(), 0.0);
  interval.charged.assign(counters_.size(), 0.0);
  for (size_t g = 0; g < counters_.size(); ++g) {
    // A failed read loses nothing: the next one measures from the last good reading.
    StatusOr<Joules> e = counters_[g]->Sample(now);
    if (e.ok()) interval.joules[g] = std::max(0.0, e->value());
  }
  std::lock_guard lock(mu_);
  interval.start = last_sample_;
  interval.end = now;
  last_sample_ = now;
  bool any_busy = false;
  for (size_t g = 0; g < counters_.size(); ++g) {
    // Finished requests end at or before the interval's start (each finish closes one), so only
    // running ones can overlap it.
    const bool busy = std::any_of(requests_.begin(), requests_.end(), [&](const auto& kv) {
      return !kv.second.finished && kv.second.on_gpu[g] && kv.second.start < now;
    });
    if (busy) {
      any_busy = true;
    } else {
      idle_j_[g] += interval.joules[g];
      interval.joules[g] = 0;
    }
  }
  if (any_busy) intervals_.push_back(std::move(interval));
  return now;
}

double GpuEnergyMeter::OverlapSeconds(const Tracked& q, const Interval& i) {
  const TimePoint end = q.finished ? std::min(q.end, i.end) : i.end;
  return std::max(0.0, Seconds(end - std::max(q.start, i.start)));
}

double GpuEnergyMeter::Weight(const Tracked& q, const Interval& i, double rate_per_s) {
  if (!q.events.empty()) {
    double tokens = 0;
    for (const auto& [at, n] : q.events) {
      if (at > i.start && at <= i.end) tokens += static_cast<double>(n);
    }
    return tokens;
  }
  if (q.finished) {
    const double duration = Seconds(q.end - q.start);
    return duration > 0 ? static_cast<double>(q.total_tokens) * OverlapSeconds(q, i) / duration
                        : 0.0;
  }
  return rate_per_s * OverlapSeconds(q, i);
}

Joules GpuEnergyMeter::Finish(uint64_t id, int64_t total_tokens) {
  std::lock_guard sample_lock(sample_mu_);
  const TimePoint now = SampleLocked();
  std::lock_guard lock(mu_);
  auto it = requests_.find(id);
  if (it == requests_.end() || it->second.finished) return Joules(0);
  Tracked& r = it->second;
  r.finished = true;
  r.end = now;
  r.total_tokens = std::max<int64_t>(0, total_tokens);
  double reported = 0;
  for (const auto& e : r.events) reported += static_cast<double>(e.second);
  const double duration = Seconds(r.end - r.start);
  const double rate =
      duration > 0 ? std::max(reported, static_cast<double>(r.total_tokens)) / duration : 0.0;

  double share_j = 0;
  for (Interval& i : intervals_) {
    if (!(r.start < i.end && r.end > i.start)) continue;
    for (size_t g = 0; g < counters_.size(); ++g) {
      if (!r.on_gpu[g] || i.joules[g] <= 0) continue;
      double weights = 0, times = 0;
      for (const auto& [qid, q] : requests_) {
        if (!q.on_gpu[g] || !(q.start < i.end && (!q.finished || q.end > i.start))) continue;
        weights += Weight(q, i, rate);
        times += OverlapSeconds(q, i);
      }
      double share = 0;
      if (weights > 0) {
        share = i.joules[g] * Weight(r, i, rate) / weights;
      } else if (times > 0) {
        share = i.joules[g] * OverlapSeconds(r, i) / times;
      }
      share = std::max(0.0, std::min(share, i.joules[g] - i.charged[g]));
      i.charged[g] += share;
      share_j += share;
    }
  }
  Collect();
  return Joules(share_j);
}

void GpuEnergyMeter::Collect() {
  std::optional<TimePoint> horizon;
  for (const auto& [id, q] : requests_) {
    if (!q.finished && (!horizon.has_value() || q.start < *horizon)) horizon = q.start;
  }
  if (!horizon.has_value()) {
    intervals_.clear();
    requests_.clear();
    return;
  }
  while (!intervals_.empty() && intervals_.front().end <= *horizon) intervals_.pop_front();
  std::erase_if(requests_,
                [&](const auto& kv) { return kv.second.finished && kv.second.end <= *horizon; });
}

void GpuEnergyMeter::Run(std::stop_token stop) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  // Returns the predicate: false on timeout, true once a stop is requested.
  while (!cv.wait_for(lock, stop, kGpuSampleInterval, [&stop] { return stop.stop_requested(); })) {
    SampleNow();
  }
}

std::vector<Joules> GpuEnergyMeter::idle_joules() const {
  std::lock_guard lock(mu_);
  std::vector<Joules> out;
  for (double j : idle_j_) out.push_back(Joules(j));
  return out;
}

std::vector<int> GpuEnergyMeter::gpu_indices() const { return gpu_indices_; }

bool GpuEnergyMeter::Holds(std::span<const int> gpus) const {
  return std::all_of(gpus.begin(), gpus.end(), [&](int g) {
    return std::find(gpu_indices_.begin(), gpu_indices_.end(), g) != gpu_indices_.end();
  });
}

std::string GpuEnergyMeter::RenderMetrics() const {
  const std::vector<Joules> idle = idle_joules();
  std::string out =
      "# HELP sobre_gpu_idle_joules_total GPU energy measured while no request ran on the GPU "
      "(meter: nvml), charged to no request.\n# TYPE sobre_gpu_idle_joules_total counter\n";
  for (size_t g = 0; g < idle.size(); ++g) {
    fmt::format_to(std::back_inserter(out), "sobre_gpu_idle_joules_total{{gpu=\"{}\"}} {}\n",
                   gpu_indices_[g], idle[g].value());
  }
  return out;
}

}  // namespace sobre::gateway
