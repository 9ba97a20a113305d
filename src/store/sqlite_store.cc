#include "store/sqlite_store.h"

#include <sys/stat.h>

#include <cerrno>
#include <string>
#include <utility>

#include "core/logging.h"
#include "store/internal/budget.h"
#include "store/internal/keys.h"
#include "store/internal/ledger_writer.h"
#include "store/internal/schema.h"
#include "store/internal/sqlite_db.h"

namespace sobre::store {
namespace {

using internal::SqliteDb;
using internal::SqliteStmt;
using internal::SqliteTxn;

// How long a statement waits for another connection's write lock before giving up.
constexpr std::chrono::milliseconds kBusyTimeout(5000);

std::string Cat(std::string_view a, std::string_view b, std::string_view c = "") {
  std::string s(a);
  s += b;
  s += c;
  return s;
}

// Reads a row selected with kKeyColumns.
ApiKey ReadKey(const SqliteStmt& s) {
  ApiKey k;
  k.id = s.Int(0);
  k.name = s.Text(1);
  k.tenant = s.Text(2);
  k.prefix = s.Text(3);
  k.admin = s.Int(4) != 0;
  k.revoked = s.Int(5) != 0;
  k.limits.tokens_per_day = s.OptionalInt(6);
  k.limits.tokens_per_month = s.OptionalInt(7);
  k.limits.wh_per_day = s.OptionalDouble(8);
  k.limits.wh_per_month = s.OptionalDouble(9);
  k.limits.co2e_g_per_day = s.OptionalDouble(10);
  k.limits.co2e_g_per_month = s.OptionalDouble(11);
  k.limits.requests_per_minute = s.OptionalInt(12);
  k.limits.tokens_per_minute = s.OptionalInt(13);
  k.created = internal::FromUnixMicros(s.Int(14));
  return k;
}

// Binds a key's tenant and limits to parameters first..first+9 (tenant, admin, 8 limits).
void BindKeyFields(SqliteStmt& s, int first, const NewKey& key) {
  const Limits& l = key.limits;
  s.Bind(first, internal::TenantOf(key))
      .Bind(first + 1, int64_t{key.admin ? 1 : 0})
      .Bind(first + 2, l.tokens_per_day)
      .Bind(first + 3, l.tokens_per_month)
      .Bind(first + 4, l.wh_per_day)
      .Bind(first + 5, l.wh_per_month)
      .Bind(first + 6, l.co2e_g_per_day)
      .Bind(first + 7, l.co2e_g_per_month)
      .Bind(first + 8, l.requests_per_minute)
      .Bind(first + 9, l.tokens_per_minute);
}

constexpr std::string_view kInsertKey =
    "INSERT INTO api_keys (name, secret_sha256, prefix, tenant, admin, tokens_per_day, "
    "tokens_per_month, wh_per_day, wh_per_month, co2e_g_per_day, co2e_g_per_month, "
    "requests_per_minute, tokens_per_minute, created_us) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";

// A changed secret revives a revoked key (the operator rotated it); the same secret keeps a
// revocation made through the admin API.
constexpr std::string_view kUpsertKeySuffix =
    " ON CONFLICT (name) DO UPDATE SET "
    "revoked = CASE WHEN api_keys.secret_sha256 = excluded.secret_sha256 THEN api_keys.revoked "
    "ELSE 0 END, "
    "secret_sha256 = excluded.secret_sha256, prefix = excluded.prefix, "
    "tenant = excluded.tenant, admin = excluded.admin, "
    "tokens_per_day = excluded.tokens_per_day, tokens_per_month = excluded.tokens_per_month, "
    "wh_per_day = excluded.wh_per_day, wh_per_month = excluded.wh_per_month, "
    "co2e_g_per_day = excluded.co2e_g_per_day, co2e_g_per_month = excluded.co2e_g_per_month, "
    "requests_per_minute = excluded.requests_per_minute, "
    "tokens_per_minute = excluded.tokens_per_minute";

constexpr std::string_view kUsageWhere =
    " WHERE key_id = ?1 AND ((period = 'day' AND period_start_us = ?2) OR "
    "(period = 'month' AND period_start_us = ?3))";

Status CheckParentDirectory(const std::string& path, const std::string& what) {
  std::string dir = ".";
  if (size_t slash = path.rfind('/'); slash != std::string::npos) {
    dir = slash == 0 ? "/" : path.substr(0, slash);
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return NotFoundError(what + ": directory '" + dir + "' does not exist");
    }
    return ErrnoToStatus(errno, what + ": directory '" + dir + "'");
  }
  if (!S_ISDIR(st.st_mode)) {
    return FailedPreconditionError(what + ": '" + dir + "' is not a directory");
  }
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return FailedPreconditionError(what + ": '" + path + "' is a directory, not a database file");
  }
  return OkStatus();
}

// Per-connection settings; journal_mode and synchronous cannot change inside a transaction.
Status Configure(SqliteDb& db, bool in_memory) {
  if (!in_memory) {
    SOBRE_ASSIGN_OR_RETURN(SqliteStmt wal, db.Prepare("PRAGMA journal_mode = WAL"));
    SOBRE_ASSIGN_OR_RETURN(bool row, wal.Step());
    if (row && wal.Text(0) != "wal") {
      SOBRE_LOG(kWarning, "{}: journal_mode is '{}', not 'wal': readers will block the writer",
                db.what(), wal.Text(0));
    }
  }
  return db.Exec("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON");
}

internal::PeriodUsage ReadUsage(const SqliteStmt& s) {
  internal::PeriodUsage u;
  u.used = {s.Int(1), s.Double(2), s.Double(3)};
  u.reserved = {s.Int(4), s.Double(5), s.Double(6)};
  return u;
}

// The usage rows of `key_id` for the day and month starting at the given microseconds.
Status SelectUsage(SqliteDb& db, int64_t key_id, int64_t day_us, int64_t month_us,
                   internal::PeriodUsage& day, internal::PeriodUsage& month) {
  SOBRE_ASSIGN_OR_RETURN(
      SqliteStmt s,
      db.Prepare(Cat("SELECT period, used_tokens, used_wh, used_co2e_g, "
                     "reserved_tokens, reserved_wh, reserved_co2e_g FROM budget_usage",
                     kUsageWhere)));
  s.Bind(1, key_id).Bind(2, day_us).Bind(3, month_us);
  for (;;) {
    SOBRE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return OkStatus();
    (s.Text(0) == "day" ? day : month) = ReadUsage(s);
  }
}

}  // namespace

StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                         const std::string& url,
                                                         const StoreOptions& options) {
  const std::string what = "sqlite store '" + url + "'";
  const bool in_memory = path == ":memory:";
  if (path.empty()) return InvalidArgumentError(what + ": no file path");
  if (!in_memory) SOBRE_RETURN_IF_ERROR(CheckParentDirectory(path, what));

  std::unique_ptr<SqliteStore> store(new SqliteStore());
  store->url_ = url;
  SOBRE_ASSIGN_OR_RETURN(store->main_.db, SqliteDb::Open(path, what, kBusyTimeout));
  SOBRE_RETURN_IF_ERROR(Configure(*store->main_.db, in_memory));
  SOBRE_RETURN_IF_ERROR(store->Migrate());
  if (!in_memory) {
    store->ledger_own_ = std::make_unique<Connection>();
    SOBRE_ASSIGN_OR_RETURN(store->ledger_own_->db, SqliteDb::Open(path, what, kBusyTimeout));
    SOBRE_RETURN_IF_ERROR(Configure(*store->ledger_own_->db, in_memory));
    store->ledger_ = store->ledger_own_.get();
  }
  SqliteStore* self = store.get();
  SOBRE_ASSIGN_OR_RETURN(store->writer_, internal::LedgerWriter::Start(
                                             [self](std::span<const LedgerRow> rows) {
                                               return self->CommitLedger(rows);
                                             },
                                             options, what));
  return store;
}

SqliteStore::~SqliteStore() {
  // The writer's last commits use the connections: stop it while they are open.
  writer_.reset();
}

Status SqliteStore::Migrate() {
  std::lock_guard lock(main_.mu);
  SqliteDb& db = *main_.db;
  SqliteTxn txn(db);
  SOBRE_RETURN_IF_ERROR(txn.Begin().WithContext("applying migrations"));
  SOBRE_RETURN_IF_ERROR(db.Exec(internal::kSqliteMigrationsTable));
  SOBRE_ASSIGN_OR_RETURN(SqliteStmt current,
                         db.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
  SOBRE_ASSIGN_OR_RETURN(bool row, current.Step());
  const int64_t applied = row ? current.Int(0) : 0;
  current.Reset();
  const auto migrations = internal::Migrations();
  const int64_t latest = migrations.empty() ? 0 : migrations.back().version;
  if (applied > latest) {
    return FailedPreconditionError(db.what() + ": schema version " + std::to_string(applied) +
                                   " is newer than this sobre understands (" +
                                   std::to_string(latest) + "); upgrade sobre");
  }
  for (const internal::Migration& m : migrations) {
    if (m.version <= applied) continue;
    SOBRE_RETURN_IF_ERROR(
        db.Exec(m.sqlite_sql).WithContext("migration " + std::to_string(m.version)));
    SOBRE_ASSIGN_OR_RETURN(
        SqliteStmt record,
        db.Prepare("INSERT INTO schema_migrations (version, name, applied_us) VALUES (?, ?, ?)"));
    record.Bind(1, int64_t{m.version})
        .Bind(2, m.name)
        .Bind(3, internal::ToUnixMicros(std::chrono::system_clock::now()));
    SOBRE_RETURN_IF_ERROR(record.Run());
  }
  return txn.Commit();
}

StatusOr<ApiKey> SqliteStore::KeyByName(SqliteDb& db, std::string_view name) {
  SOBRE_ASSIGN_OR_RETURN(SqliteStmt s, db.Prepare(Cat("SELECT ", internal::kKeyColumns,
                                                      " FROM api_keys WHERE name = ?")));
  s.Bind(1, name);
  SOBRE_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return NotFoundError("no key named '" + std::string(name) + "'");
  return ReadKey(s);
}

StatusOr<std::pair<ApiKey, std::string>> SqliteStore::CreateKey(const NewKey& key) {
  SOBRE_RETURN_IF_ERROR(internal::ValidateNewKey(key));
  std::string secret = GenerateSecret();
  std::lock_guard lock(main_.mu);
  SqliteDb& db = *main_.db;
  SOBRE_ASSIGN_OR_RETURN(SqliteStmt s, db.Prepare(kInsertKey));
  s.Bind(1, key.name).Bind(2, HashSecret(secret)).Bind(3, internal::SecretPrefix(secret));
  BindKeyFields(s, 4, key);
  s.Bind(14, internal::ToUnixMicros(std::chrono::system_clock::now()));
  Status inserted = s.Run();
  if (inserted.code() == StatusCode::kAlreadyExists) {
    return AlreadyExistsError("a key named '" + key.name + "' already exists");
  }
  SOBRE_RETURN_IF_ERROR(inserted);
  SOBRE_ASSIGN_OR_RETURN(ApiKey created, KeyByName(db, key.name));
  return std::make_pair(std::move(created), std::move(secret));
}

StatusOr<ApiKey> SqliteStore::UpsertKey(const NewKey& key, std::string_view secret) {
  SOBRE_RETURN_IF_ERROR(internal::ValidateNewKey(key));
  SOBRE_RETURN_IF_ERROR(internal::ValidateSecret(secret).WithContext("key '" + key.name + "'"));
  std::lock_guard lock(main_.mu);
  SqliteDb& db = *main_.db;
  SOBRE_ASSIGN_OR_RETURN(SqliteStmt s, db.Prepare(Cat(kInsertKey, kUpsertKeySuffix)));
  s.Bind(1, key.name).Bind(2, HashSecret(secret)).Bind(3, internal::SecretPrefix(secret));
  BindKeyFields(s, 4, key);
  s.Bind(14, internal::ToUnixMicros(std::chrono::system_clock::now()));
  Status upserted = s.Run();
  if (upserted.code() == StatusCode::kAlreadyExists) {
    // The name conflict is handled above; what is left is another key with the same secret.
    return AlreadyExistsError("key '" + key.name + "': another key already has this secret");
  }
  SOBRE_RETURN_IF_ERROR(upserted);
  return KeyByName(db, key.name);
}

StatusOr<std::optional<ApiKey>> SqliteStore::FindKeyBySecret(std::string_view secret) {
  const std::string hash = HashSecret(secret);
  std::lock_guard lock(main_.mu);
  SOBRE_ASSIGN_OR_RETURN(
      SqliteStmt s,
      main_.db->Prepare(Cat("SELECT ", internal::kKeyColumns,
                            " FROM api_keys WHERE secret_sha256 = ? AND revoked = 0")));
  s.Bind(1, hash);
  SOBRE_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<ApiKey>();
  return std::optional<ApiKey>(ReadKey(s));
}

StatusOr<std::vector<ApiKey>> SqliteStore::ListKeys() {
  std::lock_guard lock(main_.mu);
  SOBRE_ASSIGN_OR_RETURN(SqliteStmt s, main_.db->Prepare(Cat("SELECT ", internal::kKeyColumns,
                                                             " FROM api_keys ORDER BY id")));
  std::vector<ApiKey> keys;
  for (;;) {
    SOBRE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return keys;
    keys.push_back(ReadKey(s));
  }
}

Status SqliteStore::RevokeKey(std::string_view name) {
  std::lock_guard lock(main_.mu);
  SOBRE_ASSIGN_OR_RETURN(SqliteStmt s,
                         main_.db->Prepare("UPDATE api_keys SET revoked = 1 WHERE name = ?"));
  s.Bind(1, name);
  SOBRE_RETURN_IF_ERROR(s.Run());
  if (main_.db->Changes() == 0) return NotFoundError("no key named '" + std::string(name) + "'");
  return OkStatus();
}

StatusOr<int64_t> SqliteStore::CountLiveKeys() {
  std::lock_guard lock(main_.mu);
  SOBRE_ASSIGN_OR_RETURN(SqliteStmt s,
                         main_.db->Prepare("SELECT count(*) FROM api_keys WHERE revoked = 0"));
  SOBRE_ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? s.Int(0) : 0;
}

StatusOr<int64_t> SqliteStore::CountAllKeys() {
  std::lock_guard lock(main_.mu);
  SOBRE_ASSIGN_OR_RETURN(SqliteStmt s, main_.db->Prepare("SELECT count(*) FROM api_keys"));
  SOBRE_ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? s.Int(0) : 0;
}

StatusOr<Reservation> SqliteStore::Reserve(const ApiKey& key, const Cost& upper_bound,
                                           TimePoint now) {
  SOBRE_RETURN_IF_ERROR(
      internal::ValidateCost(upper_bound, "reserving for key '" + key.name + "'"));
  const internal::Periods periods = internal::PeriodsAt(now);
  const int64_t day_us = internal::ToUnixMicros(periods.day_start);
  const int64_t month_us = internal::ToUnixMicros(periods.month_start);

  std::lock_guard lock(main_.mu);
  SqliteDb& db = *main_.db;
  // BEGIN IMMEDIATE takes the database's write lock before the usage is read, so that no other
  // connection or process can reserve between our check and our update.
  SqliteTxn txn(db);
  SOBRE_RETURN_IF_ERROR(txn.Begin());

  SOBRE_ASSIGN_OR_RETURN(SqliteStmt live, db.Prepare("SELECT revoked FROM api_keys WHERE id = ?"));
  live.Bind(1, key.id);
  SOBRE_ASSIGN_OR_RETURN(bool found, live.Step());
  if (!found) return NotFoundError("reserving: no key with id " + std::to_string(key.id));
  if (live.Int(0) != 0)
    return PermissionDeniedError("reserving: key '" + key.name + "' is revoked");
  live.Reset();

  SOBRE_ASSIGN_OR_RETURN(
      SqliteStmt ensure,
      db.Prepare("INSERT OR IGNORE INTO budget_usage (key_id, period, period_start_us) "
                 "VALUES (?1, 'day', ?2), (?1, 'month', ?3)"));
  ensure.Bind(1, key.id).Bind(2, day_us).Bind(3, month_us);
  SOBRE_RETURN_IF_ERROR(ensure.Run());

  internal::PeriodUsage day, month;
  SOBRE_RETURN_IF_ERROR(SelectUsage(db, key.id, day_us, month_us, day, month));
  if (auto denied = internal::CheckLimits(key.limits, day, month, upper_bound, periods, now)) {
    return *std::move(denied);  // The transaction rolls back: nothing changes.
  }

  SOBRE_ASSIGN_OR_RETURN(
      SqliteStmt add,
      db.Prepare(Cat("UPDATE budget_usage SET reserved_tokens = reserved_tokens + ?4, "
                     "reserved_wh = reserved_wh + ?5, reserved_co2e_g = reserved_co2e_g + ?6",
                     kUsageWhere)));
  add.Bind(1, key.id).Bind(2, day_us).Bind(3, month_us);
  add.Bind(4, upper_bound.tokens).Bind(5, upper_bound.wh).Bind(6, upper_bound.co2e_g);
  SOBRE_RETURN_IF_ERROR(add.Run());

  SOBRE_ASSIGN_OR_RETURN(
      SqliteStmt record,
      db.Prepare("INSERT INTO budget_reservations (key_id, day_start_us, month_start_us, tokens, "
                 "wh, co2e_g, created_us) VALUES (?, ?, ?, ?, ?, ?, ?)"));
  record.Bind(1, key.id).Bind(2, day_us).Bind(3, month_us);
  record.Bind(4, upper_bound.tokens).Bind(5, upper_bound.wh).Bind(6, upper_bound.co2e_g);
  record.Bind(7, internal::ToUnixMicros(std::chrono::system_clock::now()));
  SOBRE_RETURN_IF_ERROR(record.Run());
  Reservation granted;
  granted.granted = true;
  granted.id = db.LastInsertId();
  SOBRE_RETURN_IF_ERROR(txn.Commit());
  return granted;
}

Status SqliteStore::Settle(int64_t reservation_id, const Cost& actual) {
  SOBRE_RETURN_IF_ERROR(
      internal::ValidateCost(actual, "settling reservation " + std::to_string(reservation_id)));
  std::lock_guard lock(main_.mu);
  SqliteDb& db = *main_.db;
  SqliteTxn txn(db);
  SOBRE_RETURN_IF_ERROR(txn.Begin());
  // Deleting the reservation claims it: a second Settle of the same id finds nothing.
  SOBRE_ASSIGN_OR_RETURN(
      SqliteStmt claim,
      db.Prepare("DELETE FROM budget_reservations WHERE id = ? "
                 "RETURNING key_id, day_start_us, month_start_us, tokens, wh, co2e_g"));
  claim.Bind(1, reservation_id);
  SOBRE_ASSIGN_OR_RETURN(bool found, claim.Step());
  if (!found) {
    return NotFoundError("no open reservation " + std::to_string(reservation_id) +
                         " (unknown or already settled)");
  }
  const int64_t key_id = claim.Int(0);
  const int64_t day_us = claim.Int(1);
  const int64_t month_us = claim.Int(2);
  const Cost reserved{claim.Int(3), claim.Double(4), claim.Double(5)};
  SOBRE_RETURN_IF_ERROR(claim.Run());  // Finishes the DELETE.

  // max(..., 0) absorbs the rounding left by adding and removing the same doubles.
  SOBRE_ASSIGN_OR_RETURN(SqliteStmt move,
                         db.Prepare(Cat("UPDATE budget_usage SET "
                                        "reserved_tokens = max(reserved_tokens - ?4, 0), "
                                        "reserved_wh = max(reserved_wh - ?5, 0.0), "
                                        "reserved_co2e_g = max(reserved_co2e_g - ?6, 0.0), "
                                        "used_tokens = used_tokens + ?7, used_wh = used_wh + ?8, "
                                        "used_co2e_g = used_co2e_g + ?9",
                                        kUsageWhere)));
  move.Bind(1, key_id).Bind(2, day_us).Bind(3, month_us);
  move.Bind(4, reserved.tokens).Bind(5, reserved.wh).Bind(6, reserved.co2e_g);
  move.Bind(7, actual.tokens).Bind(8, actual.wh).Bind(9, actual.co2e_g);
  SOBRE_RETURN_IF_ERROR(move.Run());
  return txn.Commit();
}

StatusOr<std::pair<Cost, Cost>> SqliteStore::Usage(const ApiKey& key, TimePoint now) {
  const internal::Periods periods = internal::PeriodsAt(now);
  std::lock_guard lock(main_.mu);
  internal::PeriodUsage day, month;
  SOBRE_RETURN_IF_ERROR(SelectUsage(*main_.db, key.id, internal::ToUnixMicros(periods.day_start),
                                    internal::ToUnixMicros(periods.month_start), day, month));
  return std::make_pair(day.used, month.used);
}

void SqliteStore::Append(LedgerRow row) { writer_->Append(std::move(row)); }

Status SqliteStore::Flush() { return writer_->Flush(); }

Status SqliteStore::CommitLedger(std::span<const LedgerRow> rows) {
  std::lock_guard lock(ledger_->mu);
  SqliteDb& db = *ledger_->db;
  SqliteTxn txn(db);
  SOBRE_RETURN_IF_ERROR(txn.Begin());
  SOBRE_ASSIGN_OR_RETURN(
      SqliteStmt insert,
      db.Prepare(Cat("INSERT INTO ledger (", internal::kLedgerColumns,
                     ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")));
  for (const LedgerRow& r : rows) {
    insert.Reset();
    insert.Bind(1, internal::ToUnixMicros(r.time))
        .Bind(2, r.request_id)
        .Bind(3, r.key_name)
        .Bind(4, r.tenant)
        .Bind(5, r.model)
        .Bind(6, r.backend)
        .Bind(7, r.endpoint)
        .Bind(8, r.prompt_tokens)
        .Bind(9, r.completion_tokens)
        .Bind(10, r.latency_ms)
        .Bind(11, r.ttft_ms)
        .Bind(12, r.overhead_ms)
        .Bind(13, r.energy_wh)
        .Bind(14, r.co2e_g)
        .Bind(15, r.water_ml)
        .Bind(16, r.embodied_co2e_g)
        .Bind(17, r.method)
        .Bind(18, r.cache_status)
        .Bind(19, int64_t{r.http_status})
        .Bind(20, r.error_code)
        .Bind(21, r.avoided_energy_wh)
        .Bind(22, r.avoided_co2e_g);
    SOBRE_RETURN_IF_ERROR(insert.Run());
  }
  return txn.Commit();
}

StatusOr<std::vector<LedgerRow>> SqliteStore::ReadLedger(TimePoint from, TimePoint to,
                                                         size_t limit) {
  std::vector<LedgerRow> rows;
  if (limit == 0) return rows;
  std::lock_guard lock(main_.mu);
  SOBRE_ASSIGN_OR_RETURN(SqliteStmt s,
                         main_.db->Prepare(Cat("SELECT ", internal::kLedgerColumns,
                                               " FROM ledger WHERE time_us >= ? AND time_us < ? "
                                               "ORDER BY time_us, id LIMIT ?")));
  const int64_t max_rows =
      limit > static_cast<size_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(limit);
  s.Bind(1, internal::ToUnixMicros(from)).Bind(2, internal::ToUnixMicros(to)).Bind(3, max_rows);
  for (;;) {
    SOBRE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return rows;
    LedgerRow r;
    r.time = internal::FromUnixMicros(s.Int(0));
    r.request_id = s.Text(1);
    r.key_name = s.Text(2);
    r.tenant = s.Text(3);
    r.model = s.Text(4);
    r.backend = s.Text(5);
    r.endpoint = s.Text(6);
    r.prompt_tokens = s.Int(7);
    r.completion_tokens = s.Int(8);
    r.latency_ms = s.Double(9);
    r.ttft_ms = s.Double(10);
    r.overhead_ms = s.Double(11);
    r.energy_wh = s.Double(12);
    r.co2e_g = s.Double(13);
    r.water_ml = s.Double(14);
    r.embodied_co2e_g = s.Double(15);
    r.method = s.Text(16);
    r.cache_status = s.Text(17);
    r.http_status = static_cast<int>(s.Int(18));
    r.error_code = s.Text(19);
    r.avoided_energy_wh = s.Double(20);
    r.avoided_co2e_g = s.Double(21);
    rows.push_back(std::move(r));
  }
}

namespace {

// Reads a row selected with kCacheEntryColumns.
CacheEntryRecord ReadCacheEntry(const internal::SqliteStmt& s) {
  CacheEntryRecord e;
  e.id = s.Text(0);
  e.key = s.Text(1);
  e.tenant = s.Text(2);
  e.model = s.Text(3);
  e.endpoint = s.Text(4);
  e.created = internal::FromUnixMicros(s.Int(5));
  e.expires = internal::FromUnixMicros(s.Int(6));
  e.body = s.Text(7);
  e.prompt_tokens = s.Int(8);
  e.completion_tokens = s.Int(9);
  e.energy_wh = s.Double(10);
  e.co2e_g = s.Double(11);
  e.water_ml = s.Double(12);
  e.embodied_co2e_g = s.Double(13);
  e.method = s.Text(14);
  e.semantic_scope = s.Text(15);
  e.query_text = s.Text(16);
  e.embedder = s.Text(17);
  e.embedding = internal::DecodeVector(s.Text(18));
  return e;
}

}  // namespace

Status SqliteStore::PutCacheEntry(const CacheEntryRecord& e) {
  std::lock_guard lock(main_.mu);
  SOBRE_ASSIGN_OR_RETURN(
      SqliteStmt s,
      main_.db->Prepare(Cat("INSERT INTO cache_entries (", internal::kCacheEntryColumns,
                            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                            "ON CONFLICT (tenant, key) DO UPDATE SET id = excluded.id, "
                            "model = excluded.model, endpoint = excluded.endpoint, "
                            "created_us = excluded.created_us, expires_us = excluded.expires_us, "
                            "body = excluded.body, prompt_tokens = excluded.prompt_tokens, "
                            "completion_tokens = excluded.completion_tokens, "
                            "energy_wh = excluded.energy_wh, co2e_g = excluded.co2e_g, "
                            "water_ml = excluded.water_ml, "
                            "embodied_co2e_g = excluded.embodied_co2e_g, method = excluded.method, "
                            "semantic_scope = excluded.semantic_scope, "
                            "query_text = excluded.query_text, embedder = excluded.embedder, "
                            "embedding = excluded.embedding")));
  s.Bind(1, e.id)
      .Bind(2, e.key)
      .Bind(3, e.tenant)
      .Bind(4, e.model)
      .Bind(5, e.endpoint)
      .Bind(6, internal::ToUnixMicros(e.created))
      .Bind(7, internal::ToUnixMicros(e.expires))
      .Bind(8, e.body)
      .Bind(9, e.prompt_tokens)
      .Bind(10, e.completion_tokens)
      .Bind(11, e.energy_wh)
      .Bind(12, e.co2e_g)
      .Bind(13, e.water_ml)
      .Bind(14, e.embodied_co2e_g)
      .Bind(15, e.method)
      .Bind(16, e.semantic_scope)
      .Bind(17, e.query_text)
      .Bind(18, e.embedder)
      .Bind(19, internal::EncodeVector(e.embedding));
  return s.Run().WithContext("storing cache entry " + e.id);
}

StatusOr<int64_t> SqliteStore::DeleteCacheEntries(std::span<const std::string> ids) {
  if (ids.empty()) return int64_t{0};
  std::lock_guard lock(main_.mu);
  SqliteDb& db = *main_.db;
  SqliteTxn txn(db);
  SOBRE_RETURN_IF_ERROR(txn.Begin());
  SOBRE_ASSIGN_OR_RETURN(SqliteStmt s, db.Prepare("DELETE FROM cache_entries WHERE id = ?"));
  int64_t deleted = 0;
  for (const std::string& id : ids) {
    s.Reset();
    s.Bind(1, id);
    SOBRE_RETURN_IF_ERROR(s.Run());
    deleted += db.Changes();
  }
  SOBRE_RETURN_IF_ERROR(txn.Commit());
  return deleted;
}

StatusOr<std::vector<CacheEntryRecord>> SqliteStore::LoadCacheEntries(TimePoint now,
                                                                      size_t limit) {
  std::vector<CacheEntryRecord> entries;
  if (limit == 0) return entries;
  std::lock_guard lock(main_.mu);
  SOBRE_ASSIGN_OR_RETURN(
      SqliteStmt s, main_.db->Prepare(Cat("SELECT ", internal::kCacheEntryColumns,
                                          " FROM cache_entries WHERE expires_us > ? "
                                          "ORDER BY created_us DESC, id LIMIT ?")));
  const int64_t max_rows =
      limit > static_cast<size_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(limit);
  s.Bind(1, internal::ToUnixMicros(now)).Bind(2, max_rows);
  for (;;) {
    SOBRE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return entries;
    entries.push_back(ReadCacheEntry(s));
  }
}

StatusOr<int64_t> SqliteStore::PurgeCacheEntries(const CacheEntryFilter& filter) {
  std::string sql = "DELETE FROM cache_entries WHERE 1 = 1";
  if (filter.tenant) sql += " AND tenant = ?1";
  if (filter.model) sql += " AND model = ?2";
  if (filter.expired_at) sql += " AND expires_us <= ?3";
  std::lock_guard lock(main_.mu);
  SOBRE_ASSIGN_OR_RETURN(SqliteStmt s, main_.db->Prepare(sql));
  if (filter.tenant) s.Bind(1, *filter.tenant);
  if (filter.model) s.Bind(2, *filter.model);
  if (filter.expired_at) s.Bind(3, internal::ToUnixMicros(*filter.expired_at));
  SOBRE_RETURN_IF_ERROR(s.Run());
  return main_.db->Changes();
}

}  // namespace sobre::store
