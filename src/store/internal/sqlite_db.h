// RAII owners for a SQLite connection, a prepared statement and a transaction, with SQLite's
// result codes turned into Status values that name the database.
#ifndef SOBRE_STORE_INTERNAL_SQLITE_DB_H_
#define SOBRE_STORE_INTERNAL_SQLITE_DB_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace sobre::store::internal {

class SqliteDb;

// One prepared statement; finalised on destruction. Move-only. Thread contract: used by one
// thread at a time, the one holding its connection.
class SqliteStmt {
 public:
  SqliteStmt(SqliteDb* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~SqliteStmt();
  SqliteStmt(SqliteStmt&& o) noexcept;
  SqliteStmt& operator=(SqliteStmt&&) = delete;
  SqliteStmt(const SqliteStmt&) = delete;
  SqliteStmt& operator=(const SqliteStmt&) = delete;

  // Bind the 1-based parameter `i`; a failure is reported by the next Step().
  SqliteStmt& Bind(int i, int64_t v);
  SqliteStmt& Bind(int i, double v);
  SqliteStmt& Bind(int i, std::string_view v);
  SqliteStmt& Bind(int i, const std::optional<int64_t>& v);
  SqliteStmt& Bind(int i, const std::optional<double>& v);

  // true: a row is ready to read; false: the statement is done.
  StatusOr<bool> Step();
  // Step() that expects no row back.
  Status Run();
  // Clears bindings and rewinds, to run the statement again.
  void Reset();

  // Columns of the current row, 0-based.
  bool IsNull(int col) const;
  int64_t Int(int col) const;
  double Double(int col) const;
  std::string Text(int col) const;
  std::optional<int64_t> OptionalInt(int col) const;
  std::optional<double> OptionalDouble(int col) const;

 private:
  void NoteBind(int rc);

  SqliteDb* db_;
  sqlite3_stmt* stmt_;
  int bind_error_ = 0;
};

// One connection. Thread contract: thread-compatible; callers serialise every use.
class SqliteDb {
 public:
  // Opens (creating if needed) `path`, or a private in-memory database for ":memory:", and
  // checks that it is a SQLite database before anything is written. `what` ("sqlite store
  // '/var/lib/sobre.db'") starts every error message.
  static StatusOr<std::unique_ptr<SqliteDb>> Open(const std::string& path, std::string what,
                                                  std::chrono::milliseconds busy_timeout);
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  // Runs one or more statements that return no rows.
  Status Exec(std::string_view sql);
  StatusOr<SqliteStmt> Prepare(std::string_view sql);
  int64_t LastInsertId() const;
  int64_t Changes() const;

  // The Status for result code `rc`, with the connection's message and `doing` as context.
  Status Error(int rc, std::string_view doing) const;
  const std::string& what() const { return what_; }

 private:
  SqliteDb(sqlite3* db, std::string what) : db_(db), what_(std::move(what)) {}

  sqlite3* db_;
  std::string what_;
};

// Begin() issues BEGIN IMMEDIATE (taking the write lock up front, so that a read-check-write
// sequence cannot be interleaved with another writer); ROLLBACK on destruction unless Commit()
// succeeded. Thread contract: as its connection.
class SqliteTxn {
 public:
  explicit SqliteTxn(SqliteDb& db) : db_(db) {}
  ~SqliteTxn();
  SqliteTxn(const SqliteTxn&) = delete;
  SqliteTxn& operator=(const SqliteTxn&) = delete;

  Status Begin();
  Status Commit();

 private:
  SqliteDb& db_;
  bool open_ = false;
};

}  // namespace sobre::store::internal

#endif  // SOBRE_STORE_INTERNAL_SQLITE_DB_H_
