// filter/app/wiring.hpp — how sigild is put together: which session serves
// which listener mode, and how a loaded configuration becomes the Runtime in
// force (the policy table with its stages, and the back-end).
//
// The one place that knows every front and every stage, so that net/ links
// neither (docs/ARCHITECTURE.md, "Module graph").
// Does not: accept connections or reload (net/server.hpp).
#pragma once

#include <memory>

#include <boost/asio/any_io_executor.hpp>

#include "conf/config.hpp"
#include "filter/core/pipeline.hpp"
#include "filter/core/runtime.hpp"
#include "filter/net/server.hpp"

namespace sigil::filter {

// Builds a Runtime.  Failure (Config): a stage is unavailable.
Result<std::shared_ptr<Runtime>> build_runtime(boost::asio::any_io_executor ex,
                                               std::shared_ptr<const conf::Config> cfg,
                                               const StageFactory& factory);

// The wiring of sigild: build_runtime with `factory` (kept by reference:
// it must outlive the server), SMTP/LMTP sessions for after-queue and proxy
// listeners, milter sessions for milter listeners.
ServerWiring sigild_wiring(const StageFactory& factory);

}  // namespace sigil::filter
