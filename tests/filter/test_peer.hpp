// tests/filter/test_peer.hpp — test peers for the relay tests.
//
// ScriptedBackend is a deliberately small SMTP/LMTP server whose replies are
// scripted per command.  It exists for the faults a real MTA cannot produce
// on demand (a 4xx for one recipient and a 5xx for the next, a reply that
// never comes, a connection dropped right after the end-of-data dot).  The
// ordinary paths are tested against Postfix's smtp-sink and a real Postfix
// instance in tests/e2e/.
//
// SmtpClient is a blocking client with a timeout on every read, so a test
// can never hang on a silent server.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sigil::test {

struct PeerTransaction {
  std::vector<std::string> xforward;  // XFORWARD lines as received
  std::string mail;                   // the MAIL FROM line
  std::vector<std::string> rcpts;     // RCPT TO lines that got 2xx
  std::string data;                   // bytes between DATA's 354 and the dot, as sent
  bool completed = false;             // the dot was received
};

class ScriptedBackend {
 public:
  enum class AfterDot { Reply, Close, Hang };
  struct Script {
    bool lmtp = false;
    std::string greeting = "220 backend.test ESMTP";
    std::vector<std::string> capabilities = {"PIPELINING", "SIZE 100000000", "8BITMIME",
                                             "ENHANCEDSTATUSCODES", "DSN", "SMTPUTF8",
                                             "XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE"};
    // Reply to RCPT for a given address (the part inside <>).
    std::function<std::string(const std::string&)> rcpt_reply{};
    std::string data_go = "354 go ahead";
    // SMTP: the reply after the dot.  LMTP: one per accepted recipient,
    // produced by lmtp_reply (defaults to this text).
    std::string final_reply = "250 2.0.0 Ok: queued as FAKE1";
    std::function<std::string(const std::string&)> lmtp_reply{};
    AfterDot after_dot = AfterDot::Reply;
    std::chrono::milliseconds reply_delay{0};  // before the final reply
    std::uint16_t port = 0;  // 0: any free port; else this one (a restart)
  };

  explicit ScriptedBackend(Script s);
  ~ScriptedBackend();
  ScriptedBackend(const ScriptedBackend&) = delete;
  ScriptedBackend& operator=(const ScriptedBackend&) = delete;

  std::uint16_t port() const { return port_; }
  int connections() const { return connections_.load(); }
  std::vector<PeerTransaction> transactions() const;
  std::size_t completed() const;
  std::vector<std::string> commands() const;  // every command line received
  // Waits until `n` transactions completed or the timeout passed.
  bool wait_completed(std::size_t n, std::chrono::milliseconds timeout) const;

 private:
  void accept_loop();
  void serve(int fd);
  Script script_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  mutable std::mutex mu_;
  std::vector<PeerTransaction> txns_;
  std::vector<std::string> commands_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

struct ClientReply {
  int code = 0;                    // 0: connection closed or timed out
  std::vector<std::string> lines;  // text after "NNN-"/"NNN "
  std::string text() const;        // all lines joined by '\n'
};

class SmtpClient {
 public:
  // Connects to 127.0.0.1:port (or [::1] with v6, or a Unix path).
  explicit SmtpClient(std::uint16_t port, bool v6 = false);
  explicit SmtpClient(const std::string& unix_path);
  ~SmtpClient();
  bool connected() const { return fd_ >= 0; }
  void send(const std::string& bytes);
  ClientReply read(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Sends a line + CRLF and reads one reply.
  ClientReply cmd(const std::string& line,
                  std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // True when the server closed the connection within the timeout.
  bool closed_within(std::chrono::milliseconds timeout);
  void close();

 private:
  bool fill(std::chrono::milliseconds timeout);
  int fd_ = -1;
  std::string buf_;
};

// A free TCP port on 127.0.0.1, reserved for this test process (see
// tests/e2e/ports.py for why bind(0) is not enough).
std::uint16_t free_port();

}  // namespace sigil::test
