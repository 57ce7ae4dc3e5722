#include "dkim/module.hpp"
namespace sigil::dkim {
std::string_view module_name() noexcept { return "dkim"; }
}  // namespace sigil::dkim
