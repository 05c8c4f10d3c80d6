// The prepared statements and portals of the extended protocol as pgwarden mirrors them, so that
// an Execute is judged and recorded by what the server will really run. Two views:
//   confirmed: what the server holds, changed only when it acknowledges a Parse, Bind or Close;
//   expected:  what it will hold once the requests on their way succeed, which judges an Execute
//              sent now (a client pipelines Parse, Bind and Execute without waiting).
// After an error the server skips the rest of the pipeline up to Sync, so `expected` is rebuilt
// from `confirmed` and the changes still on their way. A name pgwarden does not know is one the
// server does not hold either, or one it holds only as pgwarden's own stand-in statement.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <unordered_map>

#include "proxy/judge/judge.h"
#include "proxy/wire/track.h"

namespace pgw {

// A portal made by Bind: the statement it runs (nullptr when pgwarden does not know it), with
// which parameter values (as the audit shows them, parameters.h).
struct Portal {
  std::shared_ptr<const Prepared> statement;
  std::string parameters;  // JSON array of strings
};

struct ProtocolObjects {
  std::unordered_map<std::string, std::shared_ptr<const Prepared>> statements;
  std::unordered_map<std::string, std::shared_ptr<const Portal>> portals;
};

struct MirroredObjects {
  ProtocolObjects confirmed;
  ProtocolObjects expected;
};

// Applies what the request `e` (a Parse, Bind or Close of the client's, or pgwarden's stand-in
// Parse and Bind) makes or removes.
void apply_change(ProtocolObjects& objects, const Expect& e);
// A reply of the server to the request `e`: ParseComplete, BindComplete and CloseComplete confirm
// its change.
void confirm_change(MirroredObjects& m, const Expect& e, char reply_type);
// `expected` becomes `confirmed` with the changes of the requests still on their way.
void rebuild_expected(MirroredObjects& m, const std::deque<Expect>& pending);

}  // namespace pgw
