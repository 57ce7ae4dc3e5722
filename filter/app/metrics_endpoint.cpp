// filter/app/metrics_endpoint.cpp — the pull exposer on [metrics] address
// (see metrics_endpoint.hpp).  HTTP is civetweb's, inside prometheus-cpp.
#include "filter/app/metrics_endpoint.hpp"

#include <exception>

#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include "filter/core/log.hpp"
#include "filter/core/metrics.hpp"

namespace sigil::filter {

namespace {

// civetweb's listening_ports form: "127.0.0.1:9101", "[::1]:9101".
std::string bind_text(const conf::ListenAddress& a) {
  bool v6 = a.host.find(':') != std::string::npos;
  return (v6 ? "[" + a.host + "]" : a.host) + ":" + std::to_string(a.port);
}

}  // namespace

Result<MetricsEndpoint> MetricsEndpoint::start(const conf::MetricsConfig& m) {
  MetricsEndpoint e;
  if (!m.address) return e;
  e.address_ = bind_text(*m.address);
  try {
    e.exposer_ = std::make_unique<prometheus::Exposer>(e.address_, 1);
  } catch (const std::exception& ex) {
    return Error{ErrorKind::Io, "metrics.address " + e.address_ + ": cannot listen: " + ex.what()};
  }
  e.exposer_->RegisterCollectable(metrics::enable());
  log::main().info("metrics: serving /metrics on {}", e.address_);
  return e;
}

MetricsEndpoint::MetricsEndpoint(MetricsEndpoint&&) noexcept = default;
MetricsEndpoint::~MetricsEndpoint() = default;

void MetricsEndpoint::reloaded(const conf::MetricsConfig& m) const {
  std::string now = m.address ? bind_text(*m.address) : "";
  if (now == address_) return;
  log::main().warn("reload: metrics.address {} -> {} takes effect only on restart",
                   address_.empty() ? "(off)" : address_, now.empty() ? "(off)" : now);
}

}  // namespace sigil::filter
