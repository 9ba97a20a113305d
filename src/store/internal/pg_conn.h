// RAII owners for libpq connections and results, a parameter list that formats values as text,
// a transaction guard and a small connection pool.
#ifndef SOBRE_STORE_INTERNAL_PG_CONN_H_
#define SOBRE_STORE_INTERNAL_PG_CONN_H_

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

struct pg_conn;
struct pg_result;

namespace sobre::store::internal {

struct PgResultDeleter {
  void operator()(pg_result* r) const;
};
// One query result; cleared on destruction.
using PgResult = std::unique_ptr<pg_result, PgResultDeleter>;

// Typed reads of a text-format result. `row` and `col` are 0-based and must exist.
bool PgIsNull(const pg_result* r, int row, int col);
std::string PgText(const pg_result* r, int row, int col);
int64_t PgInt(const pg_result* r, int row, int col);
double PgDouble(const pg_result* r, int row, int col);
bool PgBool(const pg_result* r, int row, int col);
std::optional<int64_t> PgOptionalInt(const pg_result* r, int row, int col);
std::optional<double> PgOptionalDouble(const pg_result* r, int row, int col);
int PgRows(const pg_result* r);

// Query parameters, $1 first, sent as text. Thread contract: thread-compatible.
class PgParams {
 public:
  PgParams& Add(int64_t v);
  PgParams& Add(double v);
  PgParams& Add(bool v);
  PgParams& Add(std::string_view v);
  PgParams& Add(const std::optional<int64_t>& v);
  PgParams& Add(const std::optional<double>& v);
  size_t size() const { return values_.size(); }
  // Pointers into this object, valid while it lives and is not modified (nullptr for NULL).
  std::vector<const char*> Pointers() const;

 private:
  std::vector<std::optional<std::string>> values_;
};

// One connection. Thread contract: thread-compatible; the pool hands it to one thread at a time.
class PgConn {
 public:
  // Connects to the libpq URI or conninfo `url`. `what` ("postgres store
  // 'postgres://sobre@db/sobre'", password removed) starts every error message.
  static StatusOr<std::unique_ptr<PgConn>> Connect(const std::string& url, std::string what);
  ~PgConn();
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  // Runs `sql`; several ';'-separated statements are allowed only without parameters.
  StatusOr<PgResult> Exec(std::string_view sql, const PgParams& params = {});
  // Reconnects if the server dropped the connection.
  Status EnsureConnected();
  // True when the connection is usable and outside any transaction.
  bool Idle() const;
  // True when the last error was a serialization failure or deadlock: the transaction may simply
  // be run again.
  bool LastErrorRetryable() const { return last_retryable_; }
  const std::string& what() const { return what_; }

 private:
  PgConn(pg_conn* conn, std::string what) : conn_(conn), what_(std::move(what)) {}

  pg_conn* conn_;
  std::string what_;
  bool last_retryable_ = false;
};

// BEGIN in Begin(); ROLLBACK on destruction unless Commit() succeeded. Thread contract: as its
// connection.
class PgTxn {
 public:
  explicit PgTxn(PgConn& conn) : conn_(conn) {}
  ~PgTxn();
  PgTxn(const PgTxn&) = delete;
  PgTxn& operator=(const PgTxn&) = delete;

  Status Begin();
  Status Commit();

 private:
  PgConn& conn_;
  bool open_ = false;
};

// Up to `max_size` connections to one database, opened on demand. Thread contract: thread-safe.
class PgPool {
 public:
  // A connection on loan; returned to the pool on destruction (or closed when it is unusable).
  // Thread contract: as its connection.
  class Lease {
   public:
    Lease(PgPool* pool, std::unique_ptr<PgConn> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&& o) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    PgConn& operator*() const { return *conn_; }
    PgConn* operator->() const { return conn_.get(); }

   private:
    PgPool* pool_;
    std::unique_ptr<PgConn> conn_;
  };

  // `first` is an already opened connection that seeds the pool.
  PgPool(std::string url, std::string what, size_t max_size, std::unique_ptr<PgConn> first);
  ~PgPool();

  // Waits for a free connection, opening one if fewer than max_size exist.
  StatusOr<Lease> Acquire();

 private:
  void Return(std::unique_ptr<PgConn> conn);

  const std::string url_;
  const std::string what_;
  const size_t max_size_;
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<PgConn>> idle_;
  size_t open_ = 0;  // Idle plus on loan plus being opened.
};

// `url` with any password replaced by "***", for messages and logs.
std::string RedactPostgresUrl(std::string_view url);

}  // namespace sobre::store::internal

#endif  // SOBRE_STORE_INTERNAL_PG_CONN_H_
