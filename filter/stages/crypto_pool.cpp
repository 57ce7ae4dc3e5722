// filter/stages/crypto_pool.cpp — see crypto_pool.hpp.
#include "filter/stages/crypto_pool.hpp"

#include <algorithm>
#include <thread>

#include "filter/net/thread_pool.hpp"

namespace sigil::filter {

struct CryptoPoolTag;

boost::asio::thread_pool* crypto_pool(std::size_t threads) {
  return process_pool<CryptoPoolTag>(threads);
}

std::size_t crypto_threads(const conf::Config& cfg) {
  return cfg.daemon.crypto_threads.value_or(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace sigil::filter
