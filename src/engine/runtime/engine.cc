// The batching loop. Each step: take new requests from the queue, admit them into free slots
// (reusing the longest cached prefix), build one batch with the next token of every generating
// slot plus chunks of pending prompts, decode it once, sample per slot, and share the step's
// energy among the requests by the tokens each had in it.
#include "engine/runtime/engine.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

namespace sobre::engine {
namespace {

using Clock = std::chrono::steady_clock;

struct PendingGeneration {
  GenerationRequest request;
  Clock::time_point submitted;
};

struct PendingEmbedding {
  std::vector<int32_t> tokens;
  EmbeddingSink* sink = nullptr;
  std::shared_ptr<void> owner;
};

struct Slot {
  int32_t id = 0;
  // Tokens whose KV is in the cache for this sequence: kept after the request ends, for reuse.
  std::vector<int32_t> cached;
  uint64_t last_used = 0;

  bool active = false;
  GenerationRequest request;
  std::unique_ptr<Sampler> sampler;
  Clock::time_point submitted;
  size_t prompt_done = 0;  // Prompt tokens whose KV is in the cache.
  bool generating = false;  // next_token is sampled and waits to be evaluated.
  int32_t next_token = 0;
  GenerationResult result;
  int step_tokens = 0;     // Tokens of this slot in the current step.
  int logits_row = -1;     // Row of its logits in the current step, or -1.
};

size_t CommonPrefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

}  // namespace

const char* FinishReasonName(FinishReason r) {
  switch (r) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCancelled:
      return "cancelled";
    case FinishReason::kError:
      return "error";
  }
  return "error";
}

class Engine::Impl {
 public:
  Impl(std::unique_ptr<Decoder> decoder, std::unique_ptr<Encoder> encoder, EngineOptions options)
      : decoder_(std::move(decoder)), encoder_(std::move(encoder)), options_(std::move(options)) {
    if (decoder_) {
      n_vocab_ = decoder_->n_vocab();
      n_ctx_ = decoder_->n_ctx();
      slots_.resize(static_cast<size_t>(decoder_->n_seq()));
      for (size_t i = 0; i < slots_.size(); ++i) {
        slots_[i].id = static_cast<int32_t>(i);
        slots_[i].sampler = std::make_unique<Sampler>(n_vocab_);
      }
      options_.batch_size = std::max<int32_t>(options_.batch_size, decoder_->n_seq());
      batch_.reserve(static_cast<size_t>(options_.batch_size));
      prefill_order_.reserve(slots_.size());
      logits_.resize(slots_.size() * static_cast<size_t>(n_vocab_));
      is_eog_.assign(static_cast<size_t>(n_vocab_), false);
      for (int32_t t : options_.end_of_generation) {
        if (t >= 0 && t < n_vocab_) is_eog_[static_cast<size_t>(t)] = true;
      }
    }
    thread_ = std::jthread([this] { Run(); });
  }

  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  Status Submit(GenerationRequest request) {
    if (!decoder_) return InvalidArgumentError("this model does not generate text");
    if (request.sink == nullptr) return InvalidArgumentError("generation request without a sink");
    if (request.prompt.empty()) return InvalidArgumentError("the prompt is empty");
    if (static_cast<int64_t>(request.prompt.size()) > n_ctx_) {
      return InvalidArgumentError("the prompt has " + std::to_string(request.prompt.size()) +
                                  " tokens; the context holds " + std::to_string(n_ctx_));
    }
    if (request.max_tokens < 0) return InvalidArgumentError("max_tokens must be >= 0");
    for (size_t i = 0; i < request.prompt.size(); ++i) {
      if (request.prompt[i] < 0 || request.prompt[i] >= n_vocab_) {
        return InvalidArgumentError("prompt token " + std::to_string(request.prompt[i]) +
                                    " at position " + std::to_string(i) +
                                    " is outside the vocabulary of " + std::to_string(n_vocab_));
      }
    }
    SOBRE_RETURN_IF_ERROR(ValidateSamplingParams(request.sampling));
    {
      std::lock_guard<std::mutex> lock(mu_);
      incoming_.push_back(PendingGeneration{std::move(request), Clock::now()});
    }
    cv_.notify_one();
    return OkStatus();
  }

  Status SubmitEmbedding(std::vector<int32_t> tokens, EmbeddingSink* sink,
                         std::shared_ptr<void> owner) {
    if (!encoder_) return InvalidArgumentError("this model does not compute embeddings");
    if (sink == nullptr) return InvalidArgumentError("embedding request without a sink");
    if (tokens.empty()) return InvalidArgumentError("the input is empty");
    if (static_cast<int64_t>(tokens.size()) > encoder_->n_ctx()) {
      return InvalidArgumentError("the input has " + std::to_string(tokens.size()) +
                                  " tokens; the model accepts at most " +
                                  std::to_string(encoder_->n_ctx()));
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      embeddings_.push_back(PendingEmbedding{std::move(tokens), sink, std::move(owner)});
    }
    cv_.notify_one();
    return OkStatus();
  }

  int active_slots() const { return active_.load(); }
  int32_t n_vocab() const { return decoder_ ? n_vocab_ : 0; }
  int32_t n_ctx() const { return decoder_ ? n_ctx_ : 0; }
  int32_t n_slots() const { return static_cast<int32_t>(slots_.size()); }

 private:
  void Run();
  bool Idle() const;
  void Admit();
  bool AdmitOne(PendingGeneration& p);
  void Finish(Slot& slot, FinishReason reason, Status status = OkStatus());
  void RunEmbedding(PendingEmbedding job);
  void Step();

  std::unique_ptr<Decoder> decoder_;
  std::unique_ptr<Encoder> encoder_;
  EngineOptions options_;
  int32_t n_vocab_ = 0;
  int32_t n_ctx_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                      // Guarded by mu_.
  std::deque<PendingGeneration> incoming_;     // Guarded by mu_.
  std::deque<PendingEmbedding> embeddings_;    // Guarded by mu_.

  // Engine thread only.
  std::deque<PendingGeneration> waiting_;
  std::vector<Slot> slots_;
  std::vector<DecodeToken> batch_;
  std::vector<Slot*> prefill_order_;
  std::vector<float> logits_;
  std::vector<bool> is_eog_;
  uint64_t use_counter_ = 0;
  std::atomic<int> active_{0};

  std::jthread thread_;  // Last: started after every member it uses exists.
};

bool Engine::Impl::Idle() const {
  if (!waiting_.empty()) return false;
  for (const Slot& s : slots_) {
    if (s.active) return false;
  }
  return true;
}

void Engine::Impl::Run() {
  for (;;) {
    std::deque<PendingEmbedding> embeddings;
    bool stopping = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (Idle()) {
        cv_.wait(lock, [&] { return stopping_ || !incoming_.empty() || !embeddings_.empty(); });
      }
      stopping = stopping_;
      while (!incoming_.empty()) {
        waiting_.push_back(std::move(incoming_.front()));
        incoming_.pop_front();
      }
      embeddings.swap(embeddings_);
    }
    if (stopping) {
      for (PendingEmbedding& e : embeddings) {
        e.sink->OnEmbedding(CancelledError("the engine is shutting down"), 0);
      }
      for (PendingGeneration& p : waiting_) {
        GenerationResult r;
        r.finish = FinishReason::kCancelled;
        r.prompt_tokens = static_cast<int32_t>(p.request.prompt.size());
        p.request.sink->OnDone(r);
      }
      waiting_.clear();
      for (Slot& s : slots_) {
        if (s.active) Finish(s, FinishReason::kCancelled);
      }
      return;
    }
    // Embeddings are short single passes; serve them between decode steps.
    for (PendingEmbedding& e : embeddings) RunEmbedding(std::move(e));
    if (decoder_) {
      Admit();
      Step();
    }
  }
}

void Engine::Impl::RunEmbedding(PendingEmbedding job) {
  if (options_.meter) options_.meter->Begin();
  const Clock::time_point start = Clock::now();
  StatusOr<std::vector<float>> v = encoder_->Embed(job.tokens);
  const double energy = options_.meter ? options_.meter->EndJoules() : 0.0;
  if (options_.on_step) {
    StepReport report;
    report.duration = Clock::now() - start;
    report.prompt_tokens = static_cast<int>(job.tokens.size());
    report.sequences = 1;
    report.energy_j = energy;
    options_.on_step(report);
  }
  job.sink->OnEmbedding(std::move(v), energy);
}

void Engine::Impl::Admit() {
  // Requests whose client left before admission finish without touching a slot.
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (it->request.cancelled && it->request.cancelled->load()) {
      GenerationResult r;
      r.finish = FinishReason::kCancelled;
      r.prompt_tokens = static_cast<int32_t>(it->request.prompt.size());
      r.total = Clock::now() - it->submitted;
      it->request.sink->OnDone(r);
      it = waiting_.erase(it);
    } else {
      ++it;
    }
  }
  while (!waiting_.empty() && AdmitOne(waiting_.front())) waiting_.pop_front();
}

bool Engine::Impl::AdmitOne(PendingGeneration& p) {
  const std::vector<int32_t>& prompt = p.request.prompt;
  // At least the last prompt token is evaluated, for the logits of the first sampled token.
  const size_t max_reuse = prompt.size() - 1;
  // The source is the slot, busy or free, holding the longest prefix of the prompt; ties prefer a
  // free slot, then one that would lose nothing by being truncated to that prefix.
  Slot* source = nullptr;
  size_t reuse = 0;
  bool any_free = false;
  for (Slot& s : slots_) {
    any_free |= !s.active;
    const size_t len = std::min(CommonPrefix(s.cached, prompt), max_reuse);
    if (len == 0) continue;
    const auto rank = [&](const Slot& x) { return std::make_pair(!x.active, x.cached.size() == len); };
    if (source == nullptr || len > reuse || (len == reuse && rank(s) > rank(*source))) {
      source = &s;
      reuse = len;
    }
  }
  if (!any_free) return false;
  // The victim, used when the prefix must be copied: the least recently used free slot other than
  // the source, so that the source keeps its longer cached text for later requests.
  Slot* victim = nullptr;
  for (Slot& s : slots_) {
    if (s.active || &s == source) continue;
    if (victim == nullptr || s.last_used < victim->last_used) victim = &s;
  }
  Slot* slot = nullptr;
  Status st;
  if (source != nullptr && !source->active &&
      (source->cached.size() == reuse || victim == nullptr)) {
    slot = source;  // Reuse in place.
    st = decoder_->Truncate(slot->id, static_cast<int32_t>(reuse));
    if (st.ok()) slot->cached.resize(reuse);
  } else if (source != nullptr) {
    slot = victim;
    st = decoder_->CopyPrefix(source->id, slot->id, static_cast<int32_t>(reuse));
    if (st.ok()) {
      slot->cached.assign(source->cached.begin(),
                          source->cached.begin() + static_cast<ptrdiff_t>(reuse));
    }
  } else {
    slot = victim;
    reuse = 0;
    st = decoder_->Truncate(slot->id, 0);
    if (st.ok()) slot->cached.clear();
  }
  if (!st.ok()) {
    // The cache of that slot is in an unknown state: start from nothing.
    reuse = 0;
    slot->cached.clear();
    st = decoder_->Truncate(slot->id, 0);
    if (!st.ok()) {
      GenerationResult r;
      r.finish = FinishReason::kError;
      r.status = st.WithContext("preparing the KV cache");
      r.prompt_tokens = static_cast<int32_t>(prompt.size());
      p.request.sink->OnDone(r);
      return true;
    }
  }
  Status reset = slot->sampler->Reset(p.request.sampling, prompt);
  if (!reset.ok()) {
    GenerationResult r;
    r.finish = FinishReason::kError;
    r.status = reset;
    r.prompt_tokens = static_cast<int32_t>(prompt.size());
    p.request.sink->OnDone(r);
    return true;
  }
  slot->active = true;
  slot->request = std::move(p.request);
  slot->submitted = p.submitted;
  slot->prompt_done = reuse;
  slot->generating = false;
  slot->result = GenerationResult{};
  slot->result.prompt_tokens = static_cast<int32_t>(slot->request.prompt.size());
  slot->result.cached_tokens = static_cast<int32_t>(reuse);
  slot->result.queued = Clock::now() - p.submitted;
  slot->last_used = ++use_counter_;
  active_.fetch_add(1);
  return true;
}

void Engine::Impl::Finish(Slot& slot, FinishReason reason, Status status) {
  slot.result.finish = reason;
  slot.result.status = std::move(status);
  slot.result.energy_measured = options_.meter != nullptr && options_.meter->measured();
  slot.result.total = Clock::now() - slot.submitted;
  slot.active = false;
  slot.generating = false;
  slot.last_used = ++use_counter_;
  GenerationRequest done = std::move(slot.request);  // Holds `owner` across OnDone.
  slot.request = GenerationRequest{};
  active_.fetch_sub(1);
  done.sink->OnDone(slot.result);
}

void Engine::Impl::Step() {
  for (Slot& s : slots_) {
    if (s.active && s.request.cancelled && s.request.cancelled->load()) {
      Finish(s, FinishReason::kCancelled);
    }
  }
  batch_.clear();
  int rows = 0;
  int prompt_tokens = 0;
  int generated_tokens = 0;
  for (Slot& s : slots_) {
    s.step_tokens = 0;
    s.logits_row = -1;
    if (!s.active || !s.generating) continue;
    batch_.push_back(DecodeToken{s.next_token, static_cast<int32_t>(s.cached.size()), s.id, true});
    s.step_tokens = 1;
    s.logits_row = rows++;
    ++generated_tokens;
  }
  // Prompt chunks fill the rest of the batch, oldest admission first so that no prompt starves.
  std::vector<Slot*>& order = prefill_order_;
  order.clear();
  for (Slot& s : slots_) {
    if (s.active && !s.generating) order.push_back(&s);
  }
  std::sort(order.begin(), order.end(),
            [](const Slot* a, const Slot* b) { return a->last_used < b->last_used; });
  for (Slot* s : order) {
    const size_t budget = static_cast<size_t>(options_.batch_size) - batch_.size();
    if (budget == 0) break;
    const std::vector<int32_t>& prompt = s->request.prompt;
    const size_t n = std::min(budget, prompt.size() - s->prompt_done);
    for (size_t i = 0; i < n; ++i) {
      const size_t p = s->prompt_done + i;
      const bool last = p + 1 == prompt.size();
      batch_.push_back(DecodeToken{prompt[p], static_cast<int32_t>(p), s->id, last});
      if (last) s->logits_row = rows++;
    }
    s->step_tokens = static_cast<int>(n);
    prompt_tokens += static_cast<int>(n);
  }
  if (batch_.empty()) return;

  if (options_.meter) options_.meter->Begin();
  const Clock::time_point start = Clock::now();
  Status st = decoder_->Decode(batch_, std::span<float>(logits_.data(),
                                                         static_cast<size_t>(rows) *
                                                             static_cast<size_t>(n_vocab_)));
  if (!st.ok()) {
    const double energy = options_.meter ? options_.meter->EndJoules() : 0.0;
    (void)energy;
    for (Slot& s : slots_) {
      if (!s.active || s.step_tokens == 0) continue;
      s.cached.clear();
      (void)decoder_->Truncate(s.id, 0);
      Finish(s, FinishReason::kError, st.WithContext("decoding"));
    }
    return;
  }
  // The KV of every evaluated token is now cached.
  for (const DecodeToken& t : batch_) slots_[static_cast<size_t>(t.seq)].cached.push_back(t.token);
  for (Slot* s : order) s->prompt_done += static_cast<size_t>(s->step_tokens);

  // Sample every slot that got logits.
  for (Slot& s : slots_) {
    if (s.logits_row < 0) continue;
    const std::span<const float> row(
        logits_.data() + static_cast<size_t>(s.logits_row) * static_cast<size_t>(n_vocab_),
        static_cast<size_t>(n_vocab_));
    const SampledToken tok = s.sampler->Sample(row);
    s.sampler->Accept(tok.token);
    ++s.result.completion_tokens;
    if (s.result.completion_tokens == 1) s.result.first_token = Clock::now() - s.submitted;
    const bool eog = is_eog_[static_cast<size_t>(tok.token)];
    s.next_token = tok.token;
    s.generating = true;
    s.step_tokens = std::max(s.step_tokens, 1);
    bool more = s.request.sink->OnToken(tok, eog);
    if (eog || !more) {
      s.logits_row = -2;  // Marks "finish with stop" after the energy is shared.
    } else if ((s.request.max_tokens > 0 && s.result.completion_tokens >= s.request.max_tokens) ||
               static_cast<int32_t>(s.cached.size()) >= n_ctx_) {
      s.logits_row = -3;  // Finish with length.
    }
  }
  const double energy = options_.meter ? options_.meter->EndJoules() : 0.0;
  const int total_tokens = static_cast<int>(batch_.size());
  int sequences = 0;
  for (Slot& s : slots_) {
    if (!s.active || s.step_tokens == 0) continue;
    ++sequences;
    s.result.energy_j += energy * s.step_tokens / total_tokens;
  }
  if (options_.on_step) {
    StepReport report;
    report.duration = Clock::now() - start;
    report.prompt_tokens = prompt_tokens;
    report.generated_tokens = generated_tokens;
    report.sequences = sequences;
    report.energy_j = energy;
    options_.on_step(report);
  }
  for (Slot& s : slots_) {
    if (!s.active) continue;
    if (s.logits_row == -2) Finish(s, FinishReason::kStop);
    if (s.logits_row == -3) Finish(s, FinishReason::kLength);
  }
}

StatusOr<std::unique_ptr<Engine>> Engine::Create(std::unique_ptr<Decoder> decoder,
                                                 std::unique_ptr<Encoder> encoder,
                                                 EngineOptions options) {
  if (!decoder && !encoder) return InvalidArgumentError("the engine needs a decoder or an encoder");
  if (options.batch_size <= 0) {
    return InvalidArgumentError("batch_size must be > 0, got " +
                                std::to_string(options.batch_size));
  }
  if (decoder && (decoder->n_seq() <= 0 || decoder->n_ctx() <= 0 || decoder->n_vocab() <= 0)) {
    return InvalidArgumentError("the decoder needs at least one slot, position and token");
  }
  return std::unique_ptr<Engine>(
      new Engine(std::make_unique<Impl>(std::move(decoder), std::move(encoder),
                                        std::move(options))));
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;
Status Engine::Submit(GenerationRequest request) { return impl_->Submit(std::move(request)); }
Status Engine::SubmitEmbedding(std::vector<int32_t> tokens, EmbeddingSink* sink,
                               std::shared_ptr<void> owner) {
  return impl_->SubmitEmbedding(std::move(tokens), sink, std::move(owner));
}
int Engine::active_slots() const { return impl_->active_slots(); }
int32_t Engine::n_vocab() const { return impl_->n_vocab(); }
int32_t Engine::n_ctx() const { return impl_->n_ctx(); }
int32_t Engine::n_slots() const { return impl_->n_slots(); }

}  // namespace sobre::engine
