// filter/milter/header_edits.hpp — a message's header edits as milter
// replies: each removed field deleted (SMFIR_CHGHEADER with an empty value),
// the last occurrence of a name first, so the 1-based per-name index of the
// others does not move; then the prepended fields inserted at the top in
// order (SMFIR_INSHEADER).
//
// Does not: decide the edits (the stages and core/checks.hpp), or check that
// the MTA offered SMFIF_ADDHDRS / SMFIF_CHGHDRS (core/outcome.hpp does).
#pragma once

#include <string>

#include "filter/core/message_store.hpp"
#include "filter/core/pipeline.hpp"

namespace sigil::filter {

std::string edit_replies(const HeaderEdits& e, const HeaderIndex& h, bool leadspc);

}  // namespace sigil::filter
