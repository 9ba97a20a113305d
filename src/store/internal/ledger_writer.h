// Group commit for the ledger: rows queue in memory and one writer thread commits them in
// batches, one transaction per batch, through a backend-supplied function.
#ifndef SOBRE_STORE_INTERNAL_LEDGER_WRITER_H_
#define SOBRE_STORE_INTERNAL_LEDGER_WRITER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>

#include "core/status.h"
#include "store/store.h"

namespace sobre::store::internal {

// Thread contract: Append() and Flush() are thread-safe; the commit function only ever runs on
// the one writer thread this object owns.
class LedgerWriter {
 public:
  // Commits `rows` in one transaction: all of them or, on error, none.
  using CommitFn = std::function<Status(std::span<const LedgerRow> rows)>;

  // Starts the writer thread. `what` names the store in log lines.
  static StatusOr<std::unique_ptr<LedgerWriter>> Start(CommitFn commit, const StoreOptions& options,
                                                       std::string what);
  // Commits every queued row (retrying a failing commit a few times, then logging what is lost)
  // and joins the writer thread.
  ~LedgerWriter();
  LedgerWriter(const LedgerWriter&) = delete;
  LedgerWriter& operator=(const LedgerWriter&) = delete;

  // Queues `row`; never waits for the database. The commit happens at most
  // options.ledger_flush_interval later, sooner once options.ledger_max_batch rows wait.
  void Append(LedgerRow row);
  // Returns once every row appended before the call is committed, or the error of a commit
  // attempted after the call began (the rows stay queued and are retried).
  Status Flush();

 private:
  struct Queued {
    std::chrono::steady_clock::time_point queued_at;
    LedgerRow row;
  };

  LedgerWriter(CommitFn commit, const StoreOptions& options, std::string what);
  void Run();

  const CommitFn commit_;
  const std::chrono::milliseconds interval_;
  const size_t max_batch_;
  const std::string what_;

  std::mutex mu_;
  std::condition_variable work_cv_;  // Wakes the writer.
  std::condition_variable done_cv_;  // Wakes Flush() callers.
  std::deque<Queued> queue_;
  uint64_t appended_ = 0;      // Rows accepted by Append() so far.
  uint64_t committed_ = 0;     // Rows committed (or given up at shutdown) so far, in order.
  uint64_t flush_target_ = 0;  // Highest `appended_` a Flush() caller waits for.
  uint64_t failed_commits_ = 0;
  uint64_t dropped_ = 0;  // Rows refused because the queue was full.
  Status last_error_;
  bool stop_ = false;

  std::jthread thread_;  // Last: started after, and joined before, everything above.
};

}  // namespace sobre::store::internal

#endif  // SOBRE_STORE_INTERNAL_LEDGER_WRITER_H_
