// EngineBackend: a Backend that runs a GGUF model in this process on the embedded CPU engine
// (engine/runtime), answering chat completions, completions and embeddings in OpenAI's shapes,
// with the energy of each batch step shared among the requests by their tokens.
#ifndef SOBRE_BACKEND_ENGINE_BACKEND_H_
#define SOBRE_BACKEND_ENGINE_BACKEND_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "backend/backend.h"
#include "core/status.h"

namespace sobre::engine {
class StepEnergyMeter;
}  // namespace sobre::engine

namespace sobre::backend {

struct EngineBackendOptions {
  // The GGUF file (llama / qwen2 for text, bert for embeddings), mapped read-only. Required.
  std::string path;
  // Name reported in responses when the request has no "model"; empty: the file name without
  // ".gguf". Default empty.
  std::string model_name;
  // Matrix threads, the engine thread included; 0 = every hardware thread. Default 0.
  int threads = 0;
  // Requests decoded at once (KV-cache sequences). Default 4.
  int slots = 4;
  // Positions per slot (prompt + generated tokens); 0 = the model's context, at most 4096.
  // Default 0.
  int ctx_per_slot = 0;
  // Most tokens in one decode step (prompt chunks and generating slots together). Default 512.
  int batch_size = 512;
  // Chat template family ("chatml", "llama2", "llama3", "mistral", "zephyr") used instead of the
  // one detected from the file's tokenizer.chat_template; empty: detect. Default empty.
  std::string chat_template;
  // Where RAPL energy counters are looked for; an empty or missing directory means none (energy is
  // then estimated from CPU time). Default /sys/class/powercap.
  std::string powercap_root = "/sys/class/powercap";
  // CPU TDP for the power model, in watts, instead of the hardware catalogue's; only used without
  // RAPL. Default none.
  std::optional<double> cpu_tdp_w;
};

// How the engine's energy figures are obtained.
struct EngineEnergyMethod {
  bool measured = false;     // True with RAPL counters, false for the CPU-time power model.
  std::string description;   // e.g. "estimated: process CPU time x 3.9 W per busy CPU (...)".
  double watts_per_cpu = 0;  // The power model's figure (0 when measured).
};

// Thread contract: Call() may run concurrently for many requests, on any executors whose handlers
// do not run concurrently with themselves (an io_context thread or a strand); the accessors are
// thread-safe. Destroying the backend stops the engine thread after cancelling what is running.
class EngineBackend : public Backend {
 public:
  ~EngineBackend() override = default;
  // How BackendResult::energy is obtained on this machine.
  virtual const EngineEnergyMethod& energy_method() const = 0;
  // "llama", "qwen2" or "bert".
  virtual std::string architecture() const = 0;
  // Requests in engine slots now.
  virtual int active_requests() const = 0;
};

// Loads the model and starts the engine. Errors: NotFound / InvalidArgument / DataLoss from the
// file (naming it), InvalidArgument for bad options or an unknown chat_template name.
StatusOr<std::unique_ptr<EngineBackend>> CreateEngineBackend(EngineBackendOptions options);

// CreateEngineBackend, as the plain Backend the gateway holds.
StatusOr<std::unique_ptr<Backend>> MakeEngineBackend(EngineBackendOptions options);

// The energy meter of the engine's batch steps on this machine: RAPL counters under
// `powercap_root` when readable (measured), else process CPU time x the power of one busy logical
// CPU from the CPU power model (estimated; `cpu_tdp_w` overrides the catalogue's TDP). Never fails.
// Also used by `sobre bench model`.
std::pair<std::unique_ptr<engine::StepEnergyMeter>, EngineEnergyMethod> MakeStepEnergyMeter(
    const std::string& powercap_root, std::optional<double> cpu_tdp_w);

}  // namespace sobre::backend

#endif  // SOBRE_BACKEND_ENGINE_BACKEND_H_
