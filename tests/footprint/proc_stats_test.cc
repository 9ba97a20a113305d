#include "footprint/proc_stats.h"

#include <unistd.h>


#include <gtest/gtest.h>

#include "tests/footprint/fake_proc.h"

namespace sobre::footprint {
namespace {

TEST(ProcStatsTest, SystemCpuSumsBusyFieldsAndCountsCpus) {
  FakeProc proc;
  proc.Write("stat",
             "cpu  100 20 30 1000 50 5 6 7 0 0\n"
             "cpu0 50 10 15 500 25 2 3 3 0 0\n"
             "cpu1 50 10 15 500 25 3 3 4 0 0\n"
             "intr 12345\n");
  auto cpu = ProcReader(proc.root()).ReadSystemCpu();
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  EXPECT_EQ(cpu->busy_ticks, 100u + 20 + 30 + 5 + 6 + 7);
  EXPECT_EQ(cpu->total_ticks, cpu->busy_ticks + 1000 + 50);
  EXPECT_EQ(cpu->logical_cpus, 2);
}

TEST(ProcStatsTest, MalformedStatIsAnError) {
  FakeProc proc;
  proc.Write("stat", "cpu  1 2 x 4\n");
  EXPECT_FALSE(ProcReader(proc.root()).ReadSystemCpu().ok());
  proc.Write("stat", "intr 1\n");
  EXPECT_FALSE(ProcReader(proc.root()).ReadSystemCpu().ok());
}

TEST(ProcStatsTest, MachineInfoReadsModelSocketsAndMemory) {
  FakeProc proc;
  proc.Write("cpuinfo",
             "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz\nphysical id\t: 0\n\n"
             "processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz\nphysical id\t: 1\n\n");
  proc.Write("meminfo", "MemTotal:       16000000 kB\nMemFree: 1 kB\n");
  auto info = ProcReader(proc.root()).ReadMachineInfo();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->cpu_model, "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz");
  EXPECT_EQ(info->logical_cpus, 2);
  EXPECT_EQ(info->sockets, 2);
  EXPECT_NEAR(info->mem_total_gb, 16000000.0 * 1024 / 1e9, 1e-9);
}

TEST(ProcStatsTest, ParseProcStatHandlesSpacesAndParensInTheName) {
  std::string line =
      "4242 (my (odd) name) R 1 1 1 0 -1 0 0 0 0 0 70 30 0 0 20 0 1 0 555 0 0 0 0 0 0 0 0 0 0 0 0 0 "
      "0 0 0 0 17 1 0 0 0 0 0";
  auto st = ParseProcStat(line);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->pid, 4242);
  EXPECT_EQ(st->ppid, 1);
  EXPECT_EQ(st->utime_ticks, 70u);
  EXPECT_EQ(st->stime_ticks, 30u);
  EXPECT_EQ(st->start_ticks, 555u);
  EXPECT_FALSE(ParseProcStat("12 (truncated) R 1").ok());
}

TEST(ProcStatsTest, TreeTrackerFollowsDescendantsOnlyAndKeepsExitedChildren) {
  FakeProc proc;
  proc.Process(100, 1, 10, 5);       // The root.
  proc.Process(101, 100, 20, 0);     // Its child.
  proc.Process(102, 101, 7, 3);      // A grandchild.
  proc.Process(200, 1, 999, 999);    // Unrelated.
  ProcReader reader(proc.root());
  ProcessTreeTracker tracker(reader, 100);
  ASSERT_TRUE(tracker.Update().ok());
  double tick = 1.0 / ProcReader::TicksPerSecond();
  EXPECT_NEAR(tracker.cpu_time().count(), (15 + 20 + 10) * tick, 1e-9);
  EXPECT_EQ(tracker.processes_seen(), 3u);

  // The grandchild exits; it keeps its last figure. The child works more.
  proc.Remove(102);
  proc.Process(101, 100, 40, 0);
  ASSERT_TRUE(tracker.Update().ok());
  EXPECT_NEAR(tracker.cpu_time().count(), (15 + 40 + 10) * tick, 1e-9);

  // A new process reusing pid 102 (other start time) is a different process.
  proc.Process(102, 100, 1, 0, /*start=*/900);
  ASSERT_TRUE(tracker.Update().ok());
  EXPECT_NEAR(tracker.cpu_time().count(), (15 + 40 + 10 + 1) * tick, 1e-9);
  EXPECT_EQ(tracker.processes_seen(), 4u);
}

TEST(ProcStatsTest, TreeTrackerOnRealProcSeesThisProcess) {
  ProcReader reader("/proc");
  ProcessTreeTracker tracker(reader, ::getpid());
  // Burn a little CPU so that at least one tick is charged.
  volatile double x = 0;
  for (int i = 0; i < 50'000'000; ++i) x = x + i * 0.5;
  ASSERT_TRUE(tracker.Update().ok());
  EXPECT_GT(tracker.cpu_time().count(), 0.0);
  EXPECT_GE(tracker.processes_seen(), 1u);
}

}  // namespace
}  // namespace sobre::footprint
