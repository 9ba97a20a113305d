// Small random-weight GGUF models of each supported architecture (llama, qwen2, bert), with the
// tensor names, shapes and hyper-parameter keys of real files (reference/engine.md §1.7-1.8). For
// tests, benchmarks and the demo: their output is noise.
#ifndef SOBRE_ENGINE_GGUF_TEST_MODEL_H_
#define SOBRE_ENGINE_GGUF_TEST_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/ggml_type.h"
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"

namespace sobre::engine {

// What to build. Zero means "the architecture's default" where stated.
struct TestModelOptions {
  std::string arch = "llama";        // "llama", "qwen2" or "bert"
  GgmlType type = GgmlType::kF32;    // type of the 2-D weights (1-D tensors stay F32)
  uint32_t n_embd = 64;              // hidden size
  uint32_t n_layers = 2;             // blocks
  uint32_t n_heads = 4;              // attention heads; must divide n_embd
  uint32_t n_kv_heads = 0;           // 0: n_heads / 2 for llama and qwen2 (GQA), n_heads for bert
  uint32_t n_ff = 0;                 // 0: 4 * n_embd for bert, 3 * n_embd for llama and qwen2
  uint32_t n_ctx = 512;              // context_length (bert: rows of position_embd)
  uint64_t seed = 1;                 // weights are a pure function of the options and the seed
  double rope_base = 0;              // 0: 10000 for llama, 1000000 for qwen2 (unused by bert)
  bool tied = false;                 // llama: omit output.weight (qwen2 is always tied)
  float weight_sigma = 0.02f;        // standard deviation of weights and biases
  const GgufFile* vocab = nullptr;   // copy every tokenizer.* key from here; null: built-in vocab
  std::string name = "sobre test model (random weights: its output is noise)";  // general.name
};

// What was built.
struct TestModelReport {
  uint64_t n_vocab = 0;
  uint64_t parameters = 0;
  // "tensor: Q4_K -> Q5_0 (row length 64)" for each 2-D tensor that could not take the type.
  std::vector<std::string> fallbacks;
};

// Fills `out` (a fresh writer) with the model. InvalidArgument for an unknown architecture,
// inconsistent sizes (heads not dividing n_embd, kv heads not dividing heads, an odd head size,
// zero sizes), a type that cannot be written, or a vocabulary file without tokenizer.ggml.tokens.
StatusOr<TestModelReport> BuildTestModel(const TestModelOptions& options, GgufWriter& out);

// The built-in vocabularies, exposed for tests: the byte-level one for llama/qwen2 and the
// WordPiece one for bert, written as tokenizer.* keys into `out`; returns the vocabulary size.
uint64_t WriteBuiltinByteVocab(GgufWriter& out);
uint64_t WriteBuiltinWordPieceVocab(GgufWriter& out);

// GPT-2's byte -> code point mapping (reference §4.3 step 2), as UTF-8: "Ġ" for byte 0x20.
std::string Gpt2ByteToken(uint8_t byte);

}  // namespace sobre::engine

#endif  // SOBRE_ENGINE_GGUF_TEST_MODEL_H_
