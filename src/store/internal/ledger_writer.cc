#include "store/internal/ledger_writer.h"

#include <algorithm>
#include <iterator>
#include <system_error>
#include <vector>

#include "core/logging.h"

namespace sobre::store::internal {
namespace {

// Beyond this many waiting rows (a database down for a long time) new rows are dropped and
// counted rather than growing memory without bound.
constexpr size_t kMaxQueuedRows = size_t{1} << 20;
// Commit attempts at shutdown before the remaining rows are reported lost.
constexpr int kShutdownAttempts = 3;

}  // namespace

LedgerWriter::LedgerWriter(CommitFn commit, const StoreOptions& options, std::string what)
    : commit_(std::move(commit)),
      interval_(std::max(options.ledger_flush_interval, std::chrono::milliseconds(1))),
      max_batch_(std::max<size_t>(options.ledger_max_batch, 1)),
      what_(std::move(what)) {}

StatusOr<std::unique_ptr<LedgerWriter>> LedgerWriter::Start(CommitFn commit,
                                                            const StoreOptions& options,
                                                            std::string what) {
  std::unique_ptr<LedgerWriter> writer(new LedgerWriter(std::move(commit), options, what));
  // std::thread reports a failure to start by throwing; this is the one place it is caught.
  try {
    writer->thread_ = std::jthread([w = writer.get()] { w->Run(); });
  } catch (const std::system_error& e) {
    return InternalError(what + ": cannot start the ledger writer thread: " + e.what());
  }
  return writer;
}

LedgerWriter::~LedgerWriter() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LedgerWriter::Append(LedgerRow row) {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= kMaxQueuedRows) {
      if (dropped_++ % 10000 == 0) {
        SOBRE_LOG(kError, "{}: ledger queue full ({} rows waiting): dropped {} rows so far", what_,
                  queue_.size(), dropped_);
      }
      return;
    }
    queue_.push_back({std::chrono::steady_clock::now(), std::move(row)});
    ++appended_;
    // The writer sleeps until the first row's window closes; it needs a nudge for the first row
    // and when a full batch is waiting.
    wake = queue_.size() == 1 || queue_.size() >= max_batch_;
  }
  if (wake) work_cv_.notify_one();
}

Status LedgerWriter::Flush() {
  std::unique_lock lock(mu_);
  const uint64_t target = appended_;
  const uint64_t failures_before = failed_commits_;
  if (committed_ >= target) return OkStatus();
  flush_target_ = std::max(flush_target_, target);
  work_cv_.notify_one();
  done_cv_.wait(lock, [&] { return committed_ >= target || failed_commits_ > failures_before; });
  if (committed_ >= target) return OkStatus();
  return last_error_.WithContext(what_ + ": committing the ledger");
}

void LedgerWriter::Run() {
  std::unique_lock lock(mu_);
  int shutdown_attempts = 0;
  for (;;) {
    work_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop_ and nothing left.
    const auto deadline = queue_.front().queued_at + interval_;
    work_cv_.wait_until(lock, deadline, [&] {
      return stop_ || queue_.size() >= max_batch_ || flush_target_ > committed_;
    });

    const size_t n = std::min(queue_.size(), max_batch_);
    std::vector<LedgerRow> batch;
    batch.reserve(n);
    for (size_t i = 0; i < n; ++i) batch.push_back(std::move(queue_[i].row));
    const auto oldest = queue_.front().queued_at;
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));

    lock.unlock();
    Status status = commit_(batch);
    lock.lock();

    if (status.ok()) {
      committed_ += n;
      shutdown_attempts = 0;
      done_cv_.notify_all();
      continue;
    }
    ++failed_commits_;
    last_error_ = status;
    done_cv_.notify_all();
    if (stop_ && ++shutdown_attempts >= kShutdownAttempts) {
      SOBRE_LOG(kError, "{}: giving up on {} ledger rows at shutdown: {}", what_,
                batch.size() + queue_.size(), status.ToString());
      committed_ += batch.size() + queue_.size();
      queue_.clear();
      return;
    }
    SOBRE_LOG(kWarning, "{}: ledger commit of {} rows failed, will retry: {}", what_, n,
              status.ToString());
    // Put the batch back in front, in order, and wait one interval before trying again.
    std::deque<Queued> back;
    for (LedgerRow& row : batch) back.push_back({oldest, std::move(row)});
    queue_.insert(queue_.begin(), std::make_move_iterator(back.begin()),
                  std::make_move_iterator(back.end()));
    work_cv_.wait_for(lock, interval_, [&] { return stop_; });
    if (stop_) work_cv_.wait_for(lock, interval_);
  }
}

}  // namespace sobre::store::internal
