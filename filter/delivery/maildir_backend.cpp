// filter/delivery/maildir_backend.cpp — see maildir_backend.hpp.
#include "filter/delivery/maildir_backend.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "filter/core/message_store.hpp"
#include "filter/core/smtp_text.hpp"
#include "filter/delivery/message_head.hpp"

namespace sigil::filter {

namespace asio = boost::asio;

namespace {

// XXX: maildir delivery writes synchronously on the event loop.  It exists for
// first runs and demos; production uses an MTA back-end.
class MaildirBackend : public Backend {
 public:
  MaildirBackend(std::string dir, std::string host) : dir_(std::move(dir)), host_(std::move(host)) {}

  asio::awaitable<DeliveryResult> deliver(const DeliveryRequest& req) override {
    DeliveryResult res;
    auto st = write_message(req);
    if (st) res.decisive = make_reply(250, "2.0.0", "delivered to maildir as " + st.value());
    else res.decisive = make_reply(451, "4.3.0", "maildir delivery failed: " + st.error().message);
    res.rcpt.assign(req.envelope.recipients.size(), res.decisive);
    co_return res;
  }

 private:
  Status ensure_dirs() {
    if (ready_) return Ok{};
    for (const char* sub : {"", "/tmp", "/new", "/cur"}) {
      std::string d = dir_ + sub;
      // Create parents of the maildir as needed.
      for (std::size_t pos = 1; pos != std::string::npos;) {
        pos = d.find('/', pos + 1);
        std::string part = d.substr(0, pos);
        if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST)
          return make_error(ErrorKind::Io, "mkdir " + part + ": " + std::strerror(errno));
      }
    }
    ready_ = true;
    return Ok{};
  }

  // A name unique to this delivery (the maildir(5) convention: time, pid, a
  // counter, the host).
  std::string unique_name() const {
    static std::atomic<unsigned long> counter{0};
    auto now = std::chrono::system_clock::now().time_since_epoch();
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(now).count();
    return std::to_string(us / 1000000) + ".M" + std::to_string(us % 1000000) + "P" +
           std::to_string(::getpid()) + "Q" + std::to_string(++counter) + "." + host_;
  }

  // Writes all of `out` to fd and clears it.  False (errno set) on failure.
  static bool write_out(int fd, std::string& out) {
    const char* p = out.data();
    std::size_t left = out.size();
    while (left) {
      ssize_t w = ::write(fd, p, left);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return false;
      p += w;
      left -= static_cast<std::size_t>(w);
    }
    out.clear();
    return true;
  }

  // The file's contents: Return-Path, X-Original-To, then the message with
  // local (LF) line ends, as Postfix's local(8) writes maildir files.
  // Returns "" or what failed.
  static std::string write_contents(int fd, const DeliveryRequest& req) {
    std::string out = "Return-Path: <" + req.envelope.sender + ">\n";
    for (auto& r : req.envelope.recipients) out += "X-Original-To: " + r.address + "\n";
    auto put = [&](std::string_view s) {
      for (char ch : s)
        if (ch != '\r') out.push_back(ch);
    };
    ChunkReader chunks(req.message, put_head(req, put));
    for (;;) {
      auto piece = chunks.next();
      if (!piece) return piece.error().message;
      if (piece->empty()) break;
      // A CR split from its LF by the chunk boundary is dropped too: the store
      // holds canonical CRLF only.
      put(*piece);
      if (out.size() > 256 * 1024 && !write_out(fd, out)) return std::strerror(errno);
    }
    if (!write_out(fd, out)) return std::strerror(errno);
    return "";
  }

  Result<std::string> write_message(const DeliveryRequest& req) {
    if (auto s = ensure_dirs(); !s) return s.error();
    std::string name = unique_name();
    std::string tmp = dir_ + "/tmp/" + name;
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return make_error(ErrorKind::Io, "open " + tmp + ": " + std::strerror(errno));
    std::string err = write_contents(fd, req);
    if (err.empty() && ::fsync(fd) != 0) err = std::string("fsync: ") + std::strerror(errno);
    ::close(fd);
    if (!err.empty()) {
      ::unlink(tmp.c_str());
      return make_error(ErrorKind::Io, "write " + tmp + ": " + err);
    }
    std::string fin = dir_ + "/new/" + name;
    if (::rename(tmp.c_str(), fin.c_str()) != 0) {
      int e = errno;
      ::unlink(tmp.c_str());
      return make_error(ErrorKind::Io, "rename to " + fin + ": " + std::strerror(e));
    }
    int dfd = ::open((dir_ + "/new").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
    return name;
  }

  std::string dir_, host_;
  bool ready_ = false;
};

}  // namespace

std::shared_ptr<Backend> make_maildir_backend(std::string dir, std::string host) {
  return std::make_shared<MaildirBackend>(std::move(dir), std::move(host));
}

}  // namespace sigil::filter
