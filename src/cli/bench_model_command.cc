// `sobre bench model FILE`: prompt and generation speed and energy of a GGUF model on this machine,
// by thread count and batch size, beside the memory-bandwidth bound measured in the same run.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "backend/engine_backend.h"
#include "cli/command.h"
#include "core/strings.h"
#include "engine/model/hparams.h"
#include "engine/model/model.h"
#include "engine/runtime/engine.h"
#include "engine/runtime/model_adapter.h"

namespace sobre::cli {
namespace {

constexpr std::string_view kCommand = "bench model";
using Clock = std::chrono::steady_clock;

struct BenchModelFlags {
  std::string path;
  std::string threads = "1,2";
  std::string batch = "1,2,4,8";
  int prompt = 128;
  int gen = 64;
  std::string powercap_root = "/sys/class/powercap";
  double cpu_tdp_w = 0;
};

StatusOr<std::vector<int>> ParseList(std::string_view flag, const std::string& text) {
  std::vector<int> out;
  for (std::string_view part : Split(text, ',')) {
    int v = 0;
    const std::string s(part);
    if (std::sscanf(s.c_str(), "%d", &v) != 1 || v <= 0 || v > 1024) {
      return InvalidArgumentError(std::string(flag) + ": '" + s + "' is not a positive count");
    }
    out.push_back(v);
  }
  if (out.empty()) return InvalidArgumentError(std::string(flag) + ": empty list");
  return out;
}

// Read bandwidth in bytes/s: `threads` threads each summing their share of a buffer far larger than
// any cache; best of three passes.
double MeasureReadBandwidth(int threads) {
  const size_t bytes = size_t{512} << 20;
  std::vector<uint64_t> buf(bytes / sizeof(uint64_t));
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = i;
  double best = 0;
  for (int pass = 0; pass < 3; ++pass) {
    std::vector<uint64_t> sums(static_cast<size_t>(threads));
    const auto start = Clock::now();
    std::vector<std::jthread> workers;
    const size_t per = buf.size() / static_cast<size_t>(threads);
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        // Four 128-bit accumulators (SSE2 is baseline on x86-64): the loop is bound by memory,
        // not by the adds.
        using V = uint64_t __attribute__((vector_size(16)));
        V a{}, b{}, c{}, d{};
        const uint64_t* p = buf.data() + static_cast<size_t>(t) * per;
        for (size_t i = 0; i + 8 <= per; i += 8) {
          V x0, x1, x2, x3;
          std::memcpy(&x0, p + i, 16);
          std::memcpy(&x1, p + i + 2, 16);
          std::memcpy(&x2, p + i + 4, 16);
          std::memcpy(&x3, p + i + 6, 16);
          a += x0;
          b += x1;
          c += x2;
          d += x3;
        }
        V s = a + b + c + d;
        sums[static_cast<size_t>(t)] = s[0] + s[1];
      });
    }
    workers.clear();
    const double s = std::chrono::duration<double>(Clock::now() - start).count();
    volatile uint64_t sink = 0;
    for (uint64_t v : sums) sink = sink + v;
    best = std::max(best, static_cast<double>(per * static_cast<size_t>(threads) * 8) / s);
  }
  return best;
}

// Counts finished requests.
class DoneCounter : public engine::GenerationSink {
 public:
  bool OnToken(const engine::SampledToken&, bool) override { return true; }
  void OnDone(const engine::GenerationResult& r) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++done_;
    if (!r.status.ok()) error_ = r.status;
    if (done_ == 1) first_token_ = r.first_token;
    cv_.notify_all();
  }
  Status WaitFor(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return done_ >= n; });
    return error_;
  }
  std::chrono::nanoseconds first_token() const { return first_token_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int done_ = 0;
  Status error_;
  std::chrono::nanoseconds first_token_{0};
};

// Step figures split into prompt steps (any prompt token) and generation-only steps.
struct Totals {
  double prompt_s = 0, prompt_j = 0, gen_s = 0, gen_j = 0;
  int64_t prompt_tokens = 0, gen_tokens = 0;
};

std::vector<int32_t> RandomPrompt(std::mt19937& rng, int n, int32_t n_vocab) {
  std::uniform_int_distribution<int32_t> d(0, n_vocab - 1);
  std::vector<int32_t> p(static_cast<size_t>(n));
  for (int32_t& t : p) t = d(rng);
  return p;
}

Status RunBenchModel(const BenchModelFlags& f) {
  SOBRE_ASSIGN_OR_RETURN(std::vector<int> threads, ParseList("--threads", f.threads));
  SOBRE_ASSIGN_OR_RETURN(std::vector<int> batches, ParseList("--batch", f.batch));
  if (f.prompt < 1 || f.gen < 1) return InvalidArgumentError("--prompt and --gen must be >= 1");
  const int max_batch = *std::max_element(batches.begin(), batches.end());
  const int ctx = f.prompt + f.gen + 8;
  std::optional<double> tdp;
  if (f.cpu_tdp_w > 0) tdp = f.cpu_tdp_w;
  auto [meter, method] = backend::MakeStepEnergyMeter(f.powercap_root, tdp);

  // Cold start: map the file, build the context, evaluate one prompt, sample one token.
  const auto cold_start = Clock::now();
  StatusOr<std::unique_ptr<engine::Model>> loaded = engine::Model::Load(f.path);
  if (!loaded.ok()) return loaded.status().WithContext("loading " + f.path);
  std::shared_ptr<const engine::Model> model = std::move(*loaded);
  const double load_s = std::chrono::duration<double>(Clock::now() - cold_start).count();
  const int32_t n_vocab = model->hparams().n_vocab;
  const uint64_t weight_bytes = model->weight_bytes_per_token();
  std::mt19937 rng(12345);

  Totals totals;
  std::mutex totals_mu;
  auto make_engine = [&](int t, int slots) -> StatusOr<std::unique_ptr<engine::Engine>> {
    engine::ModelDecoderOptions d;
    d.threads = t;
    d.slots = slots;
    d.ctx_per_slot = ctx;
    d.batch_size = std::max(512, slots);
    SOBRE_ASSIGN_OR_RETURN(std::unique_ptr<engine::Decoder> decoder,
                           engine::MakeModelDecoder(model, d));
    engine::EngineOptions eo;
    eo.batch_size = d.batch_size;
    eo.meter = meter.get();
    eo.on_step = [&](const engine::StepReport& r) {
      std::lock_guard<std::mutex> lock(totals_mu);
      const double s = std::chrono::duration<double>(r.duration).count();
      if (r.prompt_tokens > 0) {
        totals.prompt_s += s;
        totals.prompt_j += r.energy_j;
        totals.prompt_tokens += r.prompt_tokens + r.generated_tokens;
      } else {
        totals.gen_s += s;
        totals.gen_j += r.energy_j;
        totals.gen_tokens += r.generated_tokens;
      }
    };
    return engine::Engine::Create(std::move(decoder), nullptr, std::move(eo));
  };
  auto run = [&](engine::Engine& e, int batch, int gen) -> StatusOr<Totals> {
    {
      std::lock_guard<std::mutex> lock(totals_mu);
      totals = Totals{};
    }
    DoneCounter done;
    for (int i = 0; i < batch; ++i) {
      engine::GenerationRequest r;
      r.prompt = RandomPrompt(rng, f.prompt, n_vocab);
      r.sampling.temperature = 0;
      r.max_tokens = gen;
      r.sink = &done;
      SOBRE_RETURN_IF_ERROR(e.Submit(std::move(r)));
    }
    SOBRE_RETURN_IF_ERROR(done.WaitFor(batch));
    std::lock_guard<std::mutex> lock(totals_mu);
    return totals;
  };

  const int cold_threads = *std::max_element(threads.begin(), threads.end());
  double ttft_s = 0;
  {
    SOBRE_ASSIGN_OR_RETURN(std::unique_ptr<engine::Engine> e, make_engine(cold_threads, 1));
    SOBRE_ASSIGN_OR_RETURN(Totals t, run(*e, 1, 1));
    (void)t;
    ttft_s = std::chrono::duration<double>(Clock::now() - cold_start).count();
  }

  fmt::print("model        {} ({}, {:.1f} MB of weights read per token)\n", f.path,
             engine::ArchitectureName(model->hparams().arch), weight_bytes / 1e6);
  fmt::print("cold start   load (mmap) {:.1f} ms; time to first token of a {}-token prompt, from "
             "the start of the load, {} threads: {:.1f} ms\n",
             load_s * 1e3, f.prompt, cold_threads, ttft_s * 1e3);
  fmt::print("energy       {}\n", method.description);

  fmt::print("\nmemory-bandwidth bound (W = {:.1f} MB of weights per token)\n", weight_bytes / 1e6);
  std::vector<double> bound(threads.size());
  for (size_t i = 0; i < threads.size(); ++i) {
    const double bw = MeasureReadBandwidth(threads[i]);
    bound[i] = weight_bytes > 0 ? bw / static_cast<double>(weight_bytes) : 0;
    fmt::print("  {} threads: read bandwidth {:.1f} GB/s -> BW/W = {:.1f} tokens/s at batch 1\n",
               threads[i], bw / 1e9, bound[i]);
  }

  fmt::print("\n{:>7} {:>5} {:>12} {:>12} {:>12} {:>10} {:>12} {:>14} {:>10}\n", "threads", "batch",
             "prompt t/s", "gen t/s", "gen t/s/seq", "J/token", "prompt J/t", "kWh/1k gens",
             "gen/bound");
  for (size_t ti = 0; ti < threads.size(); ++ti) {
    SOBRE_ASSIGN_OR_RETURN(std::unique_ptr<engine::Engine> e, make_engine(threads[ti], max_batch));
    (void)run(*e, 1, 2);  // warm-up: page in the weights for this pool
    for (int b : batches) {
      SOBRE_ASSIGN_OR_RETURN(Totals t, run(*e, b, f.gen));
      const double prompt_tps = t.prompt_s > 0 ? t.prompt_tokens / t.prompt_s : 0;
      const double gen_tps = t.gen_s > 0 ? t.gen_tokens / t.gen_s : 0;
      const double j_per_gen_token = t.gen_tokens > 0 ? t.gen_j / t.gen_tokens : 0;
      const double j_per_prompt_token = t.prompt_tokens > 0 ? t.prompt_j / t.prompt_tokens : 0;
      const double kwh_per_1k = (t.prompt_j + t.gen_j) / b * 1000.0 / 3.6e6;
      fmt::print("{:>7} {:>5} {:>12.1f} {:>12.1f} {:>12.1f} {:>10.4f} {:>12.5f} {:>14.6f} {:>9.0f}%\n",
                 threads[ti], b, prompt_tps, gen_tps, gen_tps / b, j_per_gen_token,
                 j_per_prompt_token, kwh_per_1k,
                 bound[ti] > 0 ? 100.0 * gen_tps / b / bound[ti] : 0.0);
    }
  }
  fmt::print("\nOne generation = a {}-token prompt and {} generated tokens. 'gen/bound' compares each "
             "sequence's generation speed with BW/W measured above (reference/engine.md §5.3).\n"
             "Energy is {}.\n",
             f.prompt, f.gen, method.measured ? "measured (RAPL)" : "estimated (CPU time x power model)");
  return OkStatus();
}

}  // namespace

void AddBenchModelCommand(CLI::App& bench, CliContext& ctx) {
  auto flags = std::make_shared<BenchModelFlags>();
  CLI::App* cmd = bench.add_subcommand(
      "model", "Prompt and generation tokens/s, J/token and kWh per 1,000 generations of a GGUF model");
  cmd->add_option("file", flags->path, "GGUF model file")->required();
  cmd->add_option("--threads", flags->threads, "Comma-separated thread counts")->capture_default_str();
  cmd->add_option("--batch", flags->batch, "Comma-separated batch sizes (concurrent sequences)")
      ->capture_default_str();
  cmd->add_option("--prompt", flags->prompt, "Prompt tokens per generation")->capture_default_str();
  cmd->add_option("--gen", flags->gen, "Generated tokens per generation")->capture_default_str();
  cmd->add_option("--powercap-root", flags->powercap_root, "Where RAPL counters are looked for")
      ->capture_default_str();
  cmd->add_option("--cpu-tdp-w", flags->cpu_tdp_w,
                  "CPU TDP in watts for the power model (default: hardware catalogue)");
  cmd->callback([flags, &ctx] {
    Status st = RunBenchModel(*flags);
    ctx.exit_code = st.ok() ? kExitOk : ReportError(kCommand, st);
  });
}

}  // namespace sobre::cli
