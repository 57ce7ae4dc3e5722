// filter/stages/dns_metrics.cpp — see dns_metrics.hpp.
#include "filter/stages/dns_metrics.hpp"

#include "filter/core/metrics.hpp"

namespace sigil::filter {

namespace {

class DnsMetrics final : public dns::Resolver::Observer {
 public:
  void dns_event(Event e) noexcept override {
    using E = Event;
    using M = metrics::Dns;
    switch (e) {
      case E::QuerySent: return metrics::dns(M::QuerySent);
      case E::CacheHit: return metrics::dns(M::CacheHit);
      case E::Timeout: return metrics::dns(M::Timeout);
      case E::ServFail: return metrics::dns(M::ServFail);
      case E::Started: return metrics::dns(M::Started);
      case E::Finished: return metrics::dns(M::Finished);
    }
  }
};

}  // namespace

dns::Resolver::Observer* dns_metrics_observer() {
  if (!metrics::enabled()) return nullptr;
  static DnsMetrics* const observer = new DnsMetrics;  // never freed, as the header says
  return observer;
}

}  // namespace sigil::filter
