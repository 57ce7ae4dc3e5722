// filter/net/peer_connection.cpp — see peer_connection.hpp.
#include "filter/net/peer_connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace sigil::filter {

namespace asio = boost::asio;

PeerConnection::PeerConnection(Server& server, Socket sock, std::string client_addr,
                               metrics::Listener* metrics)
    : server_(server),
      sock_(std::move(sock)),
      metrics_(metrics),
      dog_(sock_.get_executor()),
      client_addr_(std::move(client_addr)) {
  server_.count_client(client_addr_);
}

// XXX: no vptr check here (nor in the sessions' destructors): UBSan's check
// reads memory through a pipe, and with the process out of file descriptors
// (Cli.SigildSurvivesRunningOut...) it cannot make one and reports a false
// "invalid vptr" for the base class.
__attribute__((no_sanitize("vptr"))) PeerConnection::~PeerConnection() {
  dog_.stop();
  if (gauged_) metrics::session_closed(metrics_);  // opened, never closed (an exception)
}

void PeerConnection::on_drain() {
  if (idle_wait_) {
    boost::system::error_code ec;
    sock_.cancel(ec);
  }
}

void PeerConnection::force_close() {
  boost::system::error_code ec;
  sock_.shutdown(Socket::shutdown_both, ec);
  sock_.close(ec);
}

bool PeerConnection::open() {
  server_.attach(this);
  if (!gauged_) metrics::session_opened(metrics_);
  gauged_ = true;
  dog_.start([this] {
    boost::system::error_code ec;
    sock_.cancel(ec);
  });
  if (sock_.local_endpoint().protocol().family() == AF_UNIX) return false;
  int one = 1;
  ::setsockopt(sock_.native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return true;
}

asio::awaitable<void> PeerConnection::close() {
  if (!out_.empty() && sock_.is_open()) co_await write_out(std::chrono::seconds(10));
  boost::system::error_code ec;
  sock_.shutdown(Socket::shutdown_both, ec);
  sock_.close(ec);
  dog_.stop();
  if (counted_) server_.uncount_client(client_addr_);
  counted_ = false;
  if (gauged_) metrics::session_closed(metrics_);
  gauged_ = false;
  server_.detach(this);
}

asio::awaitable<bool> PeerConnection::write_out(Duration timeout) {
  if (out_.empty()) co_return true;
  dog_.arm(timeout);
  auto [ec, n] = co_await asio::async_write(sock_, asio::buffer(out_),
                                            asio::as_tuple(asio::use_awaitable));
  (void)n;
  out_.clear();
  co_return !ec;
}

asio::awaitable<std::size_t> PeerConnection::read_some(char* p, std::size_t n,
                                                       Duration write_timeout,
                                                       Duration read_timeout, bool idle) {
  if (!co_await write_out(write_timeout)) co_return 0;
  dog_.arm(read_timeout);
  idle_wait_ = idle;
  if (idle && server_.draining()) {
    idle_wait_ = false;
    co_return 0;
  }
  auto [ec, got] =
      co_await sock_.async_read_some(asio::buffer(p, n), asio::as_tuple(asio::use_awaitable));
  idle_wait_ = false;
  co_return ec ? 0 : got;
}

}  // namespace sigil::filter
