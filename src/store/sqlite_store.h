// The embedded Store: one SQLite file in WAL mode (or a private in-memory database), for a single
// gateway process or tools reading alongside it.
#ifndef SOBRE_STORE_SQLITE_STORE_H_
#define SOBRE_STORE_SQLITE_STORE_H_

#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "store/store.h"

namespace sobre::store {
namespace internal {
class LedgerWriter;
class SqliteDb;
}  // namespace internal

// Thread contract: every method is thread-safe; each connection is used under its own mutex,
// and budget changes run in BEGIN IMMEDIATE transactions so that other connections and
// processes on the same file are serialised by SQLite's write lock.
class SqliteStore final : public Store {
 public:
  // Opens `path` (a file, created if missing, or ":memory:") and applies missing migrations.
  // `url` names the store in error messages.
  static StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path,
                                                     const std::string& url,
                                                     const StoreOptions& options);
  // Commits the queued ledger rows, then closes the connections.
  ~SqliteStore() override;

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
  // A connection and the mutex that serialises its use.
  struct Connection {
    std::mutex mu;
    std::unique_ptr<internal::SqliteDb> db;
  };

  SqliteStore() = default;
  Status Migrate();
  Status CommitLedger(std::span<const LedgerRow> rows);
  StatusOr<ApiKey> KeyByName(internal::SqliteDb& db, std::string_view name);

  std::string url_;
  Connection main_;
  // File databases: a second connection for the ledger writer, so that its commits wait on
  // SQLite's lock rather than on main_.mu. In-memory databases cannot be shared across
  // connections: the writer uses main_ (ledger_ == &main_).
  std::unique_ptr<Connection> ledger_own_;
  Connection* ledger_ = &main_;
  std::unique_ptr<internal::LedgerWriter> writer_;  // Last: stopped first.
};

}  // namespace sobre::store

#endif  // SOBRE_STORE_SQLITE_STORE_H_
