// tests/filter/test_peer.cpp — see test_peer.hpp.
#include "filter/test_peer.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>
#include <stdexcept>

#include "conf/ascii.hpp"

namespace sigil::test {

namespace {

using Clock = std::chrono::steady_clock;

void send_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    s.remove_prefix(static_cast<std::size_t>(n));
  }
}

void send_all_file(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::write(fd, s.data(), s.size());
    if (n <= 0) return;
    s.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string angle(const std::string& line) {
  auto a = line.find('<'), b = line.find('>');
  if (a == std::string::npos || b == std::string::npos || b < a) return {};
  return line.substr(a + 1, b - a - 1);
}

}  // namespace

ScriptedBackend::ScriptedBackend(Script s) : script_(std::move(s)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(script_.port);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      ::listen(listen_fd_, 64) != 0)
    throw std::runtime_error("ScriptedBackend: bind/listen failed");
  socklen_t len = sizeof sa;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&sa), &len);
  port_ = ntohs(sa.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

ScriptedBackend::~ScriptedBackend() {
  stop_ = true;
  acceptor_.join();
  ::close(listen_fd_);
  std::vector<std::thread> ts;
  {
    std::lock_guard lk(mu_);
    ts.swap(threads_);
  }
  for (auto& t : ts) t.join();
}

void ScriptedBackend::accept_loop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++connections_;
    std::lock_guard lk(mu_);
    threads_.emplace_back([this, fd] {
      serve(fd);
      ::close(fd);
    });
  }
}

std::vector<PeerTransaction> ScriptedBackend::transactions() const {
  std::lock_guard lk(mu_);
  return txns_;
}

std::size_t ScriptedBackend::completed() const {
  std::lock_guard lk(mu_);
  std::size_t n = 0;
  for (auto& t : txns_) n += t.completed ? 1 : 0;
  return n;
}

std::vector<std::string> ScriptedBackend::commands() const {
  std::lock_guard lk(mu_);
  return commands_;
}

bool ScriptedBackend::wait_completed(std::size_t n, std::chrono::milliseconds timeout) const {
  auto end = Clock::now() + timeout;
  while (Clock::now() < end) {
    if (completed() >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return completed() >= n;
}

void ScriptedBackend::serve(int fd) {
  std::string buf;
  // Reads one CRLF line (without CRLF); false on close or stop.
  auto read_line = [&](std::string& line) -> bool {
    for (;;) {
      auto pos = buf.find("\r\n");
      if (pos != std::string::npos) {
        line = buf.substr(0, pos);
        buf.erase(0, pos + 2);
        return true;
      }
      if (stop_) return false;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char tmp[65536];
      ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n <= 0) return false;
      buf.append(tmp, static_cast<std::size_t>(n));
    }
  };
  auto sleep_unless_stopped = [&](std::chrono::milliseconds d) {
    auto end = Clock::now() + d;
    while (!stop_ && Clock::now() < end) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  };

  send_all(fd, script_.greeting + "\r\n");
  PeerTransaction cur;
  std::vector<std::string> accepted;  // recipient addresses, for LMTP replies
  std::string line;
  while (read_line(line)) {
    {
      std::lock_guard lk(mu_);
      commands_.push_back(line);
    }
    std::string verb = ascii::upper(line.substr(0, line.find(' ')));
    if (verb == "EHLO" || verb == "LHLO" || verb == "HELO") {
      std::string r = "250";
      r += script_.capabilities.empty() ? " " : "-";
      r += "backend.test\r\n";
      for (std::size_t i = 0; i < script_.capabilities.size(); ++i)
        r += (i + 1 == script_.capabilities.size() ? "250 " : "250-") + script_.capabilities[i] +
             "\r\n";
      send_all(fd, r);
    } else if (verb == "XFORWARD") {
      cur.xforward.push_back(line);
      send_all(fd, "250 2.0.0 Ok\r\n");
    } else if (verb == "MAIL") {
      cur.mail = line;
      send_all(fd, "250 2.1.0 Ok\r\n");
    } else if (verb == "RCPT") {
      std::string addr = angle(line);
      std::string r = script_.rcpt_reply ? script_.rcpt_reply(addr) : "250 2.1.5 Ok";
      if (!r.empty() && r[0] == '2') {
        cur.rcpts.push_back(line);
        accepted.push_back(addr);
      }
      send_all(fd, r + "\r\n");
    } else if (verb == "RSET") {
      cur = PeerTransaction{};
      accepted.clear();
      send_all(fd, "250 2.0.0 Ok\r\n");
    } else if (verb == "NOOP") {
      send_all(fd, "250 2.0.0 Ok\r\n");
    } else if (verb == "QUIT") {
      send_all(fd, "221 2.0.0 Bye\r\n");
      return;
    } else if (verb == "DATA") {
      if (accepted.empty()) {
        send_all(fd, "554 5.5.1 Error: no valid recipients\r\n");
        continue;
      }
      send_all(fd, script_.data_go + "\r\n");
      if (script_.data_go[0] != '3') continue;
      // Read the data up to CRLF.CRLF (the dot line itself is not kept).
      std::string data;
      bool got_end = false;
      for (;;) {
        std::string l;
        if (!read_line(l)) break;
        if (l == ".") {
          got_end = true;
          break;
        }
        data += l;
        data += "\r\n";
      }
      cur.data = data;
      cur.completed = got_end;
      {
        std::lock_guard lk(mu_);
        txns_.push_back(cur);
      }
      if (!got_end) return;
      if (script_.after_dot == AfterDot::Close) return;
      if (script_.after_dot == AfterDot::Hang) {
        while (!stop_) {
          pollfd p{fd, POLLIN, 0};
          if (::poll(&p, 1, 50) > 0) {
            char tmp[512];
            if (::recv(fd, tmp, sizeof tmp, 0) <= 0) return;
          }
        }
        return;
      }
      sleep_unless_stopped(script_.reply_delay);
      if (script_.lmtp) {
        std::string r;
        for (auto& a : accepted)
          r += (script_.lmtp_reply ? script_.lmtp_reply(a) : script_.final_reply) + "\r\n";
        send_all(fd, r);
      } else {
        send_all(fd, script_.final_reply + "\r\n");
      }
      cur = PeerTransaction{};
      accepted.clear();
    } else {
      send_all(fd, "502 5.5.2 Error: command not recognized\r\n");
    }
  }
}

// ---------------------------------------------------------------- client

std::string ClientReply::text() const {
  std::string s;
  for (auto& l : lines) {
    if (!s.empty()) s += '\n';
    s += l;
  }
  return s;
}

SmtpClient::SmtpClient(std::uint16_t port, bool v6) {
  if (v6) {
    fd_ = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = in6addr_loopback;
    sa.sin6_port = htons(port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) close();
  } else {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) close();
  }
}

SmtpClient::SmtpClient(const std::string& unix_path) {
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, unix_path.c_str(), sizeof sa.sun_path - 1);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) close();
}

SmtpClient::~SmtpClient() { close(); }

void SmtpClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void SmtpClient::send(const std::string& bytes) {
  if (fd_ >= 0) send_all(fd_, bytes);
}

bool SmtpClient::fill(std::chrono::milliseconds timeout) {
  if (fd_ < 0) return false;
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
  char tmp[65536];
  ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
  if (n <= 0) return false;
  buf_.append(tmp, static_cast<std::size_t>(n));
  return true;
}

ClientReply SmtpClient::read(std::chrono::milliseconds timeout) {
  ClientReply r;
  auto end = Clock::now() + timeout;
  for (;;) {
    auto pos = buf_.find("\r\n");
    if (pos == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
      if (left.count() <= 0 || !fill(left)) return ClientReply{};
      continue;
    }
    std::string l = buf_.substr(0, pos);
    buf_.erase(0, pos + 2);
    if (l.size() < 3) return ClientReply{};
    r.code = std::atoi(l.substr(0, 3).c_str());
    r.lines.push_back(l.size() > 4 ? l.substr(4) : "");
    if (l.size() < 4 || l[3] != '-') return r;
  }
}

ClientReply SmtpClient::cmd(const std::string& line, std::chrono::milliseconds timeout) {
  send(line + "\r\n");
  return read(timeout);
}

bool SmtpClient::closed_within(std::chrono::milliseconds timeout) {
  if (fd_ < 0) return true;
  auto end = Clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char tmp[4096];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return true;
    buf_.append(tmp, static_cast<std::size_t>(n));
  }
}

// Same scheme as tests/e2e/ports.py (read its docstring): a port below the
// ephemeral range, reserved by an O_EXCL file holding our PID in
// $TMPDIR/sigil-test-ports, so neither an outgoing connection nor a
// concurrent test can take it before the peer binds it.  Reservations are
// dropped when the test process exits (and a dead PID's are taken over).
namespace {

std::string ports_dir() {
  const char* t = std::getenv("TMPDIR");
  return std::string(t && *t ? t : "/tmp") + "/sigil-test-ports";
}

struct Reservations {
  std::vector<std::string> paths;
  ~Reservations() {
    for (auto& p : paths) ::unlink(p.c_str());
  }
};
Reservations& reservations() {
  static Reservations r;
  return r;
}

bool reserve(const std::string& path) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) {
      auto pid = std::to_string(::getpid()) + "\n";
      send_all_file(fd, pid);
      ::close(fd);
      return true;
    }
    if (errno != EEXIST) return false;
    long owner = 0;
    if (FILE* f = std::fopen(path.c_str(), "r")) {
      if (std::fscanf(f, "%ld", &owner) != 1) owner = 0;
      std::fclose(f);
    }
    if (owner > 0 && (::kill(static_cast<pid_t>(owner), 0) == 0 || errno == EPERM)) return false;
    ::unlink(path.c_str());
  }
  return false;
}

bool bindable(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

std::uint16_t free_port() {
  unsigned lo = 32768, hi = 60999;
  if (FILE* f = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) {
    if (std::fscanf(f, "%u %u", &lo, &hi) != 2) lo = 32768, hi = 60999;
    std::fclose(f);
  }
  unsigned first = 10000, last = lo - 1;
  if (lo < 12001) first = hi + 1, last = 65535;
  auto dir = ports_dir();
  ::mkdir(dir.c_str(), 01777);
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<unsigned> pick(first, last);
  for (int i = 0; i < 20000; ++i) {
    auto port = static_cast<std::uint16_t>(pick(rng));
    auto path = dir + "/" + std::to_string(port);
    if (!reserve(path)) continue;
    if (bindable(port)) {
      reservations().paths.push_back(path);
      return port;
    }
    ::unlink(path.c_str());
  }
  throw std::runtime_error("free_port: no port could be reserved in " + dir);
}

}  // namespace sigil::test
