// filter/stages/registry.cpp — see registry.hpp.
#include "filter/stages/registry.hpp"

#include <algorithm>
#include <stdexcept>
#include <thread>

#include "dns/resolver.hpp"
#include "filter/core/log.hpp"
#include "filter/stages/av_stage.hpp"
#include "filter/stages/crypto_pool.hpp"
#include "filter/stages/dns_metrics.hpp"
#include "filter/stages/decode/decode_stage.hpp"
#include "filter/stages/dkim_sign_stage.hpp"
#include "filter/stages/dkim_verify_stage.hpp"
#include "filter/stages/spam_stage.hpp"

namespace sigil::filter {

const StageFactory& builtin_stages() {
  static const StageFactory f = {
      // Sockets come from the executor the stage runs on (this_coro), so
      // the av stage needs nothing from Components and builds no client
      // until a message is scanned.
      {"av",
       [](const conf::Config& cfg, Components&) -> std::shared_ptr<Stage> {
         if (cfg.av.scanners.empty())
           throw std::runtime_error("the av stage needs [av] scanners");
         return std::make_shared<AvStage>(cfg.av);
       }},
      {"decode",
       [](const conf::Config& cfg, Components&) -> std::shared_ptr<Stage> {
         // Every banned rule set is compiled here, once (the policy picks
         // one per message); temp_dir defaults to the spool directory.
         conf::DecodeConfig d = cfg.decode;
         if (d.temp_dir.empty()) d.temp_dir = cfg.daemon.spool_dir;
         return std::make_shared<DecodeStage>(std::move(d), compile_banned(cfg.banned));
       }},
      {"dkim-sign",
       [](const conf::Config& cfg, Components& c) -> std::shared_ptr<Stage> {
         std::shared_ptr<const keys::SigningTable> table;
         if (c.load_keys) {
           // Components holds shared_ptr<void>; the table stays immutable.
           table = c.get_or_create<keys::SigningTable>(
               "signing-table", [&]() -> std::shared_ptr<keys::SigningTable> {
                 auto t = keys::SigningTable::load(cfg);
                 if (!t) throw std::runtime_error(t.error().message);
                 return std::const_pointer_cast<keys::SigningTable>(*t);
               });
           for (const auto& w : table->warnings()) log::main().warn("dkim-sign: {}", w);
         }
         return std::make_shared<DkimSignStage>(std::move(table), crypto_threads(cfg));
       }},
      {"dkim-verify",
       [](const conf::Config& cfg, Components& c) -> std::shared_ptr<Stage> {
         auto lib = c.get_or_create<dkim::VerifierLib>(
             "dkim-verifier", [&]() -> std::shared_ptr<dkim::VerifierLib> {
               dkim::VerifyOptions o;
               o.max_signatures = cfg.verify.max_signatures;
               o.min_key_bits = cfg.verify.min_key_bits;
               o.accept_partial_body = cfg.verify.accept_partial_body;
               o.clock_drift = cfg.verify.clock_drift;
               auto l = dkim::VerifierLib::create(o);
               if (!l) throw std::runtime_error(l.error().message);
               return std::const_pointer_cast<dkim::VerifierLib>(*l);
             });
         std::shared_ptr<dns::Resolver> resolver;
         if (c.executor)
           resolver = c.get_or_create<dns::Resolver>("resolver", [&] {
             auto r = std::make_shared<dns::Resolver>(*c.executor, cfg.dns);
             r->set_observer(dns_metrics_observer());
             return r;
           });
         return std::make_shared<DkimVerifyStage>(std::move(lib), std::move(resolver), cfg.verify,
                                                  cfg.whitelist, crypto_threads(cfg));
       }},
      // Like av: sockets come from the executor the stage runs on, so
      // nothing is built until a message is scanned.
      {"spam",
       [](const conf::Config& cfg, Components&) -> std::shared_ptr<Stage> {
         if (cfg.spam.scanners.empty())
           throw std::runtime_error("the spam stage needs [spam] scanners");
         return std::make_shared<SpamStage>(cfg.spam);
       }},
  };
  return f;
}

}  // namespace sigil::filter
