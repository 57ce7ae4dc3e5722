// filter/decode_stage.cpp — see decode_stage.hpp.
#include "filter/decode_stage.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <memory>
#include <mutex>
#include <string_view>

#include <gmime/gmime.h>
#include <magic.h>

namespace sigil::filter {

namespace {

constexpr std::size_t kMagicBytes = 64 * 1024;
constexpr std::size_t kNamesShown = 20;
constexpr std::size_t kNameMax = 200;

void gmime_once() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

// One libmagic handle per thread, loaded once (magic_t is not thread safe).
struct Magic {
  magic_t m = nullptr;
  bool ok = false;
  Magic() {
    m = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR);
    if (m && magic_load(m, nullptr) == 0) ok = true;
  }
  ~Magic() {
    if (m) magic_close(m);
  }
  Magic(const Magic&) = delete;
  Magic& operator=(const Magic&) = delete;
};

std::string detect(std::string_view bytes) {
  thread_local Magic magic;
  if (!magic.ok) return "";
  const char* r = magic_buffer(magic.m, bytes.data(), bytes.size());
  return r ? std::string(r) : std::string();
}

template <typename T>
struct GUnref {
  void operator()(T* p) const {
    if (p) g_object_unref(p);
  }
};
template <typename T>
using GPtr = std::unique_ptr<T, GUnref<T>>;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// For the note: no control bytes, no quotes, bounded.
std::string shown(std::string_view s) {
  std::string o(s.substr(0, kNameMax));
  for (auto& c : o)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '"' || c == '\\') c = '?';
  if (s.size() > kNameMax) o += "...";
  return o;
}

struct Walker {
  const conf::DecodeConfig& cfg;
  DecodeResult& out;
  std::size_t entities = 0;
  bool stop = false;

  void unchecked(std::string reason) {
    out.findings.push_back({conf::Category::Unchecked, std::move(reason), "decode"});
    out.complete = false;
    stop = true;
  }

  void walk(GMimeObject* obj, unsigned depth) {
    if (stop || !obj) return;
    if (depth > cfg.max_depth) {
      unchecked("MIME nesting deeper than " + std::to_string(cfg.max_depth));
      return;
    }
    if (++entities > cfg.max_parts) {
      unchecked("more than " + std::to_string(cfg.max_parts) + " MIME parts");
      return;
    }
    if (GMIME_IS_MULTIPART(obj)) {
      // The duplicate-boundary trick: parsers disagree on which one counts.
      int boundaries = 0;
      if (GMimeContentType* ct = g_mime_object_get_content_type(obj))
        if (GMimeParamList* pl = g_mime_content_type_get_parameters(ct)) {
          int n = g_mime_param_list_length(pl);
          for (int i = 0; i < n; ++i) {
            const char* name = g_mime_param_get_name(g_mime_param_list_get_parameter_at(pl, i));
            if (name && iequals(name, "boundary")) ++boundaries;
          }
        }
      if (boundaries == 0 || !g_mime_multipart_get_boundary(GMIME_MULTIPART(obj))) {
        unchecked("multipart without a boundary parameter");
        return;
      }
      if (boundaries > 1) {
        unchecked("multipart with " + std::to_string(boundaries) + " boundary parameters");
        return;
      }
      auto* mp = GMIME_MULTIPART(obj);
      int n = g_mime_multipart_get_count(mp);
      for (int i = 0; i < n && !stop; ++i) walk(g_mime_multipart_get_part(mp, i), depth + 1);
      return;
    }
    if (GMIME_IS_MESSAGE_PART(obj)) {
      GMimeMessage* m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
      if (m) walk(g_mime_message_get_mime_part(m), depth + 1);
      return;
    }
    if (GMIME_IS_PART(obj)) leaf(GMIME_PART(obj), depth);
  }

  void leaf(GMimePart* part, unsigned depth) {
    PartInfo info;
    info.depth = depth;
    if (GMimeContentType* ct = g_mime_object_get_content_type(GMIME_OBJECT(part))) {
      char* t = g_mime_content_type_get_mime_type(ct);
      if (t) {
        info.declared_type = t;
        g_free(t);
      }
      for (auto& c : info.declared_type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (const char* fn = g_mime_part_get_filename(part)) info.name = fn;

    if (GMimeDataWrapper* w = g_mime_part_get_content(part)) {
      GMimeStream* raw = g_mime_data_wrapper_get_stream(w);
      if (raw) {
        g_mime_stream_reset(raw);
        GPtr<GMimeStream> filtered(g_mime_stream_filter_new(raw));
        auto enc = g_mime_data_wrapper_get_encoding(w);
        if (enc == GMIME_CONTENT_ENCODING_BASE64 || enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
            enc == GMIME_CONTENT_ENCODING_UUENCODE) {
          GPtr<GMimeFilter> f(g_mime_filter_basic_new(enc, FALSE));
          if (f) g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered.get()), f.get());
        }
        std::string head;
        std::array<char, 16384> buf;
        for (;;) {
          ssize_t n = g_mime_stream_read(filtered.get(), buf.data(), buf.size());
          if (n <= 0) break;
          info.size += static_cast<std::uint64_t>(n);
          if (head.size() < kMagicBytes)
            head.append(buf.data(), std::min<std::size_t>(static_cast<std::size_t>(n),
                                                          kMagicBytes - head.size()));
        }
        info.detected_type = detect(head);
      }
    }
    out.parts.push_back(std::move(info));
  }
};

void header_checks(const MessageStore& message, const Envelope& env, DecodeResult& out) {
  const HeaderIndex& h = message.headers();
  auto bad = [&](std::string reason) {
    out.findings.push_back({conf::Category::BadHeader, std::move(reason), "decode"});
  };
  if (!env.smtputf8) {
    const std::string& b = h.block();
    if (std::any_of(b.begin(), b.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; }))
      bad("8-bit bytes in the header without SMTPUTF8");
  }
  std::size_t from = 0, date = 0, subject = 0;
  for (const auto& f : h.fields()) {
    auto n = h.name(f);
    while (!n.empty() && (n.back() == ' ' || n.back() == '\t')) n.remove_suffix(1);
    if (iequals(n, "From")) ++from;
    else if (iequals(n, "Date")) ++date;
    else if (iequals(n, "Subject")) ++subject;
  }
  if (from == 0) bad("missing From");
  if (from > 1) bad("duplicate From");
  if (date > 1) bad("duplicate Date");
  if (subject > 1) bad("duplicate Subject");
}

std::string make_note(const DecodeResult& r) {
  std::string s = std::to_string(r.parts.size()) + (r.parts.size() == 1 ? " part" : " parts");
  std::vector<std::string> names;
  for (const auto& p : r.parts)
    if (!p.name.empty()) names.push_back(shown(p.name));
  if (!names.empty()) {
    s += "; names: ";
    for (std::size_t i = 0; i < names.size() && i < kNamesShown; ++i) {
      if (i) s += ", ";
      s += names[i];
    }
    if (names.size() > kNamesShown) s += ", ... (" + std::to_string(names.size()) + " names)";
  }
  if (!r.complete) s += "; incomplete";
  return s;
}

}  // namespace

DecodeResult decode_message(const MessageStore& message, const Envelope& envelope,
                            const conf::DecodeConfig& cfg) {
  gmime_once();
  DecodeResult out;
  header_checks(message, envelope, out);

  GPtr<GMimeStream> stream;
  if (message.spooled()) {
    int fd = ::dup(message.spool_fd());
    if (fd < 0) {
      out.findings.push_back({conf::Category::Unchecked, "decode: cannot read the spool file", "decode"});
      out.complete = false;
      out.note = make_note(out);
      return out;
    }
    // Bounds from 0: the spool fd's offset is at its end after writing.
    stream.reset(g_mime_stream_fs_new_with_bounds(fd, 0, -1));  // owns fd
  } else {
    auto mem = message.in_memory();
    stream.reset(g_mime_stream_mem_new_with_buffer(mem.data(), mem.size()));
  }
  GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  GPtr<GMimeMessage> msg(g_mime_parser_construct_message(parser.get(), nullptr));
  if (!msg) {
    out.findings.push_back({conf::Category::Unchecked, "decode: not a parsable message", "decode"});
    out.complete = false;
  } else {
    Walker w{cfg, out};
    w.walk(g_mime_message_get_mime_part(msg.get()), 0);
  }
  out.note = make_note(out);
  return out;
}

DecodeStage::DecodeStage(conf::DecodeConfig cfg) : cfg_(cfg) {}

boost::asio::awaitable<Verdict> DecodeStage::run(MessageContext& ctx) {
  DecodeResult r = decode_message(ctx.message, ctx.envelope, cfg_);
  for (auto& f : r.findings) ctx.findings.push_back(std::move(f));
  ctx.notes.emplace_back("decode", r.note);
  co_return Verdict{};
}

}  // namespace sigil::filter
