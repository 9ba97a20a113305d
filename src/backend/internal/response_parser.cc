#include "backend/internal/response_parser.h"

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>

#include "core/strings.h"

namespace sobre::backend::internal {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;

// Response headers larger than this are refused (servers send a few hundred bytes).
constexpr uint32_t kHeaderLimitBytes = 64u << 10;

}  // namespace

// Beast's callback parser: the virtual hooks record what sobre needs and collect the body, whether
// it is sized, chunked or delimited by the connection closing.
class ResponseParser::Impl final : public http::basic_parser<false> {
 public:
  explicit Impl(uint64_t body_limit_bytes) {
    body_limit(body_limit_bytes);
    header_limit(kHeaderLimitBytes);
    eager(true);
  }

  int status_ = 0;
  std::string content_type_;
  std::string retry_after_;
  std::string retry_after_ms_;
  std::string body_;
  uint64_t body_bytes_ = 0;

  // Beast 1.81 passes boost::core::string_view whatever BOOST_BEAST_USE_STD_STRING_VIEW says.
 private:
  void on_request_impl(http::verb, beast::string_view, beast::string_view, int,
                       beast::error_code& ec) override {
    ec = http::error::bad_method;  // Never called for a response parser.
  }
  void on_response_impl(int code, beast::string_view, int, beast::error_code&) override {
    status_ = code;
  }
  void on_field_impl(http::field name, beast::string_view name_string, beast::string_view value,
                     beast::error_code&) override {
    if (name == http::field::content_type) {
      beast::string_view type = value.substr(0, value.find(';'));
      content_type_ = ToLower(Trim(std::string_view(type)));
    } else if (name == http::field::retry_after) {
      retry_after_.assign(Trim(std::string_view(value)));
    } else if (EqualsIgnoreCase(std::string_view(name_string), "retry-after-ms")) {
      retry_after_ms_.assign(Trim(std::string_view(value)));
    }
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, beast::error_code&) override {}
  size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    body_.append(body);
    body_bytes_ += body.size();
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, beast::error_code&) override {
    body_.append(body);
    body_bytes_ += body.size();
    return body.size();
  }
  void on_finish_impl(beast::error_code&) override {}
};

namespace {

Status ParseError(const beast::error_code& ec) {
  if (ec == http::error::body_limit || ec == http::error::header_limit ||
      ec == http::error::buffer_overflow) {
    return ResourceExhaustedError("upstream response too large: " + ec.message());
  }
  return DataLossError("malformed HTTP response from upstream: " + ec.message());
}

}  // namespace

ResponseParser::ResponseParser(uint64_t body_limit_bytes)
    : impl_(std::make_unique<Impl>(body_limit_bytes)) {}
ResponseParser::~ResponseParser() = default;

StatusOr<size_t> ResponseParser::Put(std::string_view data, bool* need_more) {
  *need_more = false;
  beast::error_code ec;
  size_t used = impl_->put(boost::asio::const_buffer(data.data(), data.size()), ec);
  if (ec == http::error::need_more) {
    *need_more = true;
    return used;
  }
  if (ec) return ParseError(ec);
  return used;
}

Status ResponseParser::PutEof() {
  beast::error_code ec;
  impl_->put_eof(ec);
  if (ec == http::error::partial_message || (!ec && !impl_->is_done())) {
    return DataLossError("upstream closed the connection in the middle of a response");
  }
  if (ec) return ParseError(ec);
  return OkStatus();
}

bool ResponseParser::header_done() const { return impl_->is_header_done(); }
bool ResponseParser::done() const { return impl_->is_done(); }
int ResponseParser::status() const { return impl_->status_; }
const std::string& ResponseParser::content_type() const { return impl_->content_type_; }
const std::string& ResponseParser::retry_after() const { return impl_->retry_after_; }
const std::string& ResponseParser::retry_after_ms() const { return impl_->retry_after_ms_; }
bool ResponseParser::keep_alive() const { return impl_->keep_alive(); }
uint64_t ResponseParser::body_bytes() const { return impl_->body_bytes_; }

std::string ResponseParser::TakeBody() {
  std::string out = std::move(impl_->body_);
  impl_->body_.clear();
  return out;
}

}  // namespace sobre::backend::internal
