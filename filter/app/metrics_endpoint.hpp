// filter/app/metrics_endpoint.hpp — sigild's Prometheus endpoint: turns the
// metrics on (filter/core/metrics.hpp) and serves GET /metrics over HTTP on
// [metrics] address with prometheus-cpp's pull exposer (civetweb).
//
// Started before the privilege drop, so a port below 1024 works; it runs
// its own thread, not the event loop.  Does not: rebind on reload (a changed
// address is logged and takes effect on restart), TLS or authentication
// (bind it to loopback or a management network).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "conf/config.hpp"
#include "conf/result.hpp"

namespace prometheus {
class Exposer;
}

namespace sigil::filter {

class MetricsEndpoint {
 public:
  // Off (nothing listens, recording stays off) when `m` has no address.
  static Result<MetricsEndpoint> start(const conf::MetricsConfig& m);
  MetricsEndpoint(MetricsEndpoint&&) noexcept;
  ~MetricsEndpoint();

  // After a reload to `m`: warns when its address differs from the one
  // being served (takes effect on restart).
  void reloaded(const conf::MetricsConfig& m) const;

 private:
  MetricsEndpoint() = default;
  std::string address_;  // "" off
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace sigil::filter
