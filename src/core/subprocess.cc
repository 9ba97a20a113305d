#include "core/subprocess.h"

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "core/file.h"

extern char** environ;

namespace sobre {
namespace {

sigset_t RelayedSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGCHLD);
  return set;
}

Seconds CpuTimeOf(const rusage& ru) {
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return Seconds(tv(ru.ru_utime) + tv(ru.ru_stime));
}

}  // namespace

void BlockRelayedSignals() {
  sigset_t set = RelayedSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

StatusOr<ChildExit> RunChild(const std::vector<std::string>& argv,
                             const std::function<void(pid_t)>& on_start,
                             const std::function<void()>& on_tick,
                             std::chrono::milliseconds tick) {
  if (argv.empty()) return InvalidArgumentError("no command given");
  BlockRelayedSignals();
  sigset_t relayed = RelayedSignals();
  int sfd = ::signalfd(-1, &relayed, SFD_CLOEXEC);
  if (sfd < 0) return ErrnoToStatus(errno, "signalfd");
  UniqueFd signal_fd(sfd);

  // The child starts with an empty signal mask and default dispositions, whatever ours are.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigmask(&attr, &empty);
  sigset_t defaults = relayed;
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, args[0], nullptr, &attr, args.data(), environ);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return ErrnoToStatus(rc, "cannot run '" + argv[0] + "'");
  if (on_start) on_start(pid);

  for (;;) {
    // The child may have ended before SIGCHLD was queued to the signalfd: check first.
    int status = 0;
    rusage ru{};
    pid_t done = ::wait4(pid, &status, WNOHANG, &ru);
    if (done == pid) {
      ChildExit exit;
      exit.cpu_time = CpuTimeOf(ru);
      if (WIFSIGNALED(status)) {
        exit.signal = WTERMSIG(status);
        exit.exit_code = 128 + WTERMSIG(status);
      } else {
        exit.exit_code = WEXITSTATUS(status);
      }
      return exit;
    }
    if (done < 0 && errno != EINTR) return ErrnoToStatus(errno, "waiting for the command");

    pollfd p{signal_fd.get(), POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(tick.count()));
    if (n == 0) {
      if (on_tick) on_tick();
      continue;
    }
    if (n < 0) continue;  // EINTR.
    signalfd_siginfo info;
    if (::read(signal_fd.get(), &info, sizeof info) != static_cast<ssize_t>(sizeof info)) continue;
    if (info.ssi_signo == SIGINT || info.ssi_signo == SIGTERM) {
      // SI_KERNEL marks a signal from the terminal, which the child got too (same process group).
      if (info.ssi_code != SI_KERNEL) ::kill(pid, static_cast<int>(info.ssi_signo));
    }
  }
}

}  // namespace sobre
