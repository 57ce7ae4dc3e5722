// filter/delivery/maildir_backend.hpp — the maildir back-end: each message
// written to DIR/tmp, fsynced, renamed into DIR/new (maildir(5)), with
// Return-Path and X-Original-To first and LF line ends, as Postfix's local(8)
// writes them.
//
// Does not: deliver per recipient (one copy for the whole envelope), or write
// off the event loop: it is for first runs and demos; production uses an MTA
// back-end (backend.hpp).
#pragma once

#include <memory>
#include <string>

#include "filter/delivery/backend.hpp"

namespace sigil::filter {

// A back-end writing into the maildir `dir` (created with its parents, 0700,
// on the first delivery); `host` ends each file name.
std::shared_ptr<Backend> make_maildir_backend(std::string dir, std::string host);

}  // namespace sigil::filter
