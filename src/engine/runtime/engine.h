// The serving engine: one thread owns the decoder (model + KV cache) and runs the continuous
// batching loop over N slots; requests arrive through a queue and leave through per-request sinks.
#ifndef SOBRE_ENGINE_RUNTIME_ENGINE_H_
#define SOBRE_ENGINE_RUNTIME_ENGINE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/runtime/decoder.h"
#include "engine/runtime/sampler.h"

namespace sobre::engine {

enum class FinishReason { kStop, kLength, kCancelled, kError };

// "stop", "length", "cancelled", "error".
const char* FinishReasonName(FinishReason r);

// Measures the energy of one batch step. Begin() and End() bracket the step on the engine thread.
class StepEnergyMeter {
 public:
  virtual ~StepEnergyMeter() = default;
  virtual void Begin() = 0;
  // Energy of the step since Begin(), in joules.
  virtual double EndJoules() = 0;
  // True when the figure is measured (an energy counter), false when estimated (a power model).
  virtual bool measured() const = 0;
};

// What happened in one batch step, for benchmarks and logs.
struct StepReport {
  std::chrono::nanoseconds duration{0};
  int prompt_tokens = 0;      // Prompt tokens evaluated in the step.
  int generated_tokens = 0;   // Tokens of generating slots evaluated in the step.
  int sequences = 0;          // Requests that had tokens in the step.
  double energy_j = 0;        // The meter's figure, 0 without a meter.
};

// The outcome of one generation, given to GenerationSink::OnDone.
struct GenerationResult {
  FinishReason finish = FinishReason::kStop;
  Status status;                 // Non-ok exactly when finish == kError.
  int32_t prompt_tokens = 0;     // Tokens of the prompt.
  int32_t cached_tokens = 0;     // Prompt tokens whose KV was reused, not evaluated.
  int32_t completion_tokens = 0; // Tokens sampled, the end-of-generation token included.
  double energy_j = 0;           // This request's share of the steps it took part in.
  bool energy_measured = false;  // See StepEnergyMeter::measured().
  std::chrono::nanoseconds queued{0};       // Submit to admission into a slot.
  std::chrono::nanoseconds first_token{0};  // Submit to the first sampled token.
  std::chrono::nanoseconds total{0};        // Submit to done.
};

// Receives one request's tokens. Called on the engine thread, so implementations must be quick and
// must not block (push into a queue and wake the consumer).
class GenerationSink {
 public:
  virtual ~GenerationSink() = default;
  // A sampled token; `end_of_generation` when it is in the engine's end-of-generation set (the
  // request then finishes with kStop). Return false to stop here with kStop (a stop string).
  virtual bool OnToken(const SampledToken& token, bool end_of_generation) = 0;
  // Called exactly once, last.
  virtual void OnDone(const GenerationResult& result) = 0;
};

// One generation request.
struct GenerationRequest {
  std::vector<int32_t> prompt;  // Token ids, not empty.
  SamplingParams sampling;
  // Most tokens to sample; 0 = until the end-of-generation set or the context is full.
  int32_t max_tokens = 0;
  GenerationSink* sink = nullptr;  // Required; must outlive OnDone (see `owner`).
  // Kept alive by the engine until OnDone has returned (e.g. the shared state that holds `sink`).
  // Optional.
  std::shared_ptr<void> owner;
  // Set by the caller (from any thread) when the client left: the slot is freed at the next step
  // and the request finishes with kCancelled. Optional.
  std::shared_ptr<std::atomic<bool>> cancelled;
};

// Receives one embedding. Called on the engine thread, exactly once.
class EmbeddingSink {
 public:
  virtual ~EmbeddingSink() = default;
  // The vector or the error; `energy_j` is the step's energy (see StepEnergyMeter).
  virtual void OnEmbedding(StatusOr<std::vector<float>> embedding, double energy_j) = 0;
};

struct EngineOptions {
  // Tokens of one decode step, prompt chunks and generating slots together. Raised to the slot
  // count if lower. Default 512.
  int32_t batch_size = 512;
  // Tokens whose sampling ends the request with finish "stop" (eos, eot, im_end...). Default none.
  std::vector<int32_t> end_of_generation;
  // Energy of each step; null: no energy is reported. Not owned; must outlive the engine.
  StepEnergyMeter* meter = nullptr;
  // Called on the engine thread after each decode step. Default none.
  std::function<void(const StepReport&)> on_step;
};

// Thread contract: Submit(), SubmitEmbedding() and the accessors are thread-safe; sinks are called
// on the engine's own thread. The destructor stops the thread after cancelling what is queued or
// running (each sink still gets its OnDone).
class Engine {
 public:
  // Starts the engine thread over `decoder` and/or `encoder` (at least one). InvalidArgument on
  // bad options.
  static StatusOr<std::unique_ptr<Engine>> Create(std::unique_ptr<Decoder> decoder,
                                                  std::unique_ptr<Encoder> encoder,
                                                  EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a generation. Checked at once (InvalidArgument: no decoder, empty prompt, token outside
  // the vocabulary, prompt longer than the context, bad sampling params); on error the sink is
  // not called.
  Status Submit(GenerationRequest request);

  // Queues an embedding of `tokens`. InvalidArgument at once when there is no encoder or the input
  // is empty or longer than the encoder's context; on error the sink is not called. `owner` is
  // kept alive until the sink has been called.
  Status SubmitEmbedding(std::vector<int32_t> tokens, EmbeddingSink* sink,
                         std::shared_ptr<void> owner = nullptr);

  // Requests in slots now (generating or evaluating their prompt).
  int active_slots() const;
  int32_t n_vocab() const;
  int32_t n_ctx() const;    // Positions per slot; 0 without a decoder.
  int32_t n_slots() const;  // 0 without a decoder.

 private:
  class Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sobre::engine

#endif  // SOBRE_ENGINE_RUNTIME_ENGINE_H_
