// The parameter values of a Bind or FunctionCall as the audit record shows them: a JSON array of
// strings, with the session's value masks applied (the audit never holds what a mask hides in
// results, SPEC section 9) and binary values as \x hex. Here rather than in wire/ because the
// masks come from the rules.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "rules/rules.h"

namespace pgw {

// The values of a Bind message body as the audit's JSON array (empty when there are none), with
// `masks` (nullptr for none) applied; the portal and statement it names go to `portal` and
// `statement`.
std::string bind_parameters_json(std::string_view bind_body, const rules::SessionMasks* masks, std::string* portal,
                                 std::string* statement);
// The arguments of a FunctionCall message body as the audit's JSON array (as for Bind), and the
// OID of the function it calls.
std::string function_call_arguments(std::string_view body, const rules::SessionMasks* masks, uint32_t* oid);

}  // namespace pgw
