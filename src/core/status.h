// Status and StatusOr<T>: how sobre reports errors without exceptions. Codes follow abseil's.
#ifndef SOBRE_CORE_STATUS_H_
#define SOBRE_CORE_STATUS_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace sobre {

enum class StatusCode {
  kOk = 0,
  kCancelled,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,
  kFailedPrecondition,
  kResourceExhausted,
  kDeadlineExceeded,
  kUnavailable,
  kUnimplemented,
  kDataLoss,
  kInternal,
};

// Returns a stable lower-case name for `code` ("invalid_argument").
std::string_view StatusCodeName(StatusCode code);

// The outcome of an operation: ok, or a code and a message meant for a person. Cheap to copy
// when ok. Thread-compatible.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "context: message"; used to add context on the way up.
  Status WithContext(std::string_view context) const;

  // "invalid_argument: message", or "ok".
  std::string ToString() const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status OkStatus() { return Status(); }
Status InvalidArgumentError(std::string message);
Status NotFoundError(std::string message);
Status AlreadyExistsError(std::string message);
Status PermissionDeniedError(std::string message);
Status FailedPreconditionError(std::string message);
Status ResourceExhaustedError(std::string message);
Status DeadlineExceededError(std::string message);
Status UnavailableError(std::string message);
Status UnimplementedError(std::string message);
Status DataLossError(std::string message);
Status InternalError(std::string message);
Status CancelledError(std::string message);

// Maps an errno value to the closest code, with `what` and strerror in the message.
Status ErrnoToStatus(int errno_value, std::string_view what);

// A value of T, or the Status saying why there is none. Never holds an ok Status without a value.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(const Status& status) : status_(status) {  // NOLINT: implicit by design.
    if (status_.ok()) status_ = InternalError("StatusOr constructed from an ok Status");
  }
  StatusOr(Status&& status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) status_ = InternalError("StatusOr constructed from an ok Status");
  }
  StatusOr(const T& value) : value_(value) {}       // NOLINT
  StatusOr(T&& value) : value_(std::move(value)) {}  // NOLINT

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }

  // Precondition: ok().
  const T& value() const& { return *value_; }
  T& value() & { return *value_; }
  T&& value() && { return std::move(*value_); }
  const T& operator*() const& { return *value_; }
  T& operator*() & { return *value_; }
  const T* operator->() const { return &*value_; }
  T* operator->() { return &*value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace sobre

#define SOBRE_STATUS_CONCAT_INNER_(a, b) a##b
#define SOBRE_STATUS_CONCAT_(a, b) SOBRE_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (a Status) is not ok.
#define SOBRE_RETURN_IF_ERROR(expr)                 \
  do {                                              \
    ::sobre::Status sobre_status_ = (expr);         \
    if (!sobre_status_.ok()) return sobre_status_;  \
  } while (0)

// `lhs = value of expr` (a StatusOr), or returns its Status from the enclosing function.
#define SOBRE_ASSIGN_OR_RETURN(lhs, expr) \
  SOBRE_ASSIGN_OR_RETURN_IMPL_(SOBRE_STATUS_CONCAT_(sobre_statusor_, __LINE__), lhs, expr)
#define SOBRE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

#endif  // SOBRE_CORE_STATUS_H_
