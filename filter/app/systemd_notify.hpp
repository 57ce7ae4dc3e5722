// filter/app/systemd_notify.hpp — sigild's side of systemd's notify
// protocol (sd_notify(3), sd_watchdog_enabled(3); Type=notify,
// WatchdogSec=): READY=1 once listeners are bound, keys loaded and
// privileges dropped; RELOADING=1 ... READY=1 around a SIGHUP reload with a
// STATUS= saying whether it was accepted or refused and why; STOPPING=1 on
// drain; WATCHDOG=1 from the event loop every half of WATCHDOG_USEC, so a
// wedged loop stops the pings and systemd restarts the service.
//
// Every call is a no-op when NOTIFY_SOCKET is not set (not started by
// systemd), and the watchdog timer runs only when WATCHDOG_USEC is set for
// this PID.  Does not: decide when to reload or drain (sigild_main.cpp).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace sigil::filter {

class SystemdNotifier {
 public:
  void ready(const std::string& status);
  void reloading();
  // After reloading(): READY=1 with the reload's result as STATUS=
  // ("reloaded ..." or "reload refused ...: why").
  void reloaded(const std::string& status);
  void stopping(const std::string& status);

  // Starts the WATCHDOG=1 timer on `io` when the service manager asked for
  // one (WATCHDOG_USEC, WATCHDOG_PID); returns the interval, or zero.
  std::chrono::microseconds start_watchdog(boost::asio::io_context& io);

 private:
  void send(const std::string& state);
  void arm();

  std::unique_ptr<boost::asio::steady_timer> timer_;
  std::chrono::microseconds interval_{0};
};

// STATUS= text is one line: the first line of `text`, at most 200 bytes.
std::string status_line(const std::string& text);

}  // namespace sigil::filter
