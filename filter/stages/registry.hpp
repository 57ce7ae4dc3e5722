// filter/stages/registry.hpp — the stages this build provides, by the name
// a [bank.NAME] `stages` list uses: dkim-sign, dkim-verify, decode, av, spam
// (conf::kStageNames lists the same names for the configuration check).
//
// A maker may throw (e.g. a key file that does not load): PolicyTable::build
// turns that into a Config error, so the load or reload is refused.  Heavy
// shared objects (the resolver, the verifier library, the signing table) are
// built on request through Components, so a signing-only bank builds none of
// the others.  Tests pass their own factory.
// Does not: decide which stages a message runs (policy.hpp).
#pragma once

#include "filter/core/pipeline.hpp"

namespace sigil::filter {

const StageFactory& builtin_stages();

}  // namespace sigil::filter
