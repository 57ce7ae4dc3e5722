// filter/core/runtime.hpp — the configuration in force: the loaded file, the
// policy table with its built pipelines, the shared components the stages
// use, and the back-end.
//
// Immutable once built; a reload builds a new one (app/wiring.cpp) and the
// server swaps it in.  A transaction keeps the Runtime it started with
// (shared_ptr), so nothing in flight sees a half-applied change.
// Does not: build itself (app/wiring.cpp), or own the listeners (net/server.hpp).
#pragma once

#include <memory>

#include "conf/config.hpp"
#include "filter/core/delivery.hpp"
#include "filter/core/pipeline.hpp"
#include "filter/core/policy.hpp"

namespace sigil::filter {

struct Runtime {
  std::shared_ptr<const conf::Config> config;
  Components components;
  PolicyTable policies;
  std::shared_ptr<Backend> backend;
};

}  // namespace sigil::filter
