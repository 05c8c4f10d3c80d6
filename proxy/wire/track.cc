#include "proxy/wire/track.h"

#include <algorithm>
#include <charconv>
#include <chrono>

namespace pgw {

namespace {

bool is_async(char type) { return type == 'N' || type == 'A' || type == 'S'; }

void finish(Expect& e, int64_t now_us, std::optional<int64_t> rows, std::string sqlstate, std::string error,
            std::vector<Finished>* done) {
  if (e.next >= e.seqs.size()) return;
  Finished f;
  f.seq = e.seqs[e.next++];
  f.rows = rows;
  f.sqlstate = std::move(sqlstate);
  f.error = std::move(error);
  f.duration_us = now_us - e.started_us;
  done->push_back(std::move(f));
}

// Statements of a Query that never ran because an earlier one failed.
void finish_rest(Expect& e, int64_t now_us, std::vector<Finished>* done) {
  while (e.next < e.seqs.size())
    finish(e, now_us, std::nullopt, "", "not executed: an earlier statement in the same query failed", done);
}

bool has(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// After an error in the extended protocol the server skips everything up to the next Sync; the
// requests already on their way in that range are settled here, pgwarden's own ones handed to
// the session.
void skip_to_sync(Tracker& t, const Expect& failed, std::string_view sqlstate, std::string_view message,
                  int64_t now_us, std::vector<Finished>* done) {
  ++t.skips;
  t.cause = SkipCause{};
  t.cause.sqlstate = sqlstate;
  t.cause.message = message;
  if (failed.request == 'P' || (failed.request == 'D' && !failed.portal)) t.cause.statements.push_back(failed.statement);
  if ((failed.request == 'B' || failed.request == 'D') && failed.portal) t.cause.portals.push_back(*failed.portal);
  while (!t.pending.empty() && t.pending.front().request != 'S') {
    Expect& e = t.pending.front();
    t.skip(e, now_us, done);
    if (e.internal) t.skipped_internal.push_back(std::move(e));
    t.pending.pop_front();
  }
  if (t.pending.empty()) t.skipping = true;
}

// The COPY FROM STDIN at the front of the queue ended: the Syncs sent after it and before the
// client's CopyDone or CopyFail were read as part of it, and will get no ReadyForQuery. A later
// COPY of the same query ends at the client's next CopyDone or CopyFail.
void drop_ignored_syncs(Tracker& t) {
  Expect& copy = t.pending.front();
  copy.copy_in = false;
  uint64_t mark = copy.copy_ends_before++;
  auto ignored = [mark](const Expect& e) { return e.request == 'S' && e.copy_ends_before == mark; };
  size_t before = t.pending.size();
  t.pending.erase(std::remove_if(std::next(t.pending.begin()), t.pending.end(), ignored), t.pending.end());
  t.ignored_syncs += static_cast<int>(before - t.pending.size());
}

}  // namespace

void Tracker::skip(Expect& e, int64_t now_us, std::vector<Finished>* done) {
  // A later Parse or Bind of the same name means another statement or portal, skipped as well.
  if (e.request == 'P') std::erase(cause.statements, e.statement);
  if (e.request == 'B' && e.portal) {
    std::erase(cause.portals, *e.portal);
    if (has(cause.statements, e.statement)) cause.portals.push_back(*e.portal);
  }
  if (e.request == 'E' && e.portal && has(cause.portals, *e.portal))
    finish(e, now_us, std::nullopt, cause.sqlstate, cause.message, done);
  while (e.next < e.seqs.size()) finish(e, now_us, std::nullopt, "", kSkippedToSync, done);
}

void Tracker::expect(Expect e) {
  e.copy_ends_before = copy_ends;
  if (e.request == 'S') {
    skipping = false;
    cause = SkipCause{};
  }
  pending.push_back(std::move(e));
}

void Tracker::abandon(std::string_view sqlstate, std::string_view why, int64_t now_us, std::vector<Finished>* done) {
  for (Expect& e : pending) {
    while (e.next < e.seqs.size()) finish(e, now_us, std::nullopt, std::string(sqlstate), std::string(why), done);
  }
  pending.clear();
}

void Tracker::skip_after_refusal() {
  skipping = true;
  cause = SkipCause{};
}

int64_t monotonic_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::optional<int64_t> rows_from_tag(std::string_view tag) {
  size_t sp = tag.rfind(' ');
  if (sp == std::string_view::npos) return std::nullopt;
  std::string_view num = tag.substr(sp + 1);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
  if (ec != std::errc() || p != num.data() + num.size()) return std::nullopt;
  return v;
}

Verdict Tracker::on_internal(const Message& m, int64_t now_us, std::vector<Finished>* done) {
  Expect& e = pending.front();
  if (m.type == 'E' && e.request != 'Q') {
    auto fields = parse_error_fields(m.body);
    Expect failed = std::move(e);
    pending.pop_front();
    skip_to_sync(*this, failed, error_field(fields, 'C'), error_field(fields, 'M'), now_us, done);
    return Verdict::relay;
  }
  if (m.type == 'Z' || (e.request == 'D' && (m.type == 'T' || m.type == 'n'))) pending.pop_front();
  return Verdict::drop;
}

Verdict Tracker::on_server(const Message& m, int64_t now_us, std::string* replacement, std::vector<Finished>* done) {
  if (pending.empty() || is_async(m.type)) return Verdict::relay;
  if ((m.type == 'C' || m.type == 'E') && pending.front().copy_in) drop_ignored_syncs(*this);
  Expect& e = pending.front();
  if (e.internal) return on_internal(m, now_us, done);
  Verdict verdict = e.injected ? Verdict::drop : Verdict::relay;
  switch (m.type) {
    case 'E': {
      auto fields = parse_error_fields(m.body);
      finish(e, now_us, std::nullopt, std::string(error_field(fields, 'C')), std::string(error_field(fields, 'M')),
             done);
      if (e.injected) {
        *replacement = e.error;
        verdict = Verdict::replace;
      }
      if (e.request == 'Q' || e.request == 'F') {
        finish_rest(e, now_us, done);
      } else if (e.request != 'S') {
        Expect failed = std::move(e);
        pending.pop_front();
        skip_to_sync(*this, failed, error_field(fields, 'C'), error_field(fields, 'M'), now_us, done);
      }
      return verdict;
    }
    case 'Z':
      // ReadyForQuery always answers the client's own Query, FunctionCall or Sync (an injected
      // Query stands in for the client's), so it is always relayed.
      if (e.request == 'Q' || e.request == 'F' || e.request == 'S') {
        finish_rest(e, now_us, done);
        pending.pop_front();
      }
      return Verdict::relay;
    case 'C':
      finish(e, now_us, rows_from_tag(std::string_view(m.body.data(), m.body.empty() ? 0 : m.body.size() - 1)), "",
             "", done);
      if (e.request == 'E') pending.pop_front();
      return verdict;
    case 'I':
      finish(e, now_us, std::nullopt, "", "", done);
      if (e.request == 'E') pending.pop_front();
      return verdict;
    case 's':
      finish(e, now_us, std::nullopt, "", "", done);
      pending.pop_front();
      return verdict;
    case '1':
    case '2':
    case '3':
      if (e.request == 'P' || e.request == 'B' || e.request == 'C') pending.pop_front();
      return verdict;
    case 'T':
    case 'n':
      if (e.request == 'D') pending.pop_front();
      return verdict;
    case 'G':
      e.copy_in = true;
      return verdict;
    default:
      return verdict;
  }
}

}  // namespace pgw
