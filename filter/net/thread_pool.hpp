// filter/net/thread_pool.hpp — the process-wide thread pools for work kept
// off the event loop (the DKIM crypto pool, the decode pool).
//
// Does not: schedule or bound the work (each stage hands over one job per
// message and awaits it), or stop the pools (they live as long as the process).
#pragma once

#include <cstddef>

#include <boost/asio/thread_pool.hpp>

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

}  // namespace sigil::filter
