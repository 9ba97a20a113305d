// The store's schema as an ordered list of versioned migrations, written once per SQL dialect.
// Both backends record the applied versions in a schema_migrations table and apply the missing
// ones, in order, when a store is opened.
#ifndef SOBRE_STORE_INTERNAL_SCHEMA_H_
#define SOBRE_STORE_INTERNAL_SCHEMA_H_

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sobre::store::internal {

struct Migration {
  int version;                    // 1, 2, ...: applied in increasing order, each exactly once.
  std::string_view name;          // Recorded in schema_migrations for people reading the database.
  std::string_view sqlite_sql;    // One or more statements for SQLite.
  std::string_view postgres_sql;  // The same tables for PostgreSQL.
};

// Every migration, oldest first. Versions are contiguous from 1.
std::span<const Migration> Migrations();

// Column lists shared by both backends' queries, in the order their row readers expect.
inline constexpr std::string_view kKeyColumns =
    "id, name, tenant, prefix, admin, revoked, tokens_per_day, tokens_per_month, wh_per_day, "
    "wh_per_month, co2e_g_per_day, co2e_g_per_month, requests_per_minute, tokens_per_minute, "
    "created_us";
inline constexpr std::string_view kLedgerColumns =
    "time_us, request_id, key_name, tenant, model, backend, endpoint, prompt_tokens, "
    "completion_tokens, latency_ms, ttft_ms, overhead_ms, energy_wh, co2e_g, water_ml, "
    "embodied_co2e_g, method, cache_status, http_status, error_code, avoided_energy_wh, "
    "avoided_co2e_g";
inline constexpr int kLedgerColumnCount = 22;
inline constexpr std::string_view kCacheEntryColumns =
    "id, key, tenant, model, endpoint, created_us, expires_us, body, prompt_tokens, "
    "completion_tokens, energy_wh, co2e_g, water_ml, embodied_co2e_g, method, semantic_scope, "
    "query_text, embedder, embedding";
inline constexpr int kCacheEntryColumnCount = 19;

// A float vector as stored in a text column (base64 of little-endian float32), and back; an
// empty string is an empty vector, and text that is not such a vector reads as empty.
std::string EncodeVector(std::span<const float> v);
std::vector<float> DecodeVector(std::string_view text);

// The table recording applied migrations, in each dialect (idempotent).
extern const std::string_view kSqliteMigrationsTable;
extern const std::string_view kPostgresMigrationsTable;

}  // namespace sobre::store::internal

#endif  // SOBRE_STORE_INTERNAL_SCHEMA_H_
