// filter/core/log_sinks.cpp — see log_sinks.hpp.  RFC 3164 §4.1 (the BSD
// syslog line: PRI, TIMESTAMP, TAG), RFC 5424 §6.2.1 (facility and severity
// numbers); the journal's native protocol through libsystemd.
#include "filter/core/log_sinks.hpp"

#include <cerrno>
#include <ctime>
#include <mutex>
#include <string_view>

#include <fmt/format.h>
#include <spdlog/sinks/base_sink.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
// No CODE_FILE/CODE_LINE of this sink on every entry: they would all be the same.
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>
#include <unistd.h>

namespace sigil::filter::log {

int syslog_severity(spdlog::level::level_enum l) noexcept {
  switch (l) {
    case spdlog::level::trace:
    case spdlog::level::debug: return 7;
    case spdlog::level::info: return 6;
    case spdlog::level::warn: return 4;
    case spdlog::level::err: return 3;
    case spdlog::level::critical: return 2;
    default: return 6;
  }
}

namespace {

// The formatted line without the pattern's end of line.
std::string_view line_of(const spdlog::memory_buf_t& buf) {
  std::string_view s(buf.data(), buf.size());
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// The line a receiver did not take: on stderr, with the tag, in one write.
void to_stderr(const std::string& ident, std::string_view line) {
  std::string out = fmt::format("{}[{}]: {}\n", ident, ::getpid(), line);
  for (std::size_t done = 0; done < out.size();) {
    ssize_t n = ::write(STDERR_FILENO, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // stderr gone too: nowhere left to say it
    done += static_cast<std::size_t>(n);
  }
}

// "Mmm dd hh:mm:ss " in local time, as RFC 3164 §4.1.2 and glibc write it
// (month names in English whatever the locale).
void append_timestamp(std::string& out, spdlog::log_clock::time_point t) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t tt = spdlog::log_clock::to_time_t(t);
  std::tm tm{};
  ::localtime_r(&tt, &tm);
  out += fmt::format("{} {:2} {:02}:{:02}:{:02} ", kMonths[tm.tm_mon % 12], tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
}

class SyslogSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  SyslogSink(std::string path, int facility, std::string ident)
      : path_(std::move(path)), facility_(facility), ident_(std::move(ident)) {
    connect_socket();
  }
  ~SyslogSink() override {
    if (fd_ >= 0) ::close(fd_);
  }
  SyslogSink(const SyslogSink&) = delete;
  SyslogSink& operator=(const SyslogSink&) = delete;

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t body;
    formatter_->format(msg, body);
    std::string_view text = line_of(body);
    datagram_.clear();
    datagram_ += fmt::format("<{}>", facility_ * 8 + syslog_severity(msg.level));
    append_timestamp(datagram_, msg.time);
    datagram_ += fmt::format("{}[{}]: ", ident_, ::getpid());
    datagram_.append(text);
    if (!deliver()) to_stderr(ident_, text);
  }
  void flush_() override {}

 private:
  bool connect_socket() {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    path_.copy(sa.sun_path, sizeof(sa.sun_path) - 1);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) == 0) return true;
    ::close(fd_);
    fd_ = -1;
    return false;
  }

  // Sends the datagram; on failure reconnects once (the daemon restarted and
  // made a new socket) and tries again.
  bool deliver() {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (fd_ < 0 && !connect_socket()) continue;
      ssize_t n;
      do n = ::send(fd_, datagram_.data(), datagram_.size(), MSG_NOSIGNAL);
      while (n < 0 && errno == EINTR);
      if (n == static_cast<ssize_t>(datagram_.size())) return true;
      ::close(fd_);
      fd_ = -1;
    }
    return false;
  }

  std::string path_;
  int facility_;
  std::string ident_;
  int fd_ = -1;
  std::string datagram_;
};

// Where libsystemd sends (sd_journal_sendv returns 0 when it is missing).
constexpr const char* kJournalSocket = "/run/systemd/journal/socket";

class JournalSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  JournalSink(int facility, std::string ident) : facility_(facility), ident_(std::move(ident)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t body;
    formatter_->format(msg, body);
    std::string_view text = line_of(body);
    std::string fields[] = {
        "MESSAGE=" + std::string(text),
        fmt::format("PRIORITY={}", syslog_severity(msg.level)),
        "SYSLOG_IDENTIFIER=" + ident_,
        fmt::format("SYSLOG_FACILITY={}", facility_),
        "SIGIL_LOGGER=" + std::string(msg.logger_name.data(), msg.logger_name.size()),
    };
    iovec iov[std::size(fields)];
    for (std::size_t i = 0; i < std::size(fields); ++i)
      iov[i] = iovec{fields[i].data(), fields[i].size()};
    // libsystemd drops a line silently when there is no journal socket.
    if (::access(kJournalSocket, W_OK) != 0 ||
        ::sd_journal_sendv(iov, static_cast<int>(std::size(fields))) < 0)
      to_stderr(ident_, text);
  }
  void flush_() override {}

 private:
  int facility_;
  std::string ident_;
};

}  // namespace

std::shared_ptr<spdlog::sinks::sink> make_syslog_sink(const std::string& socket_path,
                                                      int facility, const std::string& ident) {
  return std::make_shared<SyslogSink>(socket_path, facility, ident);
}

std::shared_ptr<spdlog::sinks::sink> make_journal_sink(int facility, const std::string& ident) {
  return std::make_shared<JournalSink>(facility, ident);
}

}  // namespace sigil::filter::log
