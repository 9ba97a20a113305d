// A throwaway PostgreSQL cluster for tests: initdb into a private temp dir, a server listening on
// a Unix socket in that dir and on a free loopback port, trust authentication, one fresh
// database per test. Reusable by any test binary (store, gateway):
//
//   auto& pg = sobre::testing::PgCluster::Shared();
//   ASSERT_TRUE(pg.ok()) << pg.error();
//   std::string error;
//   std::string db = pg.NewDatabase(&error);
//   ASSERT_FALSE(db.empty()) << error;
//   auto store = sobre::store::OpenStore(pg.Url(db));     // or pg.TcpUrl(db)
//
// PostgreSQL refuses to run as root: under root the server runs as `nobody` (runuser), which
// owns the temp dir. A watchdog process stops the server and removes the dir when the test
// process exits, however it exits (at a normal exit, ~PgCluster waits for it).
#ifndef SOBRE_TESTS_STORE_PG_CLUSTER_H_
#define SOBRE_TESTS_STORE_PG_CLUSTER_H_

#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

namespace sobre::testing {

// Thread contract: thread-safe (NewDatabase and Query serialise on a mutex).
class PgCluster {
 public:
  // The cluster of this test process, started on first use (about a second) and stopped when
  // the process exits. A process that never calls it starts nothing.
  static PgCluster& Shared() {
    static PgCluster cluster;
    return cluster;
  }

  // Stops the server and removes its directory (through the watchdog), waiting for both.
  ~PgCluster() {
    if (watchdog_fd_ >= 0) ::close(watchdog_fd_);
    if (watchdog_pid_ > 0) ::waitpid(watchdog_pid_, nullptr, 0);
  }
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  bool ok() const { return error_.empty(); }
  // Why the cluster is not running (binaries missing, initdb or start failed, with log tails).
  const std::string& error() const { return error_; }
  const std::string& socket_dir() const { return dir_; }
  int port() const { return port_; }

  // Creates an empty database and returns its name, or "" with `*error` set.
  std::string NewDatabase(std::string* error) {
    std::lock_guard lock(mu_);
    if (!ok()) {
      *error = error_;
      return "";
    }
    std::string name = "sobre_test_" + std::to_string(++databases_);
    std::string out;
    if (Run(Bin("createdb") + " -h " + dir_ + " -p " + std::to_string(port_) + " -U postgres " +
                name,
            &out) != 0) {
      *error = "createdb " + name + " failed: " + out;
      return "";
    }
    return name;
  }

  // libpq URL of `db` through the Unix socket.
  std::string Url(const std::string& db) const {
    return "postgresql:///" + db + "?host=" + dir_ + "&port=" + std::to_string(port_) +
           "&user=postgres";
  }
  // libpq URL of `db` through TCP on 127.0.0.1.
  std::string TcpUrl(const std::string& db) const {
    return "postgres://postgres@127.0.0.1:" + std::to_string(port_) + "/" + db;
  }

  // Runs `sql` in `db` with psql and returns its unaligned output; false with the output in
  // `*out` on failure.
  bool Query(const std::string& db, const std::string& sql, std::string* out) {
    std::lock_guard lock(mu_);
    return Run(Bin("psql") + " -X -q -At -v ON_ERROR_STOP=1 -h " + dir_ + " -p " +
                   std::to_string(port_) + " -U postgres -d " + db + " -c " + ShellQuote(sql),
               out) == 0;
  }

  // Every row of every table of `db` as text (pg_dump --data-only).
  bool Dump(const std::string& db, std::string* out) {
    std::lock_guard lock(mu_);
    return Run(Bin("pg_dump") + " --data-only -h " + dir_ + " -p " + std::to_string(port_) +
                   " -U postgres " + db,
               out) == 0;
  }

 private:
  PgCluster() { Start(); }

  static std::string ShellQuote(const std::string& s) {
    std::string q = "'";
    for (char c : s) {
      if (c == '\'') {
        q += "'\\''";
      } else {
        q += c;
      }
    }
    return q + "'";
  }

  // Runs `cmd` with /bin/sh, stdout and stderr captured into `*out`; returns the exit code.
  static int Run(const std::string& cmd, std::string* out) {
    out->clear();
    FILE* p = ::popen(("cd / && " + cmd + " 2>&1").c_str(), "r");
    if (p == nullptr) return -1;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out->append(buf.data(), n);
    int status = ::pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  static std::string Tail(const std::string& path) {
    std::string out;
    Run("tail -n 20 " + path, &out);
    return out;
  }

  std::string Bin(const std::string& tool) const { return bindir_ + "/" + tool; }

  // A loopback port nothing listens on right now.
  static int FreePort() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    ::close(fd);
    return port;
  }

  void Start() {
    const char* env_bindir = std::getenv("SOBRE_PG_BINDIR");
    bindir_ = env_bindir != nullptr ? env_bindir : "/usr/lib/postgresql/15/bin";
    if (::access(Bin("initdb").c_str(), X_OK) != 0 || ::access(Bin("pg_ctl").c_str(), X_OK) != 0) {
      error_ = "PostgreSQL server binaries not found: " + Bin("initdb") +
               " is missing. Install postgresql-15 (scripts/install-deps does) or set "
               "SOBRE_PG_BINDIR to the directory holding initdb and pg_ctl.";
      return;
    }
    // /tmp, not $TMPDIR: the unprivileged server user must be able to reach the directory.
    char tmpl[] = "/tmp/sobre-pg-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      error_ = "mkdtemp /tmp/sobre-pg-XXXXXX failed";
      return;
    }
    dir_ = tmpl;
    std::string as_user;
    if (::geteuid() == 0) {
      const passwd* nobody = ::getpwnam("nobody");
      if (nobody == nullptr || ::chown(dir_.c_str(), nobody->pw_uid, nobody->pw_gid) != 0) {
        error_ = "running as root and cannot hand " + dir_ + " to user nobody";
        return;
      }
      as_user = "runuser -u nobody -- ";
    }
    const std::string data = dir_ + "/data";
    const std::string stop = as_user + Bin("pg_ctl") + " -D " + data + " -m immediate -w stop";
    StartWatchdog(stop + " >/dev/null 2>&1; rm -rf " + dir_);

    std::string out;
    if (Run(as_user + Bin("initdb") + " -D " + data +
                " -U postgres -A trust -E UTF8 --locale=C --no-sync --no-instructions",
            &out) != 0) {
      error_ = "initdb failed: " + out;
      return;
    }
    // Another process may take the port between FreePort() and the server's bind: try again.
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = FreePort();
      const std::string log = dir_ + "/server.log";
      const std::string options = "-k " + dir_ + " -c listen_addresses=127.0.0.1 -p " +
                                  std::to_string(port_) +
                                  " -F -c full_page_writes=off -c max_connections=200";
      if (Run(as_user + Bin("pg_ctl") + " -D " + data + " -l " + log + " -w -t 60 -o '" + options +
                  "' start",
              &out) == 0) {
        error_.clear();
        return;
      }
      error_ = "pg_ctl start failed: " + out + "\nserver.log:\n" + Tail(log);
    }
  }

  // Forks a process that waits for this one to exit (the pipe's write end closes with it), then
  // runs `cleanup`. It is in its own session, so killing the test's process group spares it.
  void StartWatchdog(const std::string& cleanup) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    const std::string script = "while read -r _; do :; done; " + cleanup;
    pid_t pid = ::fork();
    if (pid == 0) {
      // Only async-signal-safe calls until exec.
      ::setsid();
      ::dup2(fds[0], 0);
      int null_fd = ::open("/dev/null", O_WRONLY);
      if (null_fd >= 0) {
        ::dup2(null_fd, 1);
        ::dup2(null_fd, 2);
      }
      ::close_range(3, ~0U, 0);
      ::execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[0]);
    if (pid < 0) {
      ::close(fds[1]);
      return;
    }
    watchdog_pid_ = pid;
    watchdog_fd_ = fds[1];  // Kept open, never written, until the cluster or the process ends.
  }

  std::mutex mu_;
  std::string bindir_;
  std::string dir_;
  std::string error_;
  int port_ = 0;
  int databases_ = 0;
  int watchdog_fd_ = -1;
  pid_t watchdog_pid_ = -1;
};

}  // namespace sobre::testing

#endif  // SOBRE_TESTS_STORE_PG_CLUSTER_H_
