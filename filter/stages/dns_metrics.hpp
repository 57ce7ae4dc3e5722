// filter/stages/dns_metrics.hpp — the resolver's events into the Prometheus
// metrics: a dns::Resolver::Observer that forwards each to metrics::dns().
//
// Does not: count anything itself (the resolver calls it where the event
// happens), or exist when metrics are off (then there is no observer and
// the resolver pays one pointer test per event).  No RFC.
#pragma once

#include "dns/resolver.hpp"

namespace sigil::filter {

// The process's observer, or nullptr when metrics are off.  Never freed
// (resolvers of a runtime that a reload replaced may still run).
dns::Resolver::Observer* dns_metrics_observer();

}  // namespace sigil::filter
