// The HTTP server over TLS: curl against a self-signed certificate, and start-up errors that name
// the bad file.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "gateway/http_server.h"
#include "tests/gateway/http_server_test_util.h"
#include "tests/gateway/http_test_client.h"

namespace sobre::gateway {
namespace {

using namespace http_testing;  // NOLINT: the shared helpers.
using testing::HttpGet;
using testing::HttpTestClient;

class HttpServerTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    ASSERT_FALSE(dir_.empty());
    cert_ = dir_ + "/c.pem";
    key_ = dir_ + "/k.pem";
    const testing::CommandResult made = testing::RunCommand(
        "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 -keyout " + key_ +
        " -out " + cert_ + " 2>&1");
    ASSERT_EQ(made.exit_code, 0) << made.output;
  }
  void TearDown() override {
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }

  HttpServerOptions TlsOptions() const {
    HttpServerOptions options = TestOptions();
    options.tls_cert_file = cert_;
    options.tls_key_file = key_;
    return options;
  }

  std::string dir_;
  std::string cert_;
  std::string key_;
};

TEST_F(HttpServerTlsTest, ServesCurlOverTls) {
  auto server = StartServer(TlsOptions(), [](HttpServer& s) {
    s.Route("GET", "/hello", Hello);
    s.Route("POST", "/echo", Echo);
    s.Route("GET", "/stream", [](const HttpRequest&, ResponseWriter& w) -> awaitable<void> {
      (void)co_await w.StartStream(200, OneHeader("Content-Type", "text/event-stream"));
      for (int i = 0; i < 3; ++i)
        (void)co_await w.WriteChunk("data: " + std::to_string(i) + "\n\n");
      (void)co_await w.EndStream();
    });
  });
  ASSERT_NE(server, nullptr);
  const std::string base = "https://127.0.0.1:" + std::to_string(server->port());
  testing::CommandResult got =
      testing::RunCommand("curl -sS -k --max-time 10 " + base + "/hello 2>&1");
  EXPECT_EQ(got.exit_code, 0) << got.output;
  EXPECT_EQ(got.output, "hello");
  got = testing::RunCommand("curl -sS -k --max-time 10 -d 'ping over tls' " + base + "/echo 2>&1");
  EXPECT_EQ(got.exit_code, 0) << got.output;
  EXPECT_EQ(got.output, "ping over tls");
  got = testing::RunCommand("curl -sS -k -N --max-time 10 " + base + "/stream 2>&1");
  EXPECT_EQ(got.exit_code, 0) << got.output;
  EXPECT_EQ(got.output, "data: 0\n\ndata: 1\n\ndata: 2\n\n");
  // Two URLs, one connection.
  got = testing::RunCommand("curl -sS -k --max-time 10 -w ' %{num_connects}' " + base + "/hello " +
                            base + "/hello 2>&1");
  EXPECT_EQ(got.exit_code, 0) << got.output;
  EXPECT_EQ(got.output, "hello 1hello 0");
  got = testing::RunCommand("curl -sS -k --max-time 10 " + base + "/nope 2>&1");
  EXPECT_NE(got.output.find("\"invalid_request_error\""), std::string::npos) << got.output;

  // Plain HTTP to the TLS port gets no HTTP answer, and the server carries on.
  auto plain = HttpTestClient::Connect(server->port());
  ASSERT_NE(plain, nullptr);
  ASSERT_TRUE(plain->Send(HttpGet("/hello")));
  EXPECT_FALSE(plain->ReadResponse(seconds(2)).has_value());
  got = testing::RunCommand("curl -sS -k --max-time 10 " + base + "/hello 2>&1");
  EXPECT_EQ(got.output, "hello");
}

TEST_F(HttpServerTlsTest, BadCertificateOrKeyFailsStartNamingTheFile) {
  HttpServerOptions options = TlsOptions();
  options.tls_cert_file = dir_ + "/missing-cert.pem";
  Status started = HttpServer(options).Start();
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.message().find(options.tls_cert_file), std::string::npos) << started.ToString();

  options = TlsOptions();
  options.tls_key_file = cert_;  // A certificate is not a key.
  started = HttpServer(options).Start();
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.message().find(cert_), std::string::npos) << started.ToString();

  options = TlsOptions();
  options.tls_key_file.clear();
  started = HttpServer(options).Start();
  EXPECT_EQ(started.code(), StatusCode::kInvalidArgument) << started.ToString();
}


}  // namespace
}  // namespace sobre::gateway
