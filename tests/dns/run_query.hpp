// tests/dns/run_query.hpp — runs one resolver query to completion on an
// io_context (shared by dns_test and dns_resolver_test).
#pragma once

#include <exception>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "dns/resolver.hpp"

namespace sigil::test {

inline dns::TxtAnswer run(dns::Resolver& r, boost::asio::io_context& io, const std::string& name) {
  dns::TxtAnswer out;
  boost::asio::co_spawn(io, r.txt(name), [&](std::exception_ptr e, dns::TxtAnswer a) {
    if (e) std::rethrow_exception(e);
    out = std::move(a);
  });
  io.run();
  io.restart();
  return out;
}

}  // namespace sigil::test
