// Runs the real `sobre` binary through the shell and captures its output, for end-to-end tests.
#ifndef SOBRE_TESTS_CLI_CLI_RUNNER_H_
#define SOBRE_TESTS_CLI_CLI_RUNNER_H_

#include <stdlib.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace sobre::testing {

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// A temp dir removed on destruction.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/sobre_cli_test_XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::system(("rm -rf " + path_).c_str()); }
  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& text) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  std::string Read(const std::string& name) const {
    std::ifstream in(path_ + "/" + name);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  std::string path_;
};

#ifdef SOBRE_BINARY
// Runs `env_prefix sobre args` with /bin/sh; `env_prefix` is "VAR=value ..." or empty.
inline CliResult RunSobre(const TempDir& dir, const std::string& args,
                          const std::string& env_prefix = "") {
  std::string out = dir.path() + "/stdout", err = dir.path() + "/stderr";
  std::string cmd = env_prefix + " " + SOBRE_BINARY + " " + args + " >" + out + " 2>" + err +
                    " </dev/null";
  int status = std::system(cmd.c_str());
  CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = dir.Read("stdout");
  r.err = dir.Read("stderr");
  return r;
}
#endif  // SOBRE_BINARY

}  // namespace sobre::testing

#endif  // SOBRE_TESTS_CLI_CLI_RUNNER_H_
