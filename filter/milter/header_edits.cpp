// filter/milter/header_edits.cpp — see header_edits.hpp.
#include "filter/milter/header_edits.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "conf/ascii.hpp"
#include "filter/milter/milter_protocol.hpp"

namespace sigil::filter {

std::string edit_replies(const HeaderEdits& e, const HeaderIndex& h, bool leadspc) {
  std::string out;
  struct Del {
    std::string name;
    std::uint32_t index;
  };
  std::vector<Del> dels;
  const auto& fields = h.fields();
  for (auto r : e.remove) {
    if (r >= fields.size()) continue;
    auto name = h.name(fields[r]);
    std::uint32_t k = 0;
    for (std::size_t i = 0; i <= r; ++i)
      if (ascii::iequals(h.name(fields[i]), name)) ++k;
    dels.push_back({std::string(name), k});
  }
  std::sort(dels.begin(), dels.end(), [](const Del& a, const Del& b) { return a.index > b.index; });
  for (const auto& d : dels) out += milter::change_header(d.index, d.name, "");
  // Deletions first: Postfix resolves a SMFIR_CHGHEADER index over the header
  // as edited so far, fields a milter inserted included, so a delete sent
  // after our own Authentication-Results went on top would remove ours.
  std::uint32_t at = 0;
  for (const auto& f : e.prepend) {
    auto [name, value] = milter::split_field(f, leadspc);
    out += milter::insert_header(at++, name, value);
  }
  return out;
}

}  // namespace sigil::filter
