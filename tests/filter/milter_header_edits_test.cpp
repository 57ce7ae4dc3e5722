// tests/filter/milter_header_edits_test.cpp — filter/milter/header_edits.hpp:
// which SMFIR_CHGHEADER index each removed field gets and in which order the
// replies go.  The index is the 1-based rank of the field among the fields of
// its name that the MTA sent us, the fields an earlier milter inserted
// included: Postfix (3.7.11) counts over the header as the earlier milters
// left it, minus its own Received:, which it hides from every milter.
// e2e.milter_opendkim_order checks the same against a real Postfix with
// OpenDKIM in front.
#include "filter/milter/header_edits.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "filter/milter/milter_protocol.hpp"

namespace sigil::filter {
namespace {

// The header section as the session collects it from SMFIC_HEADER events.
HeaderIndex index_of(const std::vector<std::string_view>& fields) {
  HeaderIndex h(1 << 16);
  for (auto f : fields) {
    h.feed(f);
    h.feed("\r\n");
  }
  h.feed("\r\n");
  h.finish();
  return h;
}

std::string del(std::uint32_t i, std::string_view name) { return milter::change_header(i, name, ""); }

// An earlier milter (OpenDKIM) inserted its Authentication-Results on top;
// the MTA sent it to us, so it counts: the forged fields are the 2nd and 4th
// of their name, deleted last first.
TEST(MilterHeaderEdits, CountsFieldsAnEarlierMilterInserted) {
  auto h = index_of({
      "Authentication-Results: opendkim.example; dkim=pass header.d=example.com",
      "Authentication-Results: mx.example; dkim=pass (forged)",
      "From: a@example.com",
      "Subject: hi",
      "Authentication-Results: other.example; spf=pass",
      "Authentication-Results: mx.example;\r\n\tdkim=pass (forged, folded)",
  });
  ASSERT_EQ(h.fields().size(), 6u);
  HeaderEdits e;
  e.remove = {1, 5};
  e.prepend = {"Authentication-Results: mx.example; dkim=none\r\n"};
  std::string want = del(4, "Authentication-Results") + del(2, "Authentication-Results") +
                     milter::insert_header(0, "Authentication-Results", " mx.example; dkim=none");
  EXPECT_EQ(edit_replies(e, h, true), want);
}

// Names compare without regard to case, as Postfix's strncasecmp does; other
// names do not count.
TEST(MilterHeaderEdits, IndexIsPerNameCaseInsensitive) {
  auto h = index_of({
      "Received: from a",
      "authentication-results: x.example; none",
      "AUTHENTICATION-RESULTS: mx.example; dkim=pass",
      "Received: from b",
  });
  HeaderEdits e;
  e.remove = {0, 2};
  EXPECT_EQ(edit_replies(e, h, true), del(2, "AUTHENTICATION-RESULTS") + del(1, "Received"));
}

// The removals go out highest index first whatever order the stages
// recorded them in, so an earlier deletion never renumbers a later one.
TEST(MilterHeaderEdits, DeletesHighestIndexFirst) {
  auto h = index_of({
      "Authentication-Results: mx.example; a",
      "Authentication-Results: mx.example; b",
      "Authentication-Results: mx.example; c",
  });
  HeaderEdits e;
  e.remove = {0, 2, 1};
  EXPECT_EQ(edit_replies(e, h, true), del(3, "Authentication-Results") +
                                          del(2, "Authentication-Results") +
                                          del(1, "Authentication-Results"));
}

// Insertions come after every deletion, at 0, 1, ... in order (a deletion
// sent after them would count our own fields); a removal index past the
// header is ignored.
TEST(MilterHeaderEdits, InsertsAfterDeletionsInOrder) {
  auto h = index_of({"Authentication-Results: mx.example; forged", "From: a@example.com"});
  HeaderEdits e;
  e.remove = {0, 7};
  e.prepend = {"DKIM-Signature: v=1; d=example.com\r\n",
               "Authentication-Results: mx.example; dkim=none\r\n"};
  EXPECT_EQ(edit_replies(e, h, true),
            del(1, "Authentication-Results") +
                milter::insert_header(0, "DKIM-Signature", " v=1; d=example.com") +
                milter::insert_header(1, "Authentication-Results", " mx.example; dkim=none"));
}

}  // namespace
}  // namespace sigil::filter
