// paging: an AsyncGenerator that pages through a (simulated) remote API
// with co_yield, consumed with stream adapters (Tokio's "Streams" chapter,
// with what Rust's stable toolchain lacks: async generators).
//
// The generator fetches a page only when its consumer asks for an item past
// the ones it has: with `take(6)` below it fetches 3 pages of the 10 the
// API has, and stops (its frame is destroyed) as soon as take has enough.
//
// It runs on a current_thread runtime with a paused clock, so the simulated
// 100 ms round trips take no real time and the output is the same every run.
//
// Run: ./paging
#include <chrono>
#include <corio/runtime.hpp>
#include <corio/stream.hpp>
#include <corio/time.hpp>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;

struct User {
    int id;
    std::string name;
    bool active;
};

/// One page of results and where the next one starts (none after the last).
struct Page {
    std::vector<User> users;
    std::optional<int> next_cursor;
};

/// The simulated API: 10 pages of 4 users; every third user is inactive.
class Api {
public:
    corio::Task<Page> fetch_page(int cursor) {
        ++fetches_;
        co_await corio::time::sleep(100ms);  // the network round trip
        Page page;
        for (int id = cursor; id < cursor + 4; ++id) {
            page.users.push_back(User{id, "user" + std::to_string(id), id % 3 != 0});
        }
        if (cursor + 4 < 40) page.next_cursor = cursor + 4;
        std::printf("  fetched page at cursor %d\n", cursor);
        co_return page;
    }
    int fetches() const { return fetches_; }

private:
    int fetches_ = 0;
};

/// Every user the API has, page after page, fetched lazily.
corio::AsyncGenerator<User> all_users(Api& api) {
    std::optional<int> cursor = 0;
    while (cursor) {
        Page page = co_await api.fetch_page(*cursor);
        for (User& user : page.users) co_yield std::move(user);
        cursor = page.next_cursor;
    }
}

corio::Task<int> async_main() {
    Api api;
    auto start = corio::time::Instant::now();
    auto names = all_users(api)                                                   //
                 | corio::stream::filter([](const User& u) { return u.active; })  //
                 | corio::stream::map([](User u) { return std::move(u.name); })   //
                 | corio::stream::take(6);
    while (auto name = co_await corio::stream::next(names)) std::printf("active: %s\n", name->c_str());
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(corio::time::Instant::now() - start);
    std::printf("%d of 10 pages fetched in %lld ms (virtual)\n", api.fetches(),
                static_cast<long long>(elapsed.count()));

    // The same generator drained completely by a consumer future.
    Api again;
    auto total = co_await corio::stream::count(all_users(again) |
                                               corio::stream::filter([](const User& u) { return !u.active; }));
    std::printf("%zu inactive users in %d pages\n", total, again.fetches());
    std::puts("paging example done");
    co_return 0;
}

}  // namespace

int main() {
    corio::Runtime rt = corio::Builder::new_current_thread().start_paused(true).build();
    return rt.block_on(async_main());
}
