#include "footprint/proc_stats.h"

#include <dirent.h>
#include <unistd.h>

#include <cctype>
#include <set>
#include <unordered_map>
#include <vector>

#include "core/file.h"
#include "core/strings.h"

namespace sobre::footprint {

StatusOr<SystemCpuTimes> ProcReader::ReadSystemCpu() const {
  std::string path = root_ + "/stat";
  SOBRE_ASSIGN_OR_RETURN(std::string text, ReadFile(path, 1u << 20));
  SystemCpuTimes out;
  bool have_total = false;
  for (std::string_view line : Split(text, '\n')) {
    if (!StartsWith(line, "cpu")) continue;
    std::vector<std::string_view> fields;
    for (std::string_view f : Split(line, ' ')) {
      if (!f.empty()) fields.push_back(f);
    }
    if (fields[0] != "cpu") {
      ++out.logical_cpus;
      continue;
    }
    // cpu user nice system idle iowait irq softirq steal [guest guest_nice]; guest time is already
    // inside user, so it is not added again.
    if (fields.size() < 5) return DataLossError(path + ": the cpu line has too few fields");
    uint64_t v[8] = {};
    for (size_t i = 1; i < fields.size() && i <= 8; ++i) {
      StatusOr<uint64_t> n = ParseUint64(fields[i]);
      if (!n.ok()) return n.status().WithContext(path + ": cpu field " + std::to_string(i));
      v[i - 1] = *n;
    }
    out.busy_ticks = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    out.total_ticks = out.busy_ticks + v[3] + v[4];
    have_total = true;
  }
  if (!have_total) return DataLossError(path + ": no aggregate cpu line");
  if (out.logical_cpus == 0) out.logical_cpus = 1;
  return out;
}

StatusOr<MachineInfo> ProcReader::ReadMachineInfo() const {
  MachineInfo info;
  std::set<std::string> sockets;
  StatusOr<std::string> cpuinfo = ReadFile(root_ + "/cpuinfo", 8u << 20);
  if (cpuinfo.ok()) {
    for (std::string_view line : Split(*cpuinfo, '\n')) {
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string_view key = Trim(line.substr(0, colon));
      std::string_view value = Trim(line.substr(colon + 1));
      if (key == "processor") {
        ++info.logical_cpus;
      } else if (key == "model name" && info.cpu_model.empty()) {
        info.cpu_model = std::string(value);
      } else if (key == "physical id") {
        sockets.insert(std::string(value));
      }
    }
  }
  info.sockets = sockets.empty() ? 1 : static_cast<int>(sockets.size());
  if (info.logical_cpus == 0) {
    StatusOr<SystemCpuTimes> cpu = ReadSystemCpu();
    info.logical_cpus = cpu.ok() ? cpu->logical_cpus : 1;
  }
  SOBRE_ASSIGN_OR_RETURN(std::string meminfo, ReadFile(root_ + "/meminfo", 1u << 20));
  for (std::string_view line : Split(meminfo, '\n')) {
    if (!StartsWith(line, "MemTotal:")) continue;
    std::string_view rest = Trim(line.substr(9));
    size_t space = rest.find(' ');
    StatusOr<uint64_t> kib = ParseUint64(rest.substr(0, space));
    if (!kib.ok()) return kib.status().WithContext(root_ + "/meminfo: MemTotal");
    info.mem_total_gb = static_cast<double>(*kib) * 1024.0 / 1e9;
  }
  if (info.mem_total_gb <= 0) return DataLossError(root_ + "/meminfo: no MemTotal line");
  return info;
}

double ProcReader::TicksPerSecond() {
  static const double ticks = [] {
    long t = ::sysconf(_SC_CLK_TCK);
    return t > 0 ? static_cast<double>(t) : 100.0;
  }();
  return ticks;
}

StatusOr<ProcStat> ParseProcStat(std::string_view text) {
  size_t open = text.find('(');
  size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return DataLossError("malformed stat line");
  }
  ProcStat st;
  StatusOr<int64_t> pid = ParseInt64(text.substr(0, open));
  if (!pid.ok()) return pid.status();
  st.pid = static_cast<pid_t>(*pid);
  // Fields after the command name, numbered as in proc(5) starting at 3 (state).
  std::vector<std::string_view> f;
  for (std::string_view x : Split(Trim(text.substr(close + 1)), ' ')) {
    if (!x.empty()) f.push_back(x);
  }
  if (f.size() < 20) return DataLossError("stat line has too few fields");
  auto field = [&](int n) { return f[static_cast<size_t>(n - 3)]; };
  SOBRE_ASSIGN_OR_RETURN(int64_t ppid, ParseInt64(field(4)));
  SOBRE_ASSIGN_OR_RETURN(st.utime_ticks, ParseUint64(field(14)));
  SOBRE_ASSIGN_OR_RETURN(st.stime_ticks, ParseUint64(field(15)));
  SOBRE_ASSIGN_OR_RETURN(st.start_ticks, ParseUint64(field(22)));
  st.ppid = static_cast<pid_t>(ppid);
  return st;
}

Status ProcessTreeTracker::Update() {
  DIR* dir = ::opendir(reader_.root().c_str());
  if (dir == nullptr) return ErrnoToStatus(errno, "opening " + reader_.root());
  std::unordered_map<pid_t, ProcStat> all;
  while (dirent* e = ::readdir(dir)) {
    if (!std::isdigit(static_cast<unsigned char>(e->d_name[0]))) continue;
    // A process can exit between readdir and read: that is expected, not an error.
    StatusOr<std::string> text = ReadFile(reader_.root() + "/" + e->d_name + "/stat", 4096);
    if (!text.ok()) continue;
    StatusOr<ProcStat> st = ParseProcStat(*text);
    if (st.ok()) all.emplace(st->pid, *st);
  }
  ::closedir(dir);

  std::unordered_map<pid_t, std::vector<pid_t>> children;
  for (const auto& [pid, st] : all) children[st.ppid].push_back(pid);
  std::vector<pid_t> stack;
  if (all.count(root_)) stack.push_back(root_);
  while (!stack.empty()) {
    pid_t pid = stack.back();
    stack.pop_back();
    const ProcStat& st = all.at(pid);
    last_ticks_[{pid, st.start_ticks}] = st.utime_ticks + st.stime_ticks;
    for (pid_t child : children[pid]) stack.push_back(child);
  }
  return OkStatus();
}

Seconds ProcessTreeTracker::cpu_time() const {
  uint64_t ticks = 0;
  for (const auto& [key, t] : last_ticks_) ticks += t;
  return Seconds(static_cast<double>(ticks) / ProcReader::TicksPerSecond());
}

}  // namespace sobre::footprint
