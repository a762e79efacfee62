// task::Id helpers, reading tasks for dumps, and the dump's text and JSON.
#include "corio/diag.hpp"

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "corio/task/id.hpp"
#include "diag/collect.hpp"
#include "runtime/task/read_claim.hpp"

namespace corio {

namespace task {
std::string to_string(Id id) { return "task " + std::to_string(id.value()); }

Id id() {
    if (auto id = try_id()) return *id;
    throw std::logic_error("corio::task::id() called outside a task");
}

std::optional<Id> try_id() noexcept {
    detail::RawTask t = detail::current_task.load(std::memory_order_relaxed);
    if (!t) return std::nullopt;
    return Id(t->id);
}
}  // namespace task

namespace detail {

std::uint32_t coarse_clock_ms() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<std::uint32_t>(static_cast<std::uint64_t>(ts.tv_sec) * 1000u +
                                      static_cast<std::uint64_t>(ts.tv_nsec) / 1000000u);
}

void read_identity(RawTask t, diag::TaskInfo& info, std::uint32_t now_ms, bool busy_measured) {
    info.id = task::Id(t->id);
    const std::string* name = t->origin.name();
    info.name = name != nullptr ? *name : std::string();
    info.spawned_at = t->origin.where();
    info.polls = t->polls.load(std::memory_order_relaxed);
    info.self_wakes = t->self_wakes.load(std::memory_order_relaxed);
    info.age = std::chrono::seconds(t->age_s(now_ms));
    std::uint32_t idle_ms = now_ms - t->last_polled_ms.load(std::memory_order_relaxed);  // mod 2^32
    info.idle_for = std::chrono::milliseconds(idle_ms < (1u << 31) ? idle_ms : 0);       // a clock a tick ahead: 0
    if (busy_measured) info.busy = std::chrono::microseconds(t->busy_us.load(std::memory_order_relaxed));
}

void set_state(diag::TaskInfo& info, diag::TaskState state) {
    info.state = state;
    if (state != diag::TaskState::Idle) info.idle_for = {};
    std::uint64_t woken = state == diag::TaskState::Scheduled ? 1 : 0;
    info.wakes = info.polls == 0 ? 0 : info.polls - 1 + woken;
}

void append_chain(const ChainBuffer& chain, diag::TaskInfo& info) {
    for (std::size_t i = 0; i < chain.depth; ++i) {
        const ChainLevel& l = chain.levels[i];
        info.awaiting.push_back(diag::AwaitPoint{l.where, std::string(l.what, l.what_len)});
    }
    info.awaiting_skipped = chain.skipped;
}

void read_task(RawTask t, diag::TaskInfo& info, ChainBuffer& scratch, std::optional<std::size_t> polling_worker) {
    read_identity(t, info, scratch.now_ms, scratch.busy_measured);
    std::uint64_t cur = t->state.load(std::memory_order_acquire);
    if (cur & state::kComplete) {
        set_state(info, diag::TaskState::Done);
        return;
    }
    if (polling_worker) {
        set_state(info, diag::TaskState::Running);
        info.worker = polling_worker;
        return;
    }
    std::optional<ReadClaim> claim = ReadClaim::try_claim(t);
    if (!claim) {
        // Queued (woken, or RUNNING after a yield), or being polled by a
        // thread the runtime does not watch (a LocalSet's driver): its
        // frames may change as we read, so no chain.
        cur = t->state.load(std::memory_order_acquire);
        set_state(info, (cur & state::kComplete) ? diag::TaskState::Done : diag::TaskState::Scheduled);
        return;
    }
    set_state(info, diag::TaskState::Idle);  // a wake from now on is ours to queue, in unclaim
    scratch.depth = 0;
    scratch.skipped = 0;
    scratch.started = true;
    t->vtable->describe(t.get(), scratch);
    claim.reset();
    append_chain(scratch, info);
}

std::optional<std::size_t> worker_of(RawTask t, const std::vector<RawTask>& polling) {
    for (std::size_t i = 0; i < polling.size(); ++i) {
        if (polling[i] == t) return i;
    }
    return std::nullopt;
}

void finish_dump(diag::Dump& dump) {
    // Sort keys, then move each TaskInfo once.
    std::vector<std::pair<std::uint64_t, std::size_t>> order(dump.tasks.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = {dump.tasks[i].id.value(), i};
    std::sort(order.begin(), order.end());
    std::vector<diag::TaskInfo> sorted;
    sorted.reserve(order.size());
    for (const auto& [id, i] : order) sorted.push_back(std::move(dump.tasks[i]));
    dump.tasks = std::move(sorted);
}

}  // namespace detail

namespace diag {

const char* to_string(TaskState state) noexcept {
    switch (state) {
        case TaskState::Idle:
            return "Idle";
        case TaskState::Scheduled:
            return "Scheduled";
        case TaskState::Running:
            return "Running";
        case TaskState::Done:
            return "Done";
    }
    return "?";
}

namespace {

// The qualified name alone: "ns::f" out of "corio::Task<void> ns::f(int)"
// (GCC 12 names a coroutine's frame function "void f(f()::_Z1fv.Frame*)",
// which becomes "f" too).
std::string function_name(const std::source_location& where) {
    std::string_view f = where.function_name();
    std::size_t start = 0;
    std::size_t end = f.size();
    int depth = 0;
    for (std::size_t i = 0; i < f.size(); ++i) {
        char c = f[i];
        if (f.substr(i).starts_with("(anonymous namespace)")) {
            i += 20;
            continue;
        }
        if (c == '<') ++depth;
        if (c == '>' && depth > 0) --depth;
        if (depth != 0) continue;
        if (c == ' ') start = i + 1;  // a return type ends here
        if (c == '(') {
            end = i;
            break;
        }
    }
    if (start > end) start = 0;
    return std::string(f.substr(start, end - start));
}

std::string file_line(const std::source_location& where) {
    std::string file = where.file_name();
    std::size_t slash = file.rfind('/');
    if (slash != std::string::npos) file = file.substr(slash + 1);
    return file + ":" + std::to_string(where.line());
}

// Printable in a terminal: control bytes escaped, the rest as given.
std::string printable(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

// "850 us", "12 ms", "3.4 s", "25 min".
std::string readable(std::chrono::microseconds d) {
    char buf[32];
    auto us = static_cast<double>(d.count());
    if (us < 1000) {
        std::snprintf(buf, sizeof buf, "%.0f us", us);
    } else if (us < 1e6) {
        std::snprintf(buf, sizeof buf, us < 1e4 ? "%.1f ms" : "%.0f ms", us / 1e3);
    } else if (us < 600e6) {
        std::snprintf(buf, sizeof buf, us < 1e7 ? "%.1f s" : "%.0f s", us / 1e6);
    } else {
        std::snprintf(buf, sizeof buf, "%.0f min", us / 60e6);
    }
    return buf;
}

void write_task_text(const TaskInfo& t, std::string& out, const char* indent) {
    out += indent;
    out += task::to_string(t.id);
    if (!t.name.empty()) out += " \"" + printable(t.name) + "\"";
    out += std::string(" ") + to_string(t.state);
    if (t.worker) out += " on worker " + std::to_string(*t.worker);
    if (t.blocking) out += t.state == TaskState::Running ? " on a blocking thread" : " (blocking pool)";
    if (t.local) out += " (LocalSet)";
    out += ", spawned at " + file_line(t.spawned_at);
    out += ", age " + (t.age.count() == 0 ? std::string("<1 s") : std::to_string(t.age.count()) + " s");
    if (t.state != TaskState::Running) out += ", idle " + readable(t.idle_for);
    out += ", " + std::to_string(t.polls) + (t.polls == 1 ? " poll" : " polls");
    if (t.wakes != 0) {
        out += ", " + std::to_string(t.wakes) + (t.wakes == 1 ? " wake" : " wakes");
        if (t.self_wakes != 0) out += " (" + std::to_string(t.self_wakes) + " its own)";
    }
    if (t.busy) out += ", busy " + readable(*t.busy);
    out += "\n";
    for (std::size_t i = 0; i < t.awaiting.size(); ++i) {
        const AwaitPoint& p = t.awaiting[i];
        bool last = i + 1 == t.awaiting.size();
        out += indent;
        out += last ? "  └─ " : "  ├─ ";
        if (p.where.line() != 0) {
            out += "at " + file_line(p.where) + " in " + function_name(p.where);
            if (!p.what.empty()) out += ": ";
        }
        out += printable(p.what) + "\n";
        if (t.awaiting_skipped != 0 && i + 1 == detail::ChainBuffer::kMaxLevels / 2 && !last) {
            out += indent;
            out += "  │  ... " + std::to_string(t.awaiting_skipped) + " frames ...\n";
        }
    }
}

void json_string(const std::string& s, std::string& out) {
    out += '"';
    std::size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<unsigned char>(s[i]);
        // Valid UTF-8 sequences pass through; any other byte becomes U+FFFD.
        std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
        bool valid = len != 0 && i + len <= s.size();
        for (std::size_t k = 1; valid && k < len; ++k) valid = (static_cast<unsigned char>(s[i + k]) >> 6) == 0x2;
        if (!valid) {
            out += "\\ufffd";
            ++i;
            continue;
        }
        if (len > 1) {
            out.append(s, i, len);
            i += len;
            continue;
        }
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += static_cast<char>(c);
                }
        }
        ++i;
    }
    out += '"';
}

void json_location(const std::source_location& where, std::string& out) {
    out += "\"file\":";
    json_string(where.file_name(), out);
    out += ",\"line\":" + std::to_string(where.line()) + ",\"function\":";
    json_string(function_name(where), out);
}

}  // namespace

std::string Dump::to_string() const {
    std::string out = "corio task dump: " + std::to_string(tasks.size()) + (tasks.size() == 1 ? " task\n" : " tasks\n");
    if (!incomplete.empty()) out += "  (incomplete: " + incomplete + ")\n";
    for (const TaskInfo& t : tasks) write_task_text(t, out, "");
    return out;
}

std::string Dump::to_json() const {
    std::string out = "{\"tasks\":[";
    for (std::size_t i = 0; i < tasks.size(); ++i) {
        const TaskInfo& t = tasks[i];
        if (i != 0) out += ',';
        out += "{\"id\":" + std::to_string(t.id.value()) + ",\"name\":";
        json_string(t.name, out);
        out += ",\"state\":\"" + std::string(diag::to_string(t.state)) + "\",\"worker\":";
        out += t.worker ? std::to_string(*t.worker) : "null";
        out += std::string(",\"blocking\":") + (t.blocking ? "true" : "false");
        out += std::string(",\"local\":") + (t.local ? "true" : "false");
        out += ",\"spawned_at\":{";
        json_location(t.spawned_at, out);
        out += "},\"age_s\":" + std::to_string(t.age.count()) + ",\"idle_ms\":" + std::to_string(t.idle_for.count()) +
               ",\"polls\":" + std::to_string(t.polls) + ",\"wakes\":" + std::to_string(t.wakes) +
               ",\"self_wakes\":" + std::to_string(t.self_wakes) +
               ",\"busy_us\":" + (t.busy ? std::to_string(t.busy->count()) : std::string("null")) + ",\"awaiting\":[";
        for (std::size_t k = 0; k < t.awaiting.size(); ++k) {
            if (k != 0) out += ',';
            out += '{';
            json_location(t.awaiting[k].where, out);
            out += ",\"what\":";
            json_string(t.awaiting[k].what, out);
            out += '}';
        }
        out += "],\"awaiting_skipped\":" + std::to_string(t.awaiting_skipped) + '}';
    }
    out += "],\"incomplete\":";
    json_string(incomplete, out);
    out += '}';
    return out;
}

namespace {

void prom_family(std::string& out, const char* name, const char* type, const char* help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

void prom_sample(std::string& out, const std::string& name, const std::string& labels, std::uint64_t value) {
    out += name;
    if (!labels.empty()) out += "{" + labels + "}";
    out += ' ' + std::to_string(value) + '\n';
}

std::string worker_label(std::size_t i) { return "worker=\"" + std::to_string(i) + "\""; }

// One histogram family, a series per worker; nothing when no worker has one
// (the runtime was built without enable_metrics_histograms).
void prom_histogram(std::string& out, const RuntimeMetrics& m, const std::string& name, const char* help,
                    std::vector<std::uint64_t> WorkerMetrics::* buckets, std::uint64_t WorkerMetrics::* total_ns) {
    bool any = false;
    for (const WorkerMetrics& w : m.workers) any = any || !(w.*buckets).empty();
    if (!any) return;
    prom_family(out, name.c_str(), "histogram", help);
    for (std::size_t i = 0; i < m.workers.size(); ++i) {
        const std::vector<std::uint64_t>& counts = m.workers[i].*buckets;
        std::uint64_t cumulative = 0;
        for (std::size_t k = 0; k < counts.size(); ++k) {
            cumulative += counts[k];
            std::string le = "+Inf";
            if (k + 1 < counts.size()) {
                char buf[32];
                std::snprintf(buf, sizeof buf, "%g",
                              std::chrono::duration<double>(RuntimeMetrics::poll_time_bucket_upper(k)).count());
                le = buf;
            }
            prom_sample(out, name + "_bucket", worker_label(i) + ",le=\"" + le + "\"", cumulative);
        }
        char sum[48];
        std::snprintf(sum, sizeof sum, "%.9f", static_cast<double>(m.workers[i].*total_ns) / 1e9);
        out += name + "_sum{" + worker_label(i) + "} " + sum + "\n";
        prom_sample(out, name + "_count", worker_label(i), cumulative);
    }
}

}  // namespace

std::string prometheus_text(const RuntimeMetrics& m) {
    std::string out;
    prom_family(out, "corio_workers", "gauge", "Worker threads of the runtime.");
    prom_sample(out, "corio_workers", "", m.num_workers);
    prom_family(out, "corio_alive_tasks", "gauge", "Tasks spawned and not yet finished.");
    prom_sample(out, "corio_alive_tasks", "", m.alive_tasks);
    prom_family(out, "corio_inject_queue_depth", "gauge", "Tasks waiting in the global queue.");
    prom_sample(out, "corio_inject_queue_depth", "", m.inject_queue_depth);
    prom_family(out, "corio_remote_schedules_total", "counter", "Spawns and wakes from outside the workers.");
    prom_sample(out, "corio_remote_schedules_total", "", m.remote_schedules);
    prom_family(out, "corio_budget_forced_yields_total", "counter", "Polls cut short by the cooperative budget.");
    prom_sample(out, "corio_budget_forced_yields_total", "", m.budget_forced_yields);

    struct Counter {
        const char* name;
        const char* type;
        const char* help;
        std::uint64_t WorkerMetrics::* field;
    };
    const Counter counters[] = {
        {"corio_worker_polls_total", "counter", "Task polls run by the worker.", &WorkerMetrics::polls},
        {"corio_worker_steals_total", "counter", "Successful steals from other workers.", &WorkerMetrics::steals},
        {"corio_worker_parks_total", "counter", "Times the worker went to sleep.", &WorkerMetrics::parks},
    };
    for (const Counter& c : counters) {
        prom_family(out, c.name, c.type, c.help);
        for (std::size_t i = 0; i < m.workers.size(); ++i)
            prom_sample(out, c.name, worker_label(i), m.workers[i].*c.field);
    }
    prom_family(out, "corio_worker_local_queue_depth", "gauge", "Tasks in the worker's run queue.");
    for (std::size_t i = 0; i < m.workers.size(); ++i) {
        prom_sample(out, "corio_worker_local_queue_depth", worker_label(i), m.workers[i].local_queue_depth);
    }

    prom_histogram(out, m, "corio_worker_poll_duration_seconds", "How long the worker's task polls took.",
                   &WorkerMetrics::poll_time_histogram, &WorkerMetrics::poll_time_total_ns);
    prom_histogram(out, m, "corio_worker_schedule_latency_seconds",
                   "How long tasks waited in a run queue before the worker polled them.",
                   &WorkerMetrics::schedule_latency_histogram, &WorkerMetrics::schedule_latency_total_ns);
    return out;
}

std::string StallReport::to_string() const {
    char head[160];
    std::snprintf(head, sizeof head, "corio: stall: worker %zu has been polling one task for %lld ms (%s)\n", worker,
                  static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(in_poll).count()),
                  on_cpu ? "on CPU" : "blocked in the kernel");
    std::string out = head;
    write_task_text(task, out, "  ");
    if (task.awaiting.empty()) out += "    (no await chain: the task is running its own code, see the backtrace)\n";
    for (std::size_t i = 0; i < backtrace.size(); ++i) {
        out += "    #" + std::to_string(i) + " " + backtrace[i] + "\n";
    }
    return out;
}

}  // namespace diag
}  // namespace corio
