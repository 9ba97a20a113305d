// The shared Store: one PostgreSQL database used by several gateway replicas at once. Budgets
// are checked and reserved under row locks, so replicas never overspend a key together.
#ifndef SOBRE_STORE_POSTGRES_STORE_H_
#define SOBRE_STORE_POSTGRES_STORE_H_

#include <memory>
#include <span>
#include <string>
#include <utility>

#include "store/store.h"

namespace sobre::store {
namespace internal {
class LedgerWriter;
class PgConn;
class PgPool;
}  // namespace internal

// Thread contract: every method is thread-safe; calls borrow a connection from a small pool
// (one thread per connection at a time) and the ledger writer owns a connection of its own.
class PostgresStore final : public Store {
 public:
  // Connects to `url` (a libpq URI: postgres://user[:password]@host[:port]/db?...) and applies
  // missing migrations under an advisory lock, so replicas starting together migrate once.
  static StatusOr<std::unique_ptr<PostgresStore>> Open(const std::string& url,
                                                       const StoreOptions& options);
  // Commits the queued ledger rows, then closes the connections.
  ~PostgresStore() override;

  StatusOr<std::pair<ApiKey, std::string>> CreateKey(const NewKey& key) override;
  StatusOr<ApiKey> UpsertKey(const NewKey& key, std::string_view secret) override;
  StatusOr<std::optional<ApiKey>> FindKeyBySecret(std::string_view secret) override;
  StatusOr<std::vector<ApiKey>> ListKeys() override;
  Status RevokeKey(std::string_view name) override;
  StatusOr<int64_t> CountLiveKeys() override;
  StatusOr<int64_t> CountAllKeys() override;

  StatusOr<Reservation> Reserve(const ApiKey& key, const Cost& upper_bound, TimePoint now) override;
  Status Settle(int64_t reservation_id, const Cost& actual) override;
  StatusOr<std::pair<Cost, Cost>> Usage(const ApiKey& key, TimePoint now) override;

  void Append(LedgerRow row) override;
  Status Flush() override;
  StatusOr<std::vector<LedgerRow>> ReadLedger(TimePoint from, TimePoint to, size_t limit) override;

  Status PutCacheEntry(const CacheEntryRecord& entry) override;
  StatusOr<int64_t> DeleteCacheEntries(std::span<const std::string> ids) override;
  StatusOr<std::vector<CacheEntryRecord>> LoadCacheEntries(TimePoint now, size_t limit) override;
  StatusOr<int64_t> PurgeCacheEntries(const CacheEntryFilter& filter) override;

 private:
  PostgresStore() = default;
  Status Migrate(internal::PgConn& conn);
  Status CommitLedger(std::span<const LedgerRow> rows);
  // Runs `attempt` on a pooled connection, again (up to a few times) when PostgreSQL aborted it
  // for a deadlock or serialization failure.
  template <typename F>
  auto WithRetries(F&& attempt) -> decltype(attempt(std::declval<internal::PgConn&>()));

  std::string url_;   // As given: it may hold a password.
  std::string what_;  // "postgres store '<url without password>'".
  std::unique_ptr<internal::PgPool> pool_;
  std::unique_ptr<internal::PgConn> ledger_conn_;   // Used by the writer thread only.
  std::unique_ptr<internal::LedgerWriter> writer_;  // Last: stopped first.
};

}  // namespace sobre::store

#endif  // SOBRE_STORE_POSTGRES_STORE_H_
