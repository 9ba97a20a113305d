#include "store/internal/pg_conn.h"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <utility>

#include "core/logging.h"

namespace sobre::store::internal {
namespace {

// Seconds libpq waits for a server before giving up; a URL's own connect_timeout wins.
constexpr const char* kConnectTimeoutSeconds = "10";

std::string TrimNewline(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

Status FromSqlState(std::string_view state, std::string message) {
  if (state == "23505") return AlreadyExistsError(std::move(message));
  if (state.starts_with("23")) return FailedPreconditionError(std::move(message));
  if (state == "40001" || state == "40P01") return UnavailableError(std::move(message));
  if (state.starts_with("08") || state.starts_with("57")) {
    return UnavailableError(std::move(message));
  }
  if (state.starts_with("53")) return ResourceExhaustedError(std::move(message));
  if (state.starts_with("28") || state == "42501") return PermissionDeniedError(std::move(message));
  if (state == "3D000") return NotFoundError(std::move(message));
  return InternalError(std::move(message));
}

void LogNotice(void* arg, const char* message) {
  SOBRE_LOG(kDebug, "{}: {}", *static_cast<const std::string*>(arg),
            TrimNewline(message != nullptr ? message : ""));
}

}  // namespace

void PgResultDeleter::operator()(pg_result* r) const { PQclear(r); }

bool PgIsNull(const pg_result* r, int row, int col) { return PQgetisnull(r, row, col) != 0; }

std::string PgText(const pg_result* r, int row, int col) {
  return std::string(PQgetvalue(r, row, col), static_cast<size_t>(PQgetlength(r, row, col)));
}

int64_t PgInt(const pg_result* r, int row, int col) {
  const char* text = PQgetvalue(r, row, col);
  int64_t v = 0;
  std::from_chars(text, text + PQgetlength(r, row, col), v);
  return v;
}

double PgDouble(const pg_result* r, int row, int col) {
  const char* text = PQgetvalue(r, row, col);
  double v = 0;
  std::from_chars(text, text + PQgetlength(r, row, col), v);
  return v;
}

bool PgBool(const pg_result* r, int row, int col) { return PQgetvalue(r, row, col)[0] == 't'; }

std::optional<int64_t> PgOptionalInt(const pg_result* r, int row, int col) {
  if (PgIsNull(r, row, col)) return std::nullopt;
  return PgInt(r, row, col);
}

std::optional<double> PgOptionalDouble(const pg_result* r, int row, int col) {
  if (PgIsNull(r, row, col)) return std::nullopt;
  return PgDouble(r, row, col);
}

int PgRows(const pg_result* r) { return PQntuples(r); }

PgParams& PgParams::Add(int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  (void)ec;
  values_.emplace_back(std::string(buf, end));
  return *this;
}

PgParams& PgParams::Add(double v) {
  // Shortest text that reads back as the same double.
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  (void)ec;
  values_.emplace_back(std::string(buf, end));
  return *this;
}

PgParams& PgParams::Add(bool v) {
  values_.emplace_back(v ? "true" : "false");
  return *this;
}

PgParams& PgParams::Add(std::string_view v) {
  values_.emplace_back(std::string(v));
  return *this;
}

PgParams& PgParams::Add(const std::optional<int64_t>& v) {
  if (v) return Add(*v);
  values_.emplace_back(std::nullopt);
  return *this;
}

PgParams& PgParams::Add(const std::optional<double>& v) {
  if (v) return Add(*v);
  values_.emplace_back(std::nullopt);
  return *this;
}

std::vector<const char*> PgParams::Pointers() const {
  std::vector<const char*> out;
  out.reserve(values_.size());
  for (const auto& v : values_) out.push_back(v ? v->c_str() : nullptr);
  return out;
}

StatusOr<std::unique_ptr<PgConn>> PgConn::Connect(const std::string& url, std::string what) {
  // Keywords are applied in order and the expanded URL comes last, so that it overrides our
  // defaults.
  const char* keywords[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {kConnectTimeoutSeconds, "sobre", url.c_str(), nullptr};
  pg_conn* raw = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (raw == nullptr) return ResourceExhaustedError(what + ": out of memory connecting");
  std::unique_ptr<PgConn> conn(new PgConn(raw, std::move(what)));
  if (PQstatus(raw) != CONNECTION_OK) {
    return UnavailableError(conn->what_ + ": cannot connect: " + TrimNewline(PQerrorMessage(raw)));
  }
  PQsetNoticeProcessor(raw, &LogNotice, const_cast<std::string*>(&conn->what_));
  return conn;
}

PgConn::~PgConn() {
  if (conn_ != nullptr) PQfinish(conn_);
}

StatusOr<PgResult> PgConn::Exec(std::string_view sql, const PgParams& params) {
  last_retryable_ = false;
  std::string text(sql);
  PgResult result;
  if (params.size() == 0) {
    result.reset(PQexec(conn_, text.c_str()));
  } else {
    std::vector<const char*> values = params.Pointers();
    result.reset(PQexecParams(conn_, text.c_str(), static_cast<int>(values.size()), nullptr,
                              values.data(), nullptr, nullptr, /*resultFormat=*/0));
  }
  if (result == nullptr) {
    return UnavailableError(what_ + ": " + TrimNewline(PQerrorMessage(conn_)));
  }
  ExecStatusType status = PQresultStatus(result.get());
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return result;
  const char* state = PQresultErrorField(result.get(), PG_DIAG_SQLSTATE);
  std::string_view sqlstate = state != nullptr ? state : "";
  last_retryable_ = sqlstate == "40001" || sqlstate == "40P01";
  std::string message = what_ + ": " + TrimNewline(PQresultErrorMessage(result.get()));
  if (PQstatus(conn_) == CONNECTION_BAD) return UnavailableError(std::move(message));
  return FromSqlState(sqlstate, std::move(message));
}

Status PgConn::EnsureConnected() {
  if (PQstatus(conn_) == CONNECTION_OK) return OkStatus();
  PQreset(conn_);
  if (PQstatus(conn_) == CONNECTION_OK) return OkStatus();
  return UnavailableError(
      what_ + ": connection lost and cannot reconnect: " + TrimNewline(PQerrorMessage(conn_)));
}

bool PgConn::Idle() const {
  return PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) == PQTRANS_IDLE;
}

PgTxn::~PgTxn() {
  if (open_) (void)conn_.Exec("ROLLBACK");
}

Status PgTxn::Begin() {
  SOBRE_ASSIGN_OR_RETURN(PgResult r, conn_.Exec("BEGIN"));
  open_ = true;
  return OkStatus();
}

Status PgTxn::Commit() {
  auto r = conn_.Exec("COMMIT");
  // Whatever COMMIT answered, the transaction is over (a failed transaction commits as a
  // rollback).
  open_ = false;
  return r.status();
}

PgPool::Lease::~Lease() {
  if (pool_ != nullptr && conn_ != nullptr) pool_->Return(std::move(conn_));
}

PgPool::PgPool(std::string url, std::string what, size_t max_size, std::unique_ptr<PgConn> first)
    : url_(std::move(url)), what_(std::move(what)), max_size_(std::max<size_t>(max_size, 1)) {
  if (first != nullptr) {
    idle_.push_back(std::move(first));
    open_ = 1;
  }
}

PgPool::~PgPool() = default;

StatusOr<PgPool::Lease> PgPool::Acquire() {
  std::unique_ptr<PgConn> conn;
  {
    std::unique_lock lock(mu_);
    freed_.wait(lock, [&] { return !idle_.empty() || open_ < max_size_; });
    if (!idle_.empty()) {
      conn = std::move(idle_.back());
      idle_.pop_back();
    } else {
      ++open_;
    }
  }
  if (conn == nullptr) {
    // Connecting can take seconds: not under the lock.
    auto opened = PgConn::Connect(url_, what_);
    if (!opened.ok()) {
      std::lock_guard lock(mu_);
      --open_;
      freed_.notify_one();
      return opened.status();
    }
    conn = std::move(opened).value();
  }
  Status live = conn->EnsureConnected();
  if (!live.ok()) {
    std::lock_guard lock(mu_);
    --open_;
    freed_.notify_one();
    return live;
  }
  return Lease(this, std::move(conn));
}

void PgPool::Return(std::unique_ptr<PgConn> conn) {
  std::lock_guard lock(mu_);
  if (conn->Idle()) {
    idle_.push_back(std::move(conn));
  } else {
    // Broken, or left inside a transaction: close it rather than hand it to someone else.
    --open_;
    conn.reset();
  }
  freed_.notify_one();
}

std::string RedactPostgresUrl(std::string_view url) {
  std::string out(url);
  if (size_t scheme = out.find("://"); scheme != std::string::npos) {
    size_t start = scheme + 3;
    size_t end = out.find_first_of("/?", start);
    if (end == std::string::npos) end = out.size();
    size_t at = out.rfind('@', end);
    if (at != std::string::npos && at >= start) {
      size_t colon = out.find(':', start);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  for (size_t pos = out.find("password="); pos != std::string::npos;
       pos = out.find("password=", pos + 1)) {
    size_t value = pos + 9;
    size_t end = out.find_first_of("& ", value);
    if (end == std::string::npos) end = out.size();
    out.replace(value, end - value, "***");
  }
  return out;
}

}  // namespace sobre::store::internal
