#include "store/postgres_store.h"

#include <algorithm>
#include <string>
#include <utility>

#include "store/internal/budget.h"
#include "store/internal/keys.h"
#include "store/internal/ledger_writer.h"
#include "store/internal/pg_conn.h"
#include "store/internal/schema.h"

namespace sobre::store {
namespace {

using internal::PgConn;
using internal::PgParams;
using internal::PgResult;
using internal::PgTxn;

// Connections in the pool shared by API calls (the ledger writer has its own).
constexpr size_t kPoolSize = 4;
// Attempts of a transaction PostgreSQL aborted for a deadlock or serialization failure.
constexpr int kAttempts = 5;
// Any constant: the advisory lock that makes replicas starting together migrate one at a time.
constexpr int64_t kMigrationLockId = 0x736f627265;  // "sobre"
// Rows per INSERT statement in a ledger batch (22 parameters each, far below libpq's 65535).
constexpr size_t kLedgerRowsPerInsert = 200;

std::string Cat(std::string_view a, std::string_view b, std::string_view c = "") {
  std::string s(a);
  s += b;
  s += c;
  return s;
}

// Reads row `i` of a result selected with kKeyColumns.
ApiKey ReadKey(const PgResult& r, int i) {
  const pg_result* p = r.get();
  ApiKey k;
  k.id = internal::PgInt(p, i, 0);
  k.name = internal::PgText(p, i, 1);
  k.tenant = internal::PgText(p, i, 2);
  k.prefix = internal::PgText(p, i, 3);
  k.admin = internal::PgBool(p, i, 4);
  k.revoked = internal::PgBool(p, i, 5);
  k.limits.tokens_per_day = internal::PgOptionalInt(p, i, 6);
  k.limits.tokens_per_month = internal::PgOptionalInt(p, i, 7);
  k.limits.wh_per_day = internal::PgOptionalDouble(p, i, 8);
  k.limits.wh_per_month = internal::PgOptionalDouble(p, i, 9);
  k.limits.co2e_g_per_day = internal::PgOptionalDouble(p, i, 10);
  k.limits.co2e_g_per_month = internal::PgOptionalDouble(p, i, 11);
  k.limits.requests_per_minute = internal::PgOptionalInt(p, i, 12);
  k.limits.tokens_per_minute = internal::PgOptionalInt(p, i, 13);
  k.created = internal::FromUnixMicros(internal::PgInt(p, i, 14));
  return k;
}

// Parameters $1..$14 of kInsertKey.
PgParams KeyParams(const NewKey& key, std::string_view secret) {
  const Limits& l = key.limits;
  PgParams p;
  p.Add(std::string_view(key.name))
      .Add(std::string_view(HashSecret(secret)))
      .Add(std::string_view(internal::SecretPrefix(secret)))
      .Add(std::string_view(internal::TenantOf(key)))
      .Add(key.admin)
      .Add(l.tokens_per_day)
      .Add(l.tokens_per_month)
      .Add(l.wh_per_day)
      .Add(l.wh_per_month)
      .Add(l.co2e_g_per_day)
      .Add(l.co2e_g_per_month)
      .Add(l.requests_per_minute)
      .Add(l.tokens_per_minute)
      .Add(internal::ToUnixMicros(std::chrono::system_clock::now()));
  return p;
}

constexpr std::string_view kInsertKey =
    "INSERT INTO api_keys (name, secret_sha256, prefix, tenant, admin, tokens_per_day, "
    "tokens_per_month, wh_per_day, wh_per_month, co2e_g_per_day, co2e_g_per_month, "
    "requests_per_minute, tokens_per_minute, created_us) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

// Same rule as SQLite's: a changed secret revives a revoked key, the same secret keeps the
// revocation.
constexpr std::string_view kUpsertKeySuffix =
    " ON CONFLICT (name) DO UPDATE SET "
    "revoked = CASE WHEN api_keys.secret_sha256 = excluded.secret_sha256 THEN api_keys.revoked "
    "ELSE FALSE END, "
    "secret_sha256 = excluded.secret_sha256, prefix = excluded.prefix, "
    "tenant = excluded.tenant, admin = excluded.admin, "
    "tokens_per_day = excluded.tokens_per_day, tokens_per_month = excluded.tokens_per_month, "
    "wh_per_day = excluded.wh_per_day, wh_per_month = excluded.wh_per_month, "
    "co2e_g_per_day = excluded.co2e_g_per_day, co2e_g_per_month = excluded.co2e_g_per_month, "
    "requests_per_minute = excluded.requests_per_minute, "
    "tokens_per_minute = excluded.tokens_per_minute";

constexpr std::string_view kUsageWhere =
    " WHERE key_id = $1 AND ((period = 'day' AND period_start_us = $2) OR "
    "(period = 'month' AND period_start_us = $3))";

// A key's day and month usage rows. With kLockSuffix they stay locked for the rest of the
// transaction, taken day before month, so that two transactions never wait for each other in
// opposite orders.
constexpr std::string_view kSelectUsage =
    "SELECT period, used_tokens, used_wh, used_co2e_g, reserved_tokens, reserved_wh, "
    "reserved_co2e_g FROM budget_usage";
constexpr std::string_view kLockSuffix = " ORDER BY period FOR UPDATE";

void ReadUsage(const PgResult& r, internal::PeriodUsage& day, internal::PeriodUsage& month) {
  const pg_result* p = r.get();
  for (int i = 0; i < internal::PgRows(p); ++i) {
    internal::PeriodUsage u;
    u.used = {internal::PgInt(p, i, 1), internal::PgDouble(p, i, 2), internal::PgDouble(p, i, 3)};
    u.reserved = {internal::PgInt(p, i, 4), internal::PgDouble(p, i, 5),
                  internal::PgDouble(p, i, 6)};
    (internal::PgText(p, i, 0) == "day" ? day : month) = u;
  }
}

}  // namespace

template <typename F>
auto PostgresStore::WithRetries(F&& attempt) -> decltype(attempt(std::declval<PgConn&>())) {
  for (int i = 1;; ++i) {
    SOBRE_ASSIGN_OR_RETURN(internal::PgPool::Lease conn, pool_->Acquire());
    auto result = attempt(*conn);
    if (result.ok() || i >= kAttempts || !conn->LastErrorRetryable()) return result;
  }
}

StatusOr<std::unique_ptr<PostgresStore>> PostgresStore::Open(const std::string& url,
                                                             const StoreOptions& options) {
  std::unique_ptr<PostgresStore> store(new PostgresStore());
  store->url_ = url;
  store->what_ = "postgres store '" + internal::RedactPostgresUrl(url) + "'";
  SOBRE_ASSIGN_OR_RETURN(std::unique_ptr<PgConn> first, PgConn::Connect(url, store->what_));
  SOBRE_RETURN_IF_ERROR(store->Migrate(*first));
  store->pool_ = std::make_unique<internal::PgPool>(url, store->what_, kPoolSize, std::move(first));
  SOBRE_ASSIGN_OR_RETURN(store->ledger_conn_, PgConn::Connect(url, store->what_));
  PostgresStore* self = store.get();
  SOBRE_ASSIGN_OR_RETURN(store->writer_, internal::LedgerWriter::Start(
                                             [self](std::span<const LedgerRow> rows) {
                                               return self->CommitLedger(rows);
                                             },
                                             options, store->what_));
  return store;
}

PostgresStore::~PostgresStore() {
  // The writer's last commits use ledger_conn_: stop it while the connection is open.
  writer_.reset();
}

Status PostgresStore::Migrate(PgConn& conn) {
  PgTxn txn(conn);
  SOBRE_RETURN_IF_ERROR(txn.Begin().WithContext("applying migrations"));
  SOBRE_ASSIGN_OR_RETURN(PgResult lock, conn.Exec("SELECT pg_advisory_xact_lock($1)",
                                                  PgParams().Add(kMigrationLockId)));
  SOBRE_ASSIGN_OR_RETURN(PgResult table, conn.Exec(internal::kPostgresMigrationsTable));
  SOBRE_ASSIGN_OR_RETURN(PgResult current,
                         conn.Exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
  const int64_t applied = internal::PgInt(current.get(), 0, 0);
  const auto migrations = internal::Migrations();
  const int64_t latest = migrations.empty() ? 0 : migrations.back().version;
  if (applied > latest) {
    return FailedPreconditionError(what_ + ": schema version " + std::to_string(applied) +
                                   " is newer than this sobre understands (" +
                                   std::to_string(latest) + "); upgrade sobre");
  }
  for (const internal::Migration& m : migrations) {
    if (m.version <= applied) continue;
    auto done = conn.Exec(m.postgres_sql);
    if (!done.ok()) return done.status().WithContext("migration " + std::to_string(m.version));
    SOBRE_ASSIGN_OR_RETURN(
        PgResult record,
        conn.Exec("INSERT INTO schema_migrations (version, name, applied_us) VALUES ($1, $2, $3)",
                  PgParams()
                      .Add(int64_t{m.version})
                      .Add(m.name)
                      .Add(internal::ToUnixMicros(std::chrono::system_clock::now()))));
  }
  return txn.Commit();
}

StatusOr<std::pair<ApiKey, std::string>> PostgresStore::CreateKey(const NewKey& key) {
  SOBRE_RETURN_IF_ERROR(internal::ValidateNewKey(key));
  std::string secret = GenerateSecret();
  PgParams params = KeyParams(key, secret);
  auto inserted = WithRetries([&](PgConn& conn) {
    return conn.Exec(Cat(kInsertKey, " RETURNING ", internal::kKeyColumns), params);
  });
  if (inserted.status().code() == StatusCode::kAlreadyExists) {
    return AlreadyExistsError("a key named '" + key.name + "' already exists");
  }
  if (!inserted.ok()) return inserted.status();
  return std::make_pair(ReadKey(*inserted, 0), std::move(secret));
}

StatusOr<ApiKey> PostgresStore::UpsertKey(const NewKey& key, std::string_view secret) {
  SOBRE_RETURN_IF_ERROR(internal::ValidateNewKey(key));
  SOBRE_RETURN_IF_ERROR(internal::ValidateSecret(secret).WithContext("key '" + key.name + "'"));
  PgParams params = KeyParams(key, secret);
  auto upserted = WithRetries([&](PgConn& conn) {
    return conn.Exec(Cat(kInsertKey, kUpsertKeySuffix, Cat(" RETURNING ", internal::kKeyColumns)),
                     params);
  });
  if (upserted.status().code() == StatusCode::kAlreadyExists) {
    return AlreadyExistsError("key '" + key.name + "': another key already has this secret");
  }
  if (!upserted.ok()) return upserted.status();
  return ReadKey(*upserted, 0);
}

StatusOr<std::optional<ApiKey>> PostgresStore::FindKeyBySecret(std::string_view secret) {
  PgParams params;
  params.Add(std::string_view(HashSecret(secret)));
  SOBRE_ASSIGN_OR_RETURN(PgResult r, WithRetries([&](PgConn& conn) {
                           return conn.Exec(Cat("SELECT ", internal::kKeyColumns,
                                                " FROM api_keys WHERE secret_sha256 = $1 AND "
                                                "NOT revoked"),
                                            params);
                         }));
  if (internal::PgRows(r.get()) == 0) return std::optional<ApiKey>();
  return std::optional<ApiKey>(ReadKey(r, 0));
}

StatusOr<std::vector<ApiKey>> PostgresStore::ListKeys() {
  SOBRE_ASSIGN_OR_RETURN(
      PgResult r, WithRetries([&](PgConn& conn) {
        return conn.Exec(Cat("SELECT ", internal::kKeyColumns, " FROM api_keys ORDER BY id"));
      }));
  std::vector<ApiKey> keys;
  for (int i = 0; i < internal::PgRows(r.get()); ++i) keys.push_back(ReadKey(r, i));
  return keys;
}

Status PostgresStore::RevokeKey(std::string_view name) {
  PgParams params;
  params.Add(name);
  SOBRE_ASSIGN_OR_RETURN(
      PgResult r, WithRetries([&](PgConn& conn) {
        return conn.Exec("UPDATE api_keys SET revoked = TRUE WHERE name = $1 RETURNING id", params);
      }));
  if (internal::PgRows(r.get()) == 0) {
    return NotFoundError("no key named '" + std::string(name) + "'");
  }
  return OkStatus();
}

StatusOr<int64_t> PostgresStore::CountLiveKeys() {
  SOBRE_ASSIGN_OR_RETURN(PgResult r, WithRetries([&](PgConn& conn) {
                           return conn.Exec("SELECT count(*) FROM api_keys WHERE NOT revoked");
                         }));
  return internal::PgInt(r.get(), 0, 0);
}

StatusOr<int64_t> PostgresStore::CountAllKeys() {
  SOBRE_ASSIGN_OR_RETURN(PgResult r, WithRetries([&](PgConn& conn) {
                           return conn.Exec("SELECT count(*) FROM api_keys");
                         }));
  return internal::PgInt(r.get(), 0, 0);
}

StatusOr<Reservation> PostgresStore::Reserve(const ApiKey& key, const Cost& upper_bound,
                                             TimePoint now) {
  SOBRE_RETURN_IF_ERROR(
      internal::ValidateCost(upper_bound, "reserving for key '" + key.name + "'"));
  const internal::Periods periods = internal::PeriodsAt(now);
  PgParams where;
  where.Add(key.id)
      .Add(internal::ToUnixMicros(periods.day_start))
      .Add(internal::ToUnixMicros(periods.month_start));
  PgParams add = where;
  add.Add(upper_bound.tokens).Add(upper_bound.wh).Add(upper_bound.co2e_g);
  PgParams record = add;
  record.Add(internal::ToUnixMicros(std::chrono::system_clock::now()));

  return WithRetries([&](PgConn& conn) -> StatusOr<Reservation> {
    PgTxn txn(conn);
    SOBRE_RETURN_IF_ERROR(txn.Begin());
    SOBRE_ASSIGN_OR_RETURN(PgResult live, conn.Exec("SELECT revoked FROM api_keys WHERE id = $1",
                                                    PgParams().Add(key.id)));
    if (internal::PgRows(live.get()) == 0) {
      return NotFoundError("reserving: no key with id " + std::to_string(key.id));
    }
    if (internal::PgBool(live.get(), 0, 0)) {
      return PermissionDeniedError("reserving: key '" + key.name + "' is revoked");
    }
    SOBRE_ASSIGN_OR_RETURN(
        PgResult ensure,
        conn.Exec("INSERT INTO budget_usage (key_id, period, period_start_us) "
                  "VALUES ($1, 'day', $2), ($1, 'month', $3) ON CONFLICT DO NOTHING",
                  where));
    // Every other reservation for this key, from any process, now waits for our COMMIT.
    SOBRE_ASSIGN_OR_RETURN(PgResult usage,
                           conn.Exec(Cat(kSelectUsage, kUsageWhere, kLockSuffix), where));
    internal::PeriodUsage day, month;
    ReadUsage(usage, day, month);
    if (auto denied = internal::CheckLimits(key.limits, day, month, upper_bound, periods, now)) {
      return *std::move(denied);  // The transaction rolls back: nothing changes.
    }
    SOBRE_ASSIGN_OR_RETURN(
        PgResult added,
        conn.Exec(Cat("UPDATE budget_usage SET reserved_tokens = reserved_tokens + $4, "
                      "reserved_wh = reserved_wh + $5, reserved_co2e_g = reserved_co2e_g + $6",
                      kUsageWhere),
                  add));
    SOBRE_ASSIGN_OR_RETURN(
        PgResult inserted,
        conn.Exec("INSERT INTO budget_reservations (key_id, day_start_us, month_start_us, tokens, "
                  "wh, co2e_g, created_us) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                  record));
    Reservation granted;
    granted.granted = true;
    granted.id = internal::PgInt(inserted.get(), 0, 0);
    SOBRE_RETURN_IF_ERROR(txn.Commit());
    return granted;
  });
}

Status PostgresStore::Settle(int64_t reservation_id, const Cost& actual) {
  SOBRE_RETURN_IF_ERROR(
      internal::ValidateCost(actual, "settling reservation " + std::to_string(reservation_id)));
  return WithRetries([&](PgConn& conn) -> Status {
    PgTxn txn(conn);
    SOBRE_RETURN_IF_ERROR(txn.Begin());
    // Deleting the reservation claims it: a concurrent Settle of the same id waits for us and
    // then finds nothing.
    SOBRE_ASSIGN_OR_RETURN(
        PgResult claim,
        conn.Exec("DELETE FROM budget_reservations WHERE id = $1 "
                  "RETURNING key_id, day_start_us, month_start_us, tokens, wh, co2e_g",
                  PgParams().Add(reservation_id)));
    const pg_result* c = claim.get();
    if (internal::PgRows(c) == 0) {
      return NotFoundError("no open reservation " + std::to_string(reservation_id) +
                           " (unknown or already settled)");
    }
    PgParams where;
    where.Add(internal::PgInt(c, 0, 0)).Add(internal::PgInt(c, 0, 1)).Add(internal::PgInt(c, 0, 2));
    SOBRE_ASSIGN_OR_RETURN(PgResult locked,
                           conn.Exec(Cat(kSelectUsage, kUsageWhere, kLockSuffix), where));
    PgParams move = where;
    move.Add(internal::PgInt(c, 0, 3))
        .Add(internal::PgDouble(c, 0, 4))
        .Add(internal::PgDouble(c, 0, 5))
        .Add(actual.tokens)
        .Add(actual.wh)
        .Add(actual.co2e_g);
    // GREATEST(..., 0) absorbs the rounding left by adding and removing the same doubles.
    SOBRE_ASSIGN_OR_RETURN(PgResult moved,
                           conn.Exec(Cat("UPDATE budget_usage SET "
                                         "reserved_tokens = GREATEST(reserved_tokens - $4, 0), "
                                         "reserved_wh = GREATEST(reserved_wh - $5, 0), "
                                         "reserved_co2e_g = GREATEST(reserved_co2e_g - $6, 0), "
                                         "used_tokens = used_tokens + $7, used_wh = used_wh + $8, "
                                         "used_co2e_g = used_co2e_g + $9",
                                         kUsageWhere),
                                     move));
    return txn.Commit();
  });
}

StatusOr<std::pair<Cost, Cost>> PostgresStore::Usage(const ApiKey& key, TimePoint now) {
  const internal::Periods periods = internal::PeriodsAt(now);
  PgParams where;
  where.Add(key.id)
      .Add(internal::ToUnixMicros(periods.day_start))
      .Add(internal::ToUnixMicros(periods.month_start));
  SOBRE_ASSIGN_OR_RETURN(PgResult r, WithRetries([&](PgConn& conn) {
                           return conn.Exec(Cat(kSelectUsage, kUsageWhere), where);
                         }));
  internal::PeriodUsage day, month;
  ReadUsage(r, day, month);
  return std::make_pair(day.used, month.used);
}

void PostgresStore::Append(LedgerRow row) { writer_->Append(std::move(row)); }

Status PostgresStore::Flush() { return writer_->Flush(); }

Status PostgresStore::CommitLedger(std::span<const LedgerRow> rows) {
  PgConn& conn = *ledger_conn_;
  SOBRE_RETURN_IF_ERROR(conn.EnsureConnected());
  PgTxn txn(conn);
  SOBRE_RETURN_IF_ERROR(txn.Begin());
  for (size_t first = 0; first < rows.size(); first += kLedgerRowsPerInsert) {
    const size_t n = std::min(kLedgerRowsPerInsert, rows.size() - first);
    std::string sql = Cat("INSERT INTO ledger (", internal::kLedgerColumns, ") VALUES ");
    PgParams params;
    for (size_t i = 0; i < n; ++i) {
      const LedgerRow& r = rows[first + i];
      sql += i == 0 ? "(" : ", (";
      for (int c = 0; c < internal::kLedgerColumnCount; ++c) {
        if (c > 0) sql += ", ";
        sql += "$" + std::to_string(i * internal::kLedgerColumnCount + c + 1);
      }
      sql += ")";
      params.Add(internal::ToUnixMicros(r.time))
          .Add(std::string_view(r.request_id))
          .Add(std::string_view(r.key_name))
          .Add(std::string_view(r.tenant))
          .Add(std::string_view(r.model))
          .Add(std::string_view(r.backend))
          .Add(std::string_view(r.endpoint))
          .Add(r.prompt_tokens)
          .Add(r.completion_tokens)
          .Add(r.latency_ms)
          .Add(r.ttft_ms)
          .Add(r.overhead_ms)
          .Add(r.energy_wh)
          .Add(r.co2e_g)
          .Add(r.water_ml)
          .Add(r.embodied_co2e_g)
          .Add(std::string_view(r.method))
          .Add(std::string_view(r.cache_status))
          .Add(int64_t{r.http_status})
          .Add(std::string_view(r.error_code))
          .Add(r.avoided_energy_wh)
          .Add(r.avoided_co2e_g);
    }
    SOBRE_ASSIGN_OR_RETURN(PgResult inserted, conn.Exec(sql, params));
  }
  return txn.Commit();
}

StatusOr<std::vector<LedgerRow>> PostgresStore::ReadLedger(TimePoint from, TimePoint to,
                                                           size_t limit) {
  std::vector<LedgerRow> rows;
  if (limit == 0) return rows;
  PgParams params;
  params.Add(internal::ToUnixMicros(from))
      .Add(internal::ToUnixMicros(to))
      .Add(static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
  SOBRE_ASSIGN_OR_RETURN(PgResult r, WithRetries([&](PgConn& conn) {
                           return conn.Exec(Cat("SELECT ", internal::kLedgerColumns,
                                                " FROM ledger WHERE time_us >= $1 AND time_us < "
                                                "$2 ORDER BY time_us, id LIMIT $3"),
                                            params);
                         }));
  const pg_result* p = r.get();
  for (int i = 0; i < internal::PgRows(p); ++i) {
    LedgerRow row;
    row.time = internal::FromUnixMicros(internal::PgInt(p, i, 0));
    row.request_id = internal::PgText(p, i, 1);
    row.key_name = internal::PgText(p, i, 2);
    row.tenant = internal::PgText(p, i, 3);
    row.model = internal::PgText(p, i, 4);
    row.backend = internal::PgText(p, i, 5);
    row.endpoint = internal::PgText(p, i, 6);
    row.prompt_tokens = internal::PgInt(p, i, 7);
    row.completion_tokens = internal::PgInt(p, i, 8);
    row.latency_ms = internal::PgDouble(p, i, 9);
    row.ttft_ms = internal::PgDouble(p, i, 10);
    row.overhead_ms = internal::PgDouble(p, i, 11);
    row.energy_wh = internal::PgDouble(p, i, 12);
    row.co2e_g = internal::PgDouble(p, i, 13);
    row.water_ml = internal::PgDouble(p, i, 14);
    row.embodied_co2e_g = internal::PgDouble(p, i, 15);
    row.method = internal::PgText(p, i, 16);
    row.cache_status = internal::PgText(p, i, 17);
    row.http_status = static_cast<int>(internal::PgInt(p, i, 18));
    row.error_code = internal::PgText(p, i, 19);
    row.avoided_energy_wh = internal::PgDouble(p, i, 20);
    row.avoided_co2e_g = internal::PgDouble(p, i, 21);
    rows.push_back(std::move(row));
  }
  return rows;
}

namespace {

// Reads row `i` of a result selected with kCacheEntryColumns.
CacheEntryRecord ReadCacheEntry(const pg_result* p, int i) {
  CacheEntryRecord e;
  e.id = internal::PgText(p, i, 0);
  e.key = internal::PgText(p, i, 1);
  e.tenant = internal::PgText(p, i, 2);
  e.model = internal::PgText(p, i, 3);
  e.endpoint = internal::PgText(p, i, 4);
  e.created = internal::FromUnixMicros(internal::PgInt(p, i, 5));
  e.expires = internal::FromUnixMicros(internal::PgInt(p, i, 6));
  e.body = internal::PgText(p, i, 7);
  e.prompt_tokens = internal::PgInt(p, i, 8);
  e.completion_tokens = internal::PgInt(p, i, 9);
  e.energy_wh = internal::PgDouble(p, i, 10);
  e.co2e_g = internal::PgDouble(p, i, 11);
  e.water_ml = internal::PgDouble(p, i, 12);
  e.embodied_co2e_g = internal::PgDouble(p, i, 13);
  e.method = internal::PgText(p, i, 14);
  e.semantic_scope = internal::PgText(p, i, 15);
  e.query_text = internal::PgText(p, i, 16);
  e.embedder = internal::PgText(p, i, 17);
  e.embedding = internal::DecodeVector(internal::PgText(p, i, 18));
  return e;
}

}  // namespace

Status PostgresStore::PutCacheEntry(const CacheEntryRecord& e) {
  PgParams params;
  params.Add(std::string_view(e.id))
      .Add(std::string_view(e.key))
      .Add(std::string_view(e.tenant))
      .Add(std::string_view(e.model))
      .Add(std::string_view(e.endpoint))
      .Add(internal::ToUnixMicros(e.created))
      .Add(internal::ToUnixMicros(e.expires))
      .Add(std::string_view(e.body))
      .Add(e.prompt_tokens)
      .Add(e.completion_tokens)
      .Add(e.energy_wh)
      .Add(e.co2e_g)
      .Add(e.water_ml)
      .Add(e.embodied_co2e_g)
      .Add(std::string_view(e.method))
      .Add(std::string_view(e.semantic_scope))
      .Add(std::string_view(e.query_text))
      .Add(std::string_view(e.embedder))
      .Add(internal::EncodeVector(e.embedding));
  auto put = WithRetries([&](PgConn& conn) {
    return conn.Exec(
        Cat("INSERT INTO cache_entries (", internal::kCacheEntryColumns,
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) "
            "ON CONFLICT (tenant, key) DO UPDATE SET id = excluded.id, "
            "model = excluded.model, endpoint = excluded.endpoint, "
            "created_us = excluded.created_us, expires_us = excluded.expires_us, "
            "body = excluded.body, prompt_tokens = excluded.prompt_tokens, "
            "completion_tokens = excluded.completion_tokens, energy_wh = excluded.energy_wh, "
            "co2e_g = excluded.co2e_g, water_ml = excluded.water_ml, "
            "embodied_co2e_g = excluded.embodied_co2e_g, method = excluded.method, "
            "semantic_scope = excluded.semantic_scope, query_text = excluded.query_text, "
            "embedder = excluded.embedder, embedding = excluded.embedding"),
        params);
  });
  if (!put.ok()) return put.status().WithContext("storing cache entry " + e.id);
  return OkStatus();
}

StatusOr<int64_t> PostgresStore::DeleteCacheEntries(std::span<const std::string> ids) {
  if (ids.empty()) return int64_t{0};
  // One statement with the ids as a text[] literal: each id is hex, but quote it anyway.
  std::string array = "{";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) array += ',';
    array += '"';
    for (char c : ids[i]) {
      if (c == '"' || c == '\\') array += '\\';
      array += c;
    }
    array += '"';
  }
  array += '}';
  PgParams params;
  params.Add(std::string_view(array));
  SOBRE_ASSIGN_OR_RETURN(PgResult r, WithRetries([&](PgConn& conn) {
                           return conn.Exec(
                               "DELETE FROM cache_entries WHERE id = ANY($1::text[]) RETURNING 1",
                               params);
                         }));
  return int64_t{internal::PgRows(r.get())};
}

StatusOr<std::vector<CacheEntryRecord>> PostgresStore::LoadCacheEntries(TimePoint now,
                                                                        size_t limit) {
  std::vector<CacheEntryRecord> entries;
  if (limit == 0) return entries;
  PgParams params;
  params.Add(internal::ToUnixMicros(now))
      .Add(static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
  SOBRE_ASSIGN_OR_RETURN(PgResult r, WithRetries([&](PgConn& conn) {
                           return conn.Exec(Cat("SELECT ", internal::kCacheEntryColumns,
                                                " FROM cache_entries WHERE expires_us > $1 "
                                                "ORDER BY created_us DESC, id LIMIT $2"),
                                            params);
                         }));
  const pg_result* p = r.get();
  for (int i = 0; i < internal::PgRows(p); ++i) entries.push_back(ReadCacheEntry(p, i));
  return entries;
}

StatusOr<int64_t> PostgresStore::PurgeCacheEntries(const CacheEntryFilter& filter) {
  std::string sql = "DELETE FROM cache_entries WHERE TRUE";
  PgParams params;
  if (filter.tenant) {
    params.Add(std::string_view(*filter.tenant));
    sql += " AND tenant = $" + std::to_string(params.size());
  }
  if (filter.model) {
    params.Add(std::string_view(*filter.model));
    sql += " AND model = $" + std::to_string(params.size());
  }
  if (filter.expired_at) {
    params.Add(internal::ToUnixMicros(*filter.expired_at));
    sql += " AND expires_us <= $" + std::to_string(params.size());
  }
  sql += " RETURNING 1";
  SOBRE_ASSIGN_OR_RETURN(PgResult r,
                         WithRetries([&](PgConn& conn) { return conn.Exec(sql, params); }));
  return int64_t{internal::PgRows(r.get())};
}

}  // namespace sobre::store
