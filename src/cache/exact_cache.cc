#include "cache/exact_cache.h"

#include <openssl/rand.h>

#include <random>
#include <utility>

#include "core/logging.h"

namespace sobre::cache {
namespace {

// Per-entry memory beyond its strings: the entry itself, its list node, its index node and key.
constexpr size_t kEntryOverheadBytes = sizeof(ExactCacheEntry) + 128;

std::string IndexKey(std::string_view tenant, std::string_view key) {
  std::string k(tenant);
  k += '\0';
  k += key;
  return k;
}

// 128 random bits as hex: unique across replicas without coordination.
std::string NewEntryId() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    static thread_local std::mt19937_64 fallback{std::random_device{}()};
    for (unsigned char& b : bytes) b = static_cast<unsigned char>(fallback());
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  id.reserve(32);
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 0xf];
  }
  return id;
}

}  // namespace

size_t ExactCache::EntryBytes(const ExactCacheEntry& e) {
  return kEntryOverheadBytes + 2 * e.id.size() + 2 * (e.key.size() + e.tenant.size()) +
         e.model.size() + e.endpoint.size() + e.body.size() + e.method.size() +
         e.semantic_scope.size() + e.query_text.size() + e.embedder.size() +
         e.embedding.size() * sizeof(float);
}

ExactCache::ExactCache(store::Store* store, const ExactCacheOptions& options)
    : store_(store), options_(options) {
  if (store_ != nullptr) {
    writer_ = std::jthread([this](std::stop_token stop) { WriterLoop(stop); });
  }
}

StatusOr<std::unique_ptr<ExactCache>> ExactCache::Open(store::Store* store,
                                                      const ExactCacheOptions& options,
                                                      store::TimePoint now) {
  std::vector<ExactCacheEntry> loaded;
  if (store != nullptr) {
    store::CacheEntryFilter expired;
    expired.expired_at = now;
    auto purged = store->PurgeCacheEntries(expired);
    if (!purged.ok()) return purged.status().WithContext("exact cache: dropping expired entries");
    auto rows = store->LoadCacheEntries(now, options.load_limit);
    if (!rows.ok()) return rows.status().WithContext("exact cache: loading entries");
    loaded = std::move(rows).value();
  }
  std::unique_ptr<ExactCache> cache(new ExactCache(store, options));
  std::lock_guard lock(cache->mu_);
  // Newest first: each goes to the back, so the oldest loaded is the first evicted.
  for (ExactCacheEntry& e : loaded) {
    const size_t size = EntryBytes(e);
    if (size > options.max_entry_bytes) continue;
    if (cache->bytes_ + size > options.max_bytes) break;
    std::string index_key = IndexKey(e.tenant, e.key);
    if (cache->index_.count(index_key) != 0 || cache->by_id_.count(e.id) != 0) continue;
    cache->bytes_ += size;
    cache->lru_.push_back(std::move(e));
    cache->index_.emplace(std::move(index_key), std::prev(cache->lru_.end()));
    cache->by_id_.emplace(cache->lru_.back().id, std::prev(cache->lru_.end()));
  }
  return cache;
}

ExactCache::~ExactCache() {
  if (writer_.joinable()) {
    writer_.request_stop();
    queue_cv_.notify_all();
    writer_.join();
  }
}

void ExactCache::RemoveLocked(Lru::iterator it) {
  bytes_ -= EntryBytes(*it);
  index_.erase(IndexKey(it->tenant, it->key));
  by_id_.erase(it->id);
  if (observer_) observer_(std::span<const std::string>(&it->id, 1));
  lru_.erase(it);
}

void ExactCache::InsertFrontLocked(ExactCacheEntry entry, std::string index_key) {
  bytes_ += EntryBytes(entry);
  lru_.push_front(std::move(entry));
  index_.emplace(std::move(index_key), lru_.begin());
  by_id_.emplace(lru_.front().id, lru_.begin());
}

void ExactCache::SetRemovalObserver(RemovalObserver observer) {
  std::lock_guard lock(mu_);
  observer_ = std::move(observer);
}

bool ExactCache::ContainsId(std::string_view id) const {
  std::lock_guard lock(mu_);
  return by_id_.count(std::string(id)) != 0;
}

std::vector<ExactCacheEntry> ExactCache::SemanticEntries() const {
  std::lock_guard lock(mu_);
  std::vector<ExactCacheEntry> out;
  for (auto it = lru_.rbegin(); it != lru_.rend(); ++it) {
    if (!it->semantic_scope.empty() && !it->embedding.empty()) out.push_back(*it);
  }
  return out;
}

std::optional<ExactCacheEntry> ExactCache::GetById(std::string_view id, std::string_view tenant,
                                                   store::TimePoint now) {
  std::lock_guard lock(mu_);
  auto found = by_id_.find(std::string(id));
  if (found == by_id_.end() || found->second->tenant != tenant) return std::nullopt;
  return TakeLocked(found->second, now);
}

uint64_t ExactCache::EnqueueLocked(Write write) {
  if (store_ == nullptr) return 0;
  std::lock_guard lock(queue_mu_);
  write.seq = ++queued_seq_;
  queue_.push_back(std::move(write));
  queue_cv_.notify_one();
  return queued_seq_;
}

std::optional<ExactCacheEntry> ExactCache::TakeLocked(Lru::iterator it, store::TimePoint now) {
  if (it->expires <= now) {
    Write drop;
    drop.delete_ids.push_back(it->id);
    RemoveLocked(it);
    EnqueueLocked(std::move(drop));
    ++counters_.expirations;
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it);
  ++counters_.hits;
  counters_.avoided_energy_wh += it->energy_wh;
  counters_.avoided_co2e_g += it->co2e_g;
  return *it;
}

std::optional<ExactCacheEntry> ExactCache::Get(std::string_view key, std::string_view tenant,
                                               store::TimePoint now) {
  std::lock_guard lock(mu_);
  auto found = index_.find(IndexKey(tenant, key));
  std::optional<ExactCacheEntry> entry;
  if (found != index_.end() && found->second->tenant == tenant) {
    entry = TakeLocked(found->second, now);
  }
  if (!entry.has_value()) ++counters_.misses;
  return entry;
}

std::optional<std::string> ExactCache::Put(ExactCacheEntry entry, store::TimePoint now) {
  if (entry.id.empty()) entry.id = NewEntryId();
  entry.created = now;
  entry.expires = now + options_.ttl;
  const size_t size = EntryBytes(entry);
  if (size > options_.max_entry_bytes || size > options_.max_bytes) return std::nullopt;
  std::string id = entry.id;

  std::lock_guard lock(mu_);
  std::string index_key = IndexKey(entry.tenant, entry.key);
  // The store's upsert on (tenant, key) replaces the old row: no delete to queue for it.
  if (auto old = index_.find(index_key); old != index_.end()) RemoveLocked(old->second);
  // An id already held under another key (a caller reusing ids) is dropped first.
  if (auto same_id = by_id_.find(entry.id); same_id != by_id_.end()) {
    RemoveLocked(same_id->second);
  }
  Write write;
  write.put = entry;
  InsertFrontLocked(std::move(entry), std::move(index_key));
  while (bytes_ > options_.max_bytes) {  // Never reaches the new entry: size <= max_bytes.
    Lru::iterator victim = std::prev(lru_.end());
    write.delete_ids.push_back(victim->id);
    RemoveLocked(victim);
    ++counters_.evictions;
  }
  EnqueueLocked(std::move(write));
  return id;
}

StatusOr<int64_t> ExactCache::Purge(const std::optional<std::string>& tenant,
                                    const std::optional<std::string>& model) {
  std::future<StatusOr<int64_t>> stored;
  int64_t removed = 0;
  {
    std::lock_guard lock(mu_);
    for (auto it = lru_.begin(); it != lru_.end();) {
      auto next = std::next(it);
      if ((!tenant || it->tenant == *tenant) && (!model || it->model == *model)) {
        RemoveLocked(it);
        ++removed;
      }
      it = next;
    }
    if (store_ == nullptr) return removed;
    Write write;
    write.purge.emplace();
    write.purge->tenant = tenant;
    write.purge->model = model;
    write.purged = std::make_shared<std::promise<StatusOr<int64_t>>>();
    stored = write.purged->get_future();
    EnqueueLocked(std::move(write));
  }
  return stored.get();
}

Status ExactCache::Flush() {
  if (store_ == nullptr) return OkStatus();
  std::unique_lock lock(queue_mu_);
  const uint64_t target = queued_seq_;
  applied_cv_.wait(lock, [&] { return applied_seq_ >= target; });
  Status error = std::move(first_error_);
  first_error_ = OkStatus();
  return error;
}

ExactCacheStats ExactCache::Stats() const {
  ExactCacheStats stats;
  {
    std::lock_guard lock(mu_);
    stats = counters_;
    stats.entries = lru_.size();
    stats.bytes = bytes_;
  }
  std::lock_guard queue_lock(queue_mu_);
  stats.store_errors = store_errors_;
  return stats;
}

void ExactCache::Apply(Write& write) {
  Status status;
  if (write.put) status = store_->PutCacheEntry(*write.put);
  if (!write.delete_ids.empty()) {
    auto deleted = store_->DeleteCacheEntries(write.delete_ids);
    if (!deleted.ok() && status.ok()) status = deleted.status();
  }
  if (write.purge) {
    auto purged = store_->PurgeCacheEntries(*write.purge);
    if (!purged.ok() && status.ok()) status = purged.status();
    write.purged->set_value(std::move(purged));
  }
  if (!status.ok()) {
    SOBRE_LOG(kWarning, "exact cache: store write failed: {}", status.ToString());
    std::lock_guard lock(queue_mu_);
    ++store_errors_;
    if (first_error_.ok()) first_error_ = status;
  }
}

void ExactCache::WriterLoop(std::stop_token stop) {
  std::unique_lock lock(queue_mu_);
  for (;;) {
    queue_cv_.wait(lock, stop, [&] { return !queue_.empty(); });
    if (queue_.empty()) return;  // Stopped with nothing left to write.
    std::deque<Write> batch;
    batch.swap(queue_);
    lock.unlock();
    for (Write& write : batch) Apply(write);
    lock.lock();
    applied_seq_ = batch.back().seq;
    applied_cv_.notify_all();
  }
}

}  // namespace sobre::cache
