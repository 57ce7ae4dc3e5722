// filter/stages/decode/walker.cpp — see walker.hpp.
#include "filter/stages/decode/walker.hpp"

#include <unistd.h>

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include <gmime/gmime.h>

#include "conf/ascii.hpp"
#include "filter/stages/decode/archives.hpp"
#include "filter/stages/decode/content.hpp"
#include "filter/stages/decode/display.hpp"
#include "filter/stages/decode/header_checks.hpp"
#include "filter/stages/decode/temp_dir.hpp"
#include "filter/stages/decode/walk_state.hpp"

namespace sigil::filter::decode {

namespace {

void gmime_once() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

template <typename T>
struct GUnref {
  void operator()(T* p) const {
    if (p) g_object_unref(p);
  }
};
template <typename T>
using GPtr = std::unique_ptr<T, GUnref<T>>;

// How many boundary parameters the multipart `obj`'s Content-Type has.
int boundary_params(GMimeObject* obj) {
  int boundaries = 0;
  if (GMimeContentType* ct = g_mime_object_get_content_type(obj))
    if (GMimeParamList* pl = g_mime_content_type_get_parameters(ct)) {
      int n = g_mime_param_list_length(pl);
      for (int i = 0; i < n; ++i) {
        const char* name = g_mime_param_get_name(g_mime_param_list_get_parameter_at(pl, i));
        if (name && ascii::iequals(name, "boundary")) ++boundaries;
      }
    }
  return boundaries;
}

// A leaf's declared type, lower case; "" when GMime has none.
std::string declared_type(GMimePart* part) {
  std::string type;
  if (GMimeContentType* ct = g_mime_object_get_content_type(GMIME_OBJECT(part))) {
    if (char* t = g_mime_content_type_get_mime_type(ct)) {
      type = ascii::lower(t);
      g_free(t);
    }
  }
  return type;
}

// Decodes the leaf's content into `sink`, counting `size`; false when the
// sink stopped the reading (a limit or an error).
bool read_content(GMimePart* part, Sink& sink, std::uint64_t& size) {
  GMimeDataWrapper* w = g_mime_part_get_content(part);
  GMimeStream* raw = w ? g_mime_data_wrapper_get_stream(w) : nullptr;
  if (!raw) return true;
  g_mime_stream_reset(raw);
  GPtr<GMimeStream> filtered(g_mime_stream_filter_new(raw));
  auto enc = g_mime_data_wrapper_get_encoding(w);
  if (enc == GMIME_CONTENT_ENCODING_BASE64 || enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
      enc == GMIME_CONTENT_ENCODING_UUENCODE) {
    GPtr<GMimeFilter> f(g_mime_filter_basic_new(enc, FALSE));
    if (f) g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered.get()), f.get());
  }
  std::array<char, 16384> buf;
  for (;;) {
    ssize_t n = g_mime_stream_read(filtered.get(), buf.data(), buf.size());
    if (n <= 0) return true;
    size += static_cast<std::uint64_t>(n);
    if (!sink.feed(buf.data(), static_cast<std::size_t>(n))) return false;
  }
}

struct MimeWalk {
  WalkState& w;

  // bad-header findings for invalid MIME fields, at most kMimeProblems.
  static constexpr std::size_t kMimeProblems = 5;
  std::size_t mime_problems = 0;

  void check_mime_header(GMimeObject* obj) {
    std::string p = mime_fields_problem(g_mime_object_get_header(obj, "Content-Type"),
                                        g_mime_object_get_header(obj, "Content-Transfer-Encoding"),
                                        GMIME_IS_MULTIPART(obj) || GMIME_IS_MESSAGE_PART(obj));
    if (p.empty() || mime_problems++ >= kMimeProblems) return;
    w.out.findings.push_back({conf::Category::BadHeader,
                              p + " in MIME part " + std::to_string(w.entities + 1), "decode"});
  }

  void walk(GMimeObject* obj, unsigned depth) {
    if (w.stop || !obj || w.late()) return;
    check_mime_header(obj);
    if (depth > w.cfg.max_depth) {
      w.unchecked("MIME nesting deeper than " + std::to_string(w.cfg.max_depth));
      return;
    }
    if (++w.entities > w.cfg.max_parts) {
      w.unchecked("more than " + std::to_string(w.cfg.max_parts) + " MIME parts");
      return;
    }
    if (GMIME_IS_MULTIPART(obj)) {
      multipart(obj, depth);
    } else if (GMIME_IS_MESSAGE_PART(obj)) {
      GMimeMessage* m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
      if (m) walk(g_mime_message_get_mime_part(m), depth + 1);
    } else if (GMIME_IS_PART(obj)) {
      leaf(GMIME_PART(obj), depth);
    }
  }

  // The duplicate-boundary trick: parsers disagree on which one counts.
  void multipart(GMimeObject* obj, unsigned depth) {
    int boundaries = boundary_params(obj);
    if (boundaries == 0 || !g_mime_multipart_get_boundary(GMIME_MULTIPART(obj))) {
      w.unchecked("multipart without a boundary parameter");
      return;
    }
    if (boundaries > 1) {
      w.unchecked("multipart with " + std::to_string(boundaries) + " boundary parameters");
      return;
    }
    auto* mp = GMIME_MULTIPART(obj);
    int n = g_mime_multipart_get_count(mp);
    for (int i = 0; i < n && !w.stop; ++i) walk(g_mime_multipart_get_part(mp, i), depth + 1);
  }

  void leaf(GMimePart* part, unsigned depth) {
    PartInfo info;
    info.depth = depth;
    info.declared_type = declared_type(part);
    if (const char* fn = g_mime_part_get_filename(part)) info.name = fn;
    info.path.push_back(info.name);
    w.quota_where = display(info.path);
    Sink sink(w);
    bool whole = read_content(part, sink, info.size);
    record(w, std::move(info), sink, whole, depth);
  }
};

// A stream on the message's bytes; null when the spool cannot be read.
GPtr<GMimeStream> open_stream(const MessageStore& message) {
  GPtr<GMimeStream> stream;
  if (message.spooled()) {
    int fd = ::dup(message.spool_fd());
    if (fd < 0) return stream;
    // Bounds from 0: the spool fd's offset is at its end after writing.
    stream.reset(g_mime_stream_fs_new_with_bounds(fd, 0, -1));  // owns fd
  } else {
    auto mem = message.in_memory();
    stream.reset(g_mime_stream_mem_new_with_buffer(mem.data(), mem.size()));
  }
  return stream;
}

void unreadable(DecodeResult& out, const char* reason) {
  out.findings.push_back({conf::Category::Unchecked, reason, "decode"});
  out.complete = false;
}

}  // namespace

void walk_message(const MessageStore& message, const conf::DecodeConfig& cfg,
                  std::optional<std::chrono::steady_clock::time_point> stop_at, DecodeResult& out) {
  gmime_once();
  GPtr<GMimeStream> stream = open_stream(message);
  if (!stream) return unreadable(out, "decode: cannot read the spool file");
  GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  GPtr<GMimeMessage> msg(g_mime_parser_construct_message(parser.get(), nullptr));
  if (!msg) return unreadable(out, "decode: not a parsable message");
  TempDir tmp(cfg.temp_dir);  // removed at the end of this function, whatever happens
  WalkState w{.cfg = cfg, .out = out, .tmp = tmp, .quota = expansion_quota(cfg, message.size()),
              .stop_at = stop_at};
  MimeWalk{w}.walk(g_mime_message_get_mime_part(msg.get()), 0);
}

}  // namespace sigil::filter::decode
