// channels: a pool of worker tasks fed by a bounded mpsc channel.
//
// - Jobs go into a bounded mpsc channel: when it is full the producer waits
//   for room (back-pressure) instead of piling jobs up in memory.
// - The workers share the channel's single receiver behind a sync::Mutex,
//   whose guard may be held across the co_await that waits for the next job.
// - Each job carries a oneshot::Sender on which its worker replies.
// - The workers read their configuration from a watch channel, which always
//   holds the latest value.
// - The producer waits for each reply against one deadline for the whole
//   batch, with select_biased in a loop, and gives up on a job too slow.
// - A CancellationToken stops the workers gracefully: each finishes the job
//   in hand, sees the token at its next select, and returns a report, which
//   a JoinSet collects.
//
// It runs on a current_thread runtime with a paused clock, so the jobs'
// "work" (sleeps) takes no real time and the output is the same every run.
//
// Run: ./channels
#include <chrono>
#include <cstdio>
#include <expected>
#include <memory>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

// <corio/corio.hpp> has it all; the finer headers are corio/sync/{mpsc,
// oneshot,watch,mutex}.hpp, corio/select.hpp, corio/cancel.hpp and
// corio/task/join_set.hpp.
#include <corio/corio.hpp>

namespace {

using namespace std::chrono_literals;
namespace mpsc = corio::sync::mpsc;
namespace oneshot = corio::sync::oneshot;
namespace watch = corio::sync::watch;

/// A piece of work: multiply `input` by the configured multiplier, which
/// takes `cost` of (virtual) time, and reply on `reply`.
struct Job {
    int input;
    corio::time::Duration cost;
    oneshot::Sender<int> reply;
};

/// What the workers read from the watch channel.
struct Config {
    int multiplier;
};

/// The single receiver of the job channel, shared by every worker.
using JobQueue = corio::sync::Mutex<mpsc::Receiver<Job>>;

/// What a worker returns when it stops.
struct WorkerReport {
    int jobs = 0;        // jobs done
    int unanswered = 0;  // replies nobody waited for any more
};

/// Takes the next job from the shared queue: std::nullopt once every sender
/// is gone and the queue is drained. Cancellation-safe, because both awaits
/// are and nothing is held between them: dropped while waiting for the lock
/// it leaves the lock's queue, dropped in recv() it has taken no job (and
/// its guard unlocks).
corio::Task<std::optional<Job>> next_job(std::shared_ptr<JobQueue> queue) {
    corio::sync::MutexGuard<mpsc::Receiver<Job>> guard = co_await queue->lock();
    co_return co_await guard->recv();
}

/// Does jobs until `stop` is cancelled (or the job channel ends).
corio::Task<WorkerReport> worker(std::shared_ptr<JobQueue> queue, watch::Receiver<Config> config,
                                 corio::CancellationToken stop) {
    WorkerReport report;
    corio::Cancelled stopping = stop.cancelled();  // borrowed by every select below
    for (;;) {
        // Stopping is checked while waiting for a job, never during one:
        // a job in hand is finished.
        auto next = co_await corio::select(stopping, next_job(queue));
        if (next.index() == 0) break;  // stop was cancelled; next_job was destroyed
        std::optional<Job> job = std::move(std::get<1>(next));
        if (!job) break;  // every sender is gone

        int multiplier = config.borrow()->multiplier;  // the latest configuration
        co_await corio::time::sleep(job->cost);
        std::expected<void, int> replied = job->reply.send(job->input * multiplier);
        if (!replied) ++report.unanswered;  // the requester gave up: the value came back
        ++report.jobs;
    }
    co_return report;
}

/// A job sent, and where its answer will come.
struct Submitted {
    int input;
    oneshot::Receiver<int> reply;
};

/// Sends one job per input, each costing `cost` (the last one `last_cost`),
/// waiting for room whenever the channel is full. Counts those waits in
/// `waits`. Returns the reply receivers in order (empty if the channel closed).
corio::Task<std::vector<Submitted>> submit(mpsc::Sender<Job> jobs, std::vector<int> inputs, corio::time::Duration cost,
                                           corio::time::Duration last_cost, int* waits) {
    std::vector<Submitted> submitted;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        auto [reply_tx, reply_rx] = oneshot::channel<int>();
        corio::time::Duration job_cost = i + 1 == inputs.size() ? last_cost : cost;
        Job job{inputs[i], job_cost, std::move(reply_tx)};
        // try_send never waits; when the channel is full it gives the job back.
        std::expected<void, mpsc::TrySendError<Job>> tried = jobs.try_send(std::move(job));
        if (!tried) {
            if (tried.error().is_closed()) co_return std::vector<Submitted>();
            ++*waits;
            std::expected<void, mpsc::SendError<Job>> sent = co_await jobs.send(std::move(tried.error().value));
            if (!sent) co_return std::vector<Submitted>();
        }
        submitted.push_back(Submitted{inputs[i], std::move(reply_rx)});
    }
    co_return submitted;
}

/// Waits for every reply of `batch`, all against one deadline `within` from
/// now; prints each one. Returns how many replies came in time.
corio::Task<int> collect(std::vector<Submitted>& batch, corio::time::Duration within, int multiplier) {
    corio::time::Sleep deadline = corio::time::sleep(within);  // borrowed: one deadline for the batch
    int answered = 0;
    for (Submitted& job : batch) {
        // Both arguments are borrowed, so neither is destroyed by the select.
        // Biased: a reply that is already there wins over a passed deadline.
        auto first = co_await corio::select_biased(job.reply, deadline);
        if (first.index() == 1) {
            std::printf("job %d: no reply within %lld ms, giving up\n", job.input,
                        static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(within).count()));
            continue;
        }
        std::expected<int, oneshot::RecvError> reply = std::move(std::get<0>(first));
        if (!reply) {
            std::printf("error: job %d: its worker dropped the reply sender\n", job.input);
            continue;
        }
        std::printf("job %d: %d * %d = %d\n", job.input, job.input, multiplier, *reply);
        ++answered;
    }
    co_return answered;
}

constexpr int kWorkers = 3;

corio::Task<int> async_main() {
    // Room for 2 queued jobs: a producer that gets ahead of the workers waits.
    auto [job_tx, job_rx] = mpsc::channel<Job>(2);
    auto queue = std::make_shared<JobQueue>(std::move(job_rx));
    auto [config_tx, config_rx] = watch::channel(Config{10});
    corio::CancellationToken stop;

    corio::task::JoinSet<WorkerReport> workers;
    for (int i = 0; i < kWorkers; ++i) {
        // A child token per worker: cancelling `stop` stops them all, and any
        // one of them could be stopped alone with its own token.
        workers.spawn(worker(queue, config_rx, stop.child_token()));
    }
    std::printf("%d workers started, job queue capacity %zu\n", kWorkers, job_tx.max_capacity());

    // Batch 1: four quick jobs with the first configuration.
    int waits = 0;
    std::vector<int> inputs = {1, 2, 3, 4};  // named first: no braced list inside a co_await
    std::vector<Submitted> batch = co_await submit(job_tx, inputs, 10ms, 10ms, &waits);
    int answered = co_await collect(batch, 1s, 10);
    if (answered != 4) co_return 1;

    // New configuration: every worker sees it when it takes its next job.
    std::expected<void, watch::SendError<Config>> configured = config_tx.send(Config{100});
    if (!configured) co_return 1;
    std::puts("configuration changed: multiplier 10 -> 100");

    // Batch 2: three quick jobs and one that takes 10 s, longer than the
    // 1 s the producer is willing to wait.
    inputs = {5, 6, 7, 8};
    batch = co_await submit(job_tx, inputs, 10ms, 10s, &waits);
    answered = co_await collect(batch, 1s, 100);
    if (answered != 3) co_return 1;
    std::printf("back-pressure: the producer waited for room %d times\n", waits);
    batch.clear();  // dropping job 8's receiver: its worker's reply will come back to it

    // Graceful stop: idle workers return at once, the busy one after its job.
    std::puts("stopping the workers");
    stop.cancel();
    WorkerReport total;
    int stopped = 0;
    while (std::optional<corio::task::JoinResult<WorkerReport>> result = co_await workers.join_next()) {
        if (!result->has_value()) co_return 1;  // the task threw or was aborted
        total.jobs += (*result)->jobs;
        total.unanswered += (*result)->unanswered;
        ++stopped;
    }
    std::printf("%d workers stopped: %d jobs done, %d reply nobody waited for\n", stopped, total.jobs,
                total.unanswered);
    if (stopped != kWorkers || total.jobs != 8 || total.unanswered != 1) co_return 1;
    co_return 0;
}

}  // namespace

int main() {
    // Paused clock: sleeps complete as soon as every task waits, in order of
    // their deadlines, so the program's output never depends on timing.
    corio::Runtime rt = corio::Builder::new_current_thread().start_paused(true).build();
    if (rt.block_on(async_main()) != 0) {
        std::puts("error: the channels example did not behave as described");
        return 1;
    }
    std::puts("channels example done");
    return 0;
}
