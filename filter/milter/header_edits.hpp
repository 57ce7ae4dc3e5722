// filter/milter/header_edits.hpp — a message's header edits as milter
// replies: each removed field deleted (SMFIR_CHGHEADER with an empty value),
// the last occurrence of a name first, so the 1-based per-name index of the
// others does not move; then the prepended fields inserted at the top in
// order (SMFIR_INSHEADER).
//
// The index is the field's rank among the fields of its name that the MTA
// sent us (SMFIC_HEADER), whoever put them there: Postfix runs the milters
// one after the other, shows a later one what the earlier ones inserted, and
// counts a CHGHEADER index over the same fields, all but its own Received:,
// which it hides (measured with 3.7.11 by e2e.milter_opendkim_order; Sendmail
// is not tested here).  Postfix before its 20231213 fix
// left the first field out of that count instead of its Received:; a field
// an earlier milter put above that Received: then shifts our index by one,
// which nothing we are sent reveals (docs/postfix.md, "Among other milters").
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
