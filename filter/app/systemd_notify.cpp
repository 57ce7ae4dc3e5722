// filter/app/systemd_notify.cpp — see systemd_notify.hpp.
#include "filter/app/systemd_notify.hpp"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <cstring>

#include "filter/core/log.hpp"

namespace sigil::filter {

std::string status_line(const std::string& text) {
  std::string s = text.substr(0, text.find('\n'));
  if (s.size() > 200) s.resize(200);
  return s;
}

void SystemdNotifier::send(const std::string& state) {
  // unset_environment = 0: the watchdog reads WATCHDOG_USEC later.
  int rc = ::sd_notify(0, state.c_str());
  if (rc < 0)
    log::main().warn("sd_notify({}): {}", state.substr(0, state.find('\n')), std::strerror(-rc));
}

void SystemdNotifier::ready(const std::string& status) {
  send("READY=1\nSTATUS=" + status_line(status));
}

void SystemdNotifier::reloading() {
  // MONOTONIC_USEC: systemd >= 253 (Type=notify-reload) wants it with
  // RELOADING=1; older ones ignore it.
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  auto usec = static_cast<unsigned long long>(ts.tv_sec) * 1000000ull +
              static_cast<unsigned long long>(ts.tv_nsec) / 1000ull;
  send("RELOADING=1\nSTATUS=reloading the configuration\nMONOTONIC_USEC=" +
       std::to_string(usec));
}

void SystemdNotifier::reloaded(const std::string& status) {
  send("READY=1\nSTATUS=" + status_line(status));
}

void SystemdNotifier::stopping(const std::string& status) {
  send("STOPPING=1\nSTATUS=" + status_line(status));
}

std::chrono::microseconds SystemdNotifier::start_watchdog(boost::asio::io_context& io) {
  uint64_t usec = 0;
  // > 0: enabled for this PID (WATCHDOG_PID unset or ours).
  if (::sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::chrono::microseconds(0);
  interval_ = std::chrono::microseconds(usec / 2);
  timer_ = std::make_unique<boost::asio::steady_timer>(io);
  log::main().info("systemd watchdog: WATCHDOG=1 every {} ms", interval_.count() / 1000);
  send("WATCHDOG=1");
  arm();
  return interval_;
}

// Runs on the event loop: a loop that no longer turns sends nothing.
void SystemdNotifier::arm() {
  timer_->expires_after(interval_);
  timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    send("WATCHDOG=1");
    arm();
  });
}

}  // namespace sigil::filter
