// filter/stages/boost_json.cpp — Boost.JSON's implementation, compiled once here
// (Debian's libboost1.81-dev ships the headers, no libboost_json): the other
// files include <boost/json.hpp> and link against this.  The spam stage
// parses rspamd's replies with it.
#include <boost/json/src.hpp>
