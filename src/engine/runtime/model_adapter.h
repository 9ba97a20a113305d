// Adapters from the model part (DecoderContext, EncoderContext over a loaded Model) to the
// runtime's Decoder and Encoder interfaces, each owning its thread pool.
#ifndef SOBRE_ENGINE_RUNTIME_MODEL_ADAPTER_H_
#define SOBRE_ENGINE_RUNTIME_MODEL_ADAPTER_H_

#include <cstdint>
#include <memory>

#include "core/status.h"
#include "engine/runtime/decoder.h"

namespace sobre::engine {

class Model;

struct ModelDecoderOptions {
  // Matrix threads, the calling (engine) thread included; 0 = every hardware thread. Default 0.
  int threads = 0;
  // Sequences (engine slots) in the KV cache. Default 4.
  int32_t slots = 4;
  // Positions per slot; 0 = the model's training context, capped at 4096. Default 0.
  int32_t ctx_per_slot = 0;
  // Most tokens one decode step holds. Default 512.
  int32_t batch_size = 512;
};

// A Decoder over `model` (llama, qwen2). InvalidArgument for an encoder model or bad options;
// ResourceExhausted when the KV cache does not fit. `model` is shared: the decoder keeps it alive.
StatusOr<std::unique_ptr<Decoder>> MakeModelDecoder(std::shared_ptr<const Model> model,
                                                    const ModelDecoderOptions& options);

// An Encoder over `model` (bert), `threads` as above. InvalidArgument for a decoder model.
StatusOr<std::unique_ptr<Encoder>> MakeModelEncoder(std::shared_ptr<const Model> model,
                                                    int threads);

}  // namespace sobre::engine

#endif  // SOBRE_ENGINE_RUNTIME_MODEL_ADAPTER_H_
