// filter/stages/crypto_pool.hpp — the process-wide pool for DKIM work kept
// off the event loop: RSA signatures (dkim_sign_stage) and the body hashing
// of large messages under verification (dkim_verify_stage).
//
// Does not: decide what goes to the pool (each stage does, with its own
// measured threshold), or bound the queue (each message hands over one job
// at a time and awaits it).
#pragma once

#include <cstddef>

#include <boost/asio/thread_pool.hpp>

#include "conf/config.hpp"

namespace sigil::filter {

// Built on first use with the size the first configuration asked for (a
// reload keeps it).  Never destroyed: a job in flight at exit must not join
// its own thread.
boost::asio::thread_pool* crypto_pool(std::size_t threads);

// [daemon] crypto_threads, or one per CPU when unset; 0 keeps the work on
// the event loop.
std::size_t crypto_threads(const conf::Config& cfg);

}  // namespace sigil::filter
