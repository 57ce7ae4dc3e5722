// filter/io.hpp — buffered line input and a cheap deadline for Asio sockets,
// and the process-wide thread pools for work kept off the event loop.
//
// Watchdog: one steady_timer per connection.  Moving the deadline later is a
// plain store (no syscall); the timer, when it fires early, just re-waits.
// On expiry it calls on_expire (which cancels the socket's pending I/O), so
// each read or write can have a timeout without awaitable-operator overhead.
#pragma once

#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace sigil::filter {

// A process-wide thread pool per Tag (the DKIM crypto pool, the decode
// pool), built on first use with the size the first caller asks for (a
// reload keeps it).  Never destroyed: a job in flight at exit must not join
// its own thread.
template <class Tag>
boost::asio::thread_pool* process_pool(std::size_t threads) {
  static boost::asio::thread_pool* pool = new boost::asio::thread_pool(threads);
  return pool;
}

class Watchdog {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Watchdog(boost::asio::any_io_executor ex)
      : st_(std::make_shared<State>(std::move(ex))) {}
  ~Watchdog() { stop(); }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Starts the timer loop; on_expire runs once per expiry.
  void start(std::function<void()> on_expire) {
    st_->on_expire = std::move(on_expire);
    boost::asio::co_spawn(st_->timer.get_executor(), loop(st_), boost::asio::detached);
  }
  void arm(Clock::duration d) {
    st_->expired = false;
    st_->at = Clock::now() + d;
    if (st_->at < st_->timer.expiry()) st_->timer.expires_at(st_->at);  // wakes the loop
  }
  bool expired() const { return st_->expired; }
  void stop() {
    if (!st_) return;
    st_->stopped = true;
    st_->on_expire = nullptr;
    st_->timer.cancel();
  }

 private:
  struct State {
    explicit State(boost::asio::any_io_executor ex) : timer(std::move(ex)) {
      timer.expires_at(Clock::time_point::max());
    }
    boost::asio::steady_timer timer;
    Clock::time_point at = Clock::time_point::max();
    std::function<void()> on_expire;
    bool expired = false;
    bool stopped = false;
  };
  static boost::asio::awaitable<void> loop(std::shared_ptr<State> st) {
    while (!st->stopped) {
      auto now = Clock::now();
      if (st->at <= now) {
        st->at = Clock::time_point::max();
        st->expired = true;
        if (st->on_expire) st->on_expire();
      }
      st->timer.expires_at(st->at);
      co_await st->timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
  }
  std::shared_ptr<State> st_;
};

// A growable byte buffer with a read cursor, for line-oriented protocols.
class LineBuffer {
 public:
  explicit LineBuffer(std::size_t initial = 16 * 1024) : buf_(initial) {}

  std::string_view data() const { return {buf_.data() + begin_, end_ - begin_}; }
  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  // Space to read into (at least min_free bytes).
  char* prepare(std::size_t min_free, std::size_t& avail) {
    if (buf_.size() - end_ < min_free) {
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
      if (buf_.size() - end_ < min_free) buf_.resize(end_ + min_free);
    }
    avail = buf_.size() - end_;
    return buf_.data() + end_;
  }
  void commit(std::size_t n) { end_ += n; }

  // A complete line (through LF) at the front, or nullopt.  `line` excludes
  // the line end; bare_lf is set when the LF was not preceded by CR.
  struct Line {
    std::string_view text;
    std::size_t total;  // bytes to consume
    bool bare_lf;
  };
  std::optional<Line> peek_line() const {
    auto d = data();
    const void* nl = std::memchr(d.data(), '\n', d.size());
    if (!nl) return std::nullopt;
    std::size_t pos = static_cast<const char*>(nl) - d.data();
    bool cr = pos > 0 && d[pos - 1] == '\r';
    return Line{d.substr(0, cr ? pos - 1 : pos), pos + 1, !cr};
  }

 private:
  std::vector<char> buf_;
  std::size_t begin_ = 0, end_ = 0;
};

}  // namespace sigil::filter
