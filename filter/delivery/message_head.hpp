// filter/delivery/message_head.hpp — what a back-end writes before the
// stored message bytes: the prepended header fields and, when fields are
// removed, the kept ones (shared by the SMTP/LMTP client and the maildir
// writer).
//
// Does not: decide header edits (core/pipeline and the stages do) or write
// anything itself: `put` receives each piece.
#pragma once

#include <cstdint>
#include <string_view>

#include "filter/core/delivery.hpp"
#include "filter/core/pipeline.hpp"

namespace sigil::filter {

// What goes before the stored bytes sent from passthrough_offset() on, handed
// to `put` piece by piece: the prepended fields, then, when fields are
// removed, the header fields kept.  Returns that offset.
template <typename Put>
std::uint64_t put_head(const DeliveryRequest& req, Put&& put) {
  for (auto& h : req.edits.prepend) put(std::string_view(h));
  std::uint64_t off = passthrough_offset(req.edits, req.message.headers());
  if (off > 0) {
    const auto& hi = req.message.headers();
    for (std::size_t i = 0; i < hi.fields().size(); ++i)
      if (!req.edits.removed(i)) put(hi.field(hi.fields()[i]));
  }
  return off;
}

}  // namespace sigil::filter
