#include "store/internal/sqlite_db.h"

#include <sqlite3.h>

#include <utility>

namespace sobre::store::internal {

SqliteStmt::~SqliteStmt() {
  if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

SqliteStmt::SqliteStmt(SqliteStmt&& o) noexcept
    : db_(o.db_), stmt_(std::exchange(o.stmt_, nullptr)), bind_error_(o.bind_error_) {}

void SqliteStmt::NoteBind(int rc) {
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
}

SqliteStmt& SqliteStmt::Bind(int i, int64_t v) {
  NoteBind(sqlite3_bind_int64(stmt_, i, v));
  return *this;
}

SqliteStmt& SqliteStmt::Bind(int i, double v) {
  NoteBind(sqlite3_bind_double(stmt_, i, v));
  return *this;
}

SqliteStmt& SqliteStmt::Bind(int i, std::string_view v) {
  NoteBind(sqlite3_bind_text64(stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  return *this;
}

SqliteStmt& SqliteStmt::Bind(int i, const std::optional<int64_t>& v) {
  NoteBind(v ? sqlite3_bind_int64(stmt_, i, *v) : sqlite3_bind_null(stmt_, i));
  return *this;
}

SqliteStmt& SqliteStmt::Bind(int i, const std::optional<double>& v) {
  NoteBind(v ? sqlite3_bind_double(stmt_, i, *v) : sqlite3_bind_null(stmt_, i));
  return *this;
}

StatusOr<bool> SqliteStmt::Step() {
  if (bind_error_ != 0) return db_->Error(bind_error_, "binding a parameter");
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->Error(rc, "running a statement");
}

Status SqliteStmt::Run() {
  SOBRE_ASSIGN_OR_RETURN(bool row, Step());
  (void)row;
  return OkStatus();
}

void SqliteStmt::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_error_ = 0;
}

bool SqliteStmt::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
int64_t SqliteStmt::Int(int col) const { return sqlite3_column_int64(stmt_, col); }
double SqliteStmt::Double(int col) const { return sqlite3_column_double(stmt_, col); }

std::string SqliteStmt::Text(int col) const {
  const unsigned char* text = sqlite3_column_text(stmt_, col);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::optional<int64_t> SqliteStmt::OptionalInt(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Int(col);
}

std::optional<double> SqliteStmt::OptionalDouble(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Double(col);
}

StatusOr<std::unique_ptr<SqliteDb>> SqliteDb::Open(const std::string& path, std::string what,
                                                   std::chrono::milliseconds busy_timeout) {
  sqlite3* raw = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  // sqlite3_open_v2 hands back a handle even on failure; it must be closed either way.
  std::unique_ptr<SqliteDb> db(new SqliteDb(raw, std::move(what)));
  if (raw == nullptr) return ResourceExhaustedError(db->what_ + ": out of memory opening it");
  sqlite3_extended_result_codes(raw, 1);
  if (rc != SQLITE_OK) return db->Error(rc, "opening");
  sqlite3_busy_timeout(raw, static_cast<int>(busy_timeout.count()));
  // Read before writing anything: a file that is not a SQLite database fails here untouched.
  SOBRE_RETURN_IF_ERROR(db->Exec("SELECT count(*) FROM sqlite_master"));
  return db;
}

SqliteDb::~SqliteDb() {
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

Status SqliteDb::Exec(std::string_view sql) {
  std::string text(sql);
  char* message = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return OkStatus();
  // sqlite3_errmsg() holds the same text as `message` and Error() reads it from there.
  sqlite3_free(message);
  return Error(rc, "");
}

StatusOr<SqliteStmt> SqliteDb::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    if (stmt != nullptr) sqlite3_finalize(stmt);
    return Error(rc, "preparing a statement");
  }
  return SqliteStmt(this, stmt);
}

int64_t SqliteDb::LastInsertId() const { return sqlite3_last_insert_rowid(db_); }
int64_t SqliteDb::Changes() const { return sqlite3_changes64(db_); }

Status SqliteDb::Error(int rc, std::string_view doing) const {
  std::string message = what_;
  if (!doing.empty()) {
    message += ": ";
    message += doing;
  }
  message += ": ";
  // The connection's message is more specific than the code's ("UNIQUE constraint failed:
  // api_keys.name") when it belongs to this error.
  if (db_ != nullptr && sqlite3_extended_errcode(db_) == rc) {
    message += sqlite3_errmsg(db_);
  } else {
    message += sqlite3_errstr(rc);
  }
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return UnavailableError(message + " (the database stayed locked by another writer)");
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return AlreadyExistsError(message);
      }
      return FailedPreconditionError(message);
    case SQLITE_NOTADB:
      return FailedPreconditionError(message + " (is it a SQLite database?)");
    case SQLITE_CORRUPT:
      return DataLossError(message);
    case SQLITE_CANTOPEN:
      return UnavailableError(message);
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return PermissionDeniedError(message);
    case SQLITE_FULL:
    case SQLITE_NOMEM:
      return ResourceExhaustedError(message);
    case SQLITE_IOERR:
      return UnavailableError(message);
    default:
      return InternalError(message);
  }
}

SqliteTxn::~SqliteTxn() {
  if (open_) (void)db_.Exec("ROLLBACK");
}

Status SqliteTxn::Begin() {
  SOBRE_RETURN_IF_ERROR(db_.Exec("BEGIN IMMEDIATE"));
  open_ = true;
  return OkStatus();
}

Status SqliteTxn::Commit() {
  Status status = db_.Exec("COMMIT");
  // A failed COMMIT (SQLITE_BUSY) leaves the transaction open; the destructor rolls it back.
  if (status.ok()) open_ = false;
  return status;
}

}  // namespace sobre::store::internal
