// A fake procfs in a temp dir, standing in for /proc in tests (SOBRE_PROC_ROOT).
#ifndef SOBRE_TESTS_FOOTPRINT_FAKE_PROC_H_
#define SOBRE_TESTS_FOOTPRINT_FAKE_PROC_H_

#include <stdlib.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

namespace sobre::footprint {

// Owns the directory and removes it on destruction. Thread-compatible.
class FakeProc {
 public:
  FakeProc() {
    char tmpl[] = "/tmp/sobre_fake_proc_XXXXXX";
    root_ = ::mkdtemp(tmpl);
  }
  ~FakeProc() { std::system(("rm -rf " + root_).c_str()); }
  FakeProc(const FakeProc&) = delete;
  FakeProc& operator=(const FakeProc&) = delete;
  const std::string& root() const { return root_; }

  void Write(const std::string& rel, const std::string& text) {
    std::string path = root_ + "/" + rel;
    ::mkdir(path.substr(0, path.rfind('/')).c_str(), 0755);
    std::ofstream(path) << text;
  }
  // A machine with `cpus` logical CPUs of `model` and `mem_kib` of memory.
  void Machine(int cpus, const std::string& model, uint64_t mem_kib) {
    std::string info;
    for (int i = 0; i < cpus; ++i) {
      info += "processor\t: " + std::to_string(i) + "\nmodel name\t: " + model +
              "\nphysical id\t: 0\n\n";
    }
    Write("cpuinfo", info);
    Write("meminfo", "MemTotal:       " + std::to_string(mem_kib) + " kB\n");
  }
  // The aggregate /proc/stat line: busy ticks as user time, the rest idle.
  void SystemCpu(uint64_t busy, uint64_t idle, int cpus = 2) {
    std::string text = "cpu  " + std::to_string(busy) + " 0 0 " + std::to_string(idle) + " 0 0 0 0 0 0\n";
    for (int i = 0; i < cpus; ++i) text += "cpu" + std::to_string(i) + " 0 0 0 0 0 0 0 0 0 0\n";
    Write("stat", text);
  }
  // A process with the given parent, CPU ticks and start time.
  void Process(int pid, int ppid, uint64_t utime, uint64_t stime, uint64_t start = 100,
               const std::string& comm = "worker") {
    std::string line = std::to_string(pid) + " (" + comm + ") S " + std::to_string(ppid) +
                       " 1 1 0 -1 4194304 100 0 0 0 " + std::to_string(utime) + " " +
                       std::to_string(stime) + " 0 0 20 0 1 0 " + std::to_string(start) +
                       " 1000 10 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";
    Write(std::to_string(pid) + "/stat", line);
  }
  void Remove(int pid) { std::system(("rm -rf " + root_ + "/" + std::to_string(pid)).c_str()); }

 private:
  std::string root_;
};

}  // namespace sobre::footprint

#endif  // SOBRE_TESTS_FOOTPRINT_FAKE_PROC_H_
