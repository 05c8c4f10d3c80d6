// The parameter values of a Bind or FunctionCall as the audit record shows them: a JSON array of
// strings, with the session's value masks applied (the audit never holds what a mask hides in
// results, SPEC section 9) and binary values as \x hex. Here rather than in wire/ because the
// masks come from the rules.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/wire/frontend.h"
#include "rules/rules.h"

namespace pgw {

// The values of a Bind or the arguments of a FunctionCall as the audit's JSON array (empty when
// there are none), with `masks` (nullptr for none) applied.
std::string parameters_json(const ParameterValues& values, const rules::SessionMasks* masks);

}  // namespace pgw
