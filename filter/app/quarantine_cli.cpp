// filter/app/quarantine_cli.cpp — `sigil quarantine list|show|release`.
//
//   sigil quarantine list CONFIG
//       one line per quarantined message in CONFIG's [quarantine] dir, oldest
//       first: id, time, size, category, sender and recipients.
//   sigil quarantine show CONFIG ID [--message]
//       the metadata; with --message, the stored message as received.
//   sigil quarantine release CONFIG ID [--to ADDR ...]
//       sends the message to CONFIG's [forward] target with its original
//       envelope (sender, MAIL and RCPT parameters, SMTPUTF8 and 8BITMIME),
//       or to the --to recipients only, with "X-Quarantine-ID: <ID>" on top
//       and the header edits the pipeline made when it was received (its
//       Authentication-Results added, a forged one claiming our authserv-id
//       removed, its signature: quarantine.hpp), as a passed copy is sent.
//       The pipeline does not run again (no re-scan, no new signature; a file
//       written before Sigil recorded the edits is sent as stored).  Prints
//       the back-end's reply for each recipient; exit 0 only when all were
//       accepted.  The file stays in the quarantine.
#include <iostream>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "conf/config.hpp"
#include "filter/app/help.hpp"
#include "filter/core/message_store.hpp"
#include "filter/core/quarantine.hpp"
#include "filter/delivery/backend.hpp"

namespace sigil::filter {

namespace {

// The synopsis of `sigil quarantine SUB` (help.cpp); exit status 2.
int usage(std::string_view sub) { return sigil_usage_error("quarantine", sub); }

std::string recipients_text(const Envelope& e) {
  std::string o;
  for (auto& r : e.recipients) o += (o.empty() ? "<" : ", <") + r.address + ">";
  return o;
}

boost::asio::awaitable<DeliveryResult> deliver_one(std::shared_ptr<Backend> backend,
                                                   const DeliveryRequest* req) {
  DeliveryResult r = co_await backend->deliver(*req);
  backend->close_idle();  // else the cached connection keeps io.run() going
  co_return r;
}

int release(const conf::Config& cfg, const quarantine::Entry& e, const std::string& message,
            const std::vector<std::string>& to) {
  Envelope env = e.envelope;
  if (!to.empty()) {
    env.recipients.clear();
    for (auto& a : to) env.recipients.push_back(Recipient{a, {}});
  }
  if (env.recipients.empty()) {
    std::cerr << "sigil quarantine release: " << e.id << " has no recipients; give --to\n";
    return 1;
  }
  MessageStore store(cfg.daemon.memory_threshold, cfg.daemon.spool_dir, cfg.smtp.max_header_size);
  auto st = store.append(message);
  if (st) st = store.finish();
  if (!st) {
    std::cerr << "sigil quarantine release: " << st.error().message << "\n";
    return 1;
  }
  HeaderEdits edits = e.edits;  // as a passed copy would have been sent (quarantine.hpp)
  edits.prepend.insert(edits.prepend.begin(), "X-Quarantine-ID: <" + e.id + ">\r\n");
  std::string log_id = "release-" + e.id;
  DeliveryRequest req{env, store, edits, log_id, true, std::nullopt};
  boost::asio::io_context io;
  auto backend = make_backend(io.get_executor(), cfg.forward, cfg.smtp.hostname);
  auto fut = boost::asio::co_spawn(io, deliver_one(backend, &req), boost::asio::use_future);
  io.run();
  DeliveryResult r;
  try {
    r = fut.get();
  } catch (const std::exception& x) {
    std::cerr << "sigil quarantine release: " << x.what() << "\n";
    return 1;
  }
  std::size_t good = 0;
  for (std::size_t i = 0; i < env.recipients.size() && i < r.rcpt.size(); ++i) {
    bool ok = r.rcpt[i].positive();
    good += ok;
    std::cout << e.id << " <" << env.recipients[i].address << ">: "
              << (ok ? "released" : "NOT released") << " (" << cfg.forward.target.text
              << " said: " << r.rcpt[i].summary() << ")\n";
  }
  return good == env.recipients.size() ? 0 : 1;
}

}  // namespace

int quarantine_cli(int argc, char** argv) {
  std::string sub = argc >= 3 ? argv[2] : "";
  if (argc < 4) return usage(sub);
  auto cfg = conf::load_file(argv[3]);
  if (!cfg) {
    std::cerr << cfg.error().message << "\n";
    return 1;
  }
  const std::string& dir = cfg->quarantine.dir;
  if (sub == "list") {
    if (argc != 4) return usage(sub);
    auto entries = quarantine::list(dir);
    if (!entries) {
      std::cerr << "sigil quarantine list: " << entries.error().message << "\n";
      return 1;
    }
    for (auto& e : *entries)
      std::cout << e.id << "  " << e.time << "  " << e.size << " bytes  " << e.category
                << "  from <" << e.envelope.sender << "> to " << recipients_text(e.envelope) << "\n";
    std::cerr << entries->size() << " message(s) in " << dir << "\n";
    return 0;
  }
  if (argc < 5) return usage(sub);
  std::string id = argv[4];
  if (sub == "show") {
    bool with_message = argc == 6 && std::string(argv[5]) == "--message";
    if (argc != 5 && !with_message) return usage(sub);
    std::string message;
    auto e = quarantine::read(dir, id, with_message ? &message : nullptr);
    if (!e) {
      std::cerr << "sigil quarantine show: " << e.error().message << "\n";
      return 1;
    }
    std::cout << "Id: " << e->id << "\nFile: " << e->path << "\nTime: " << e->time
              << "\nLog-Id: " << e->log_id << "\nCategory: " << e->category
              << "\nClient: " << e->client << "\nFrom: <" << e->envelope.sender << ">\nTo: "
              << recipients_text(e->envelope) << "\nSize: " << e->size << "\n";
    if (with_message) std::cout << "\n" << message;
    return 0;
  }
  if (sub == "release") {
    std::vector<std::string> to;
    for (int i = 5; i < argc; ++i) {
      if (std::string(argv[i]) != "--to" || i + 1 >= argc) return usage(sub);
      to.push_back(argv[++i]);
    }
    std::string message;
    auto e = quarantine::read(dir, id, &message);
    if (!e) {
      std::cerr << "sigil quarantine release: " << e.error().message << "\n";
      return 1;
    }
    return release(*cfg, *e, message, to);
  }
  return usage(sub);
}

}  // namespace sigil::filter
