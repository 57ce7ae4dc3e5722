// filter/stages/decode/archives.hpp — archive members through libarchive.
//
// A part or member whose first 64 KiB libarchive recognises as an archive
// (zip, 7z, rar, tar, cpio, iso9660, ar, cab, lha, xar) or a compressed
// stream (gzip, bzip2, xz, lzma, lzip, zstd, lz4, compress, uu, rpm; a
// tar.gz is one tar) has its members listed and read, each recorded as a
// PartInfo (its path through the containers, the container formats), and
// members that are archives themselves are opened in turn.  Nesting
// (MIME and archive levels together), the entity count and the expansion
// quota are the walk's (WalkState), checked per member and per chunk, so a
// zip bomb is never unpacked past the quota; an encrypted, corrupt or
// truncated archive stops the walk with an `unchecked` finding.
//
// Does not: decrypt, write out members that are not archives themselves
// (those are typed and counted only), or follow links.  Left out of libarchive's
// "all" on purpose: mtree (its spec names files of the local file system)
// and the filters that run external programs (lrzip, lzop, grzip).
// Implements no RFC.
#pragma once

#include <string_view>

#include "filter/stages/decode/content.hpp"
#include "filter/stages/decode/parts.hpp"
#include "filter/stages/decode/walk_state.hpp"

namespace sigil::filter::decode {

// Whether libarchive sees an archive or a compressed stream in `head` (the
// first 64 KiB of some content, or all of it).
bool is_archive(std::string_view head);

// A part or member read to its end (`whole`) or not: its detected type, its
// record in w.out.parts, and its members (at depth + 1) when it is an
// archive.
void record(WalkState& w, PartInfo info, Sink& sink, bool whole, unsigned depth);

}  // namespace sigil::filter::decode
