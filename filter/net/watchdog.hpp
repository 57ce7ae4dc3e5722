// filter/net/watchdog.hpp — a cheap deadline for Asio sockets.
//
// One steady_timer per connection.  Moving the deadline later is a plain
// store (no syscall); the timer, when it fires early, just re-waits.  On
// expiry it calls on_expire (which cancels the socket's pending I/O), so each
// read or write can have a timeout without awaitable-operator overhead.
//
// Does not: touch the socket itself (on_expire does), or repeat: one expiry
// per arm().
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace sigil::filter {

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

}  // namespace sigil::filter
