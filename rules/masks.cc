// Masks for one session: column masks looked up by source column, value masks applied with
// RE2 to every text value.
//
// Value masks apply in file order. A mask applies to a value when its pattern matches the
// value as it came from the server (one RE2::Set match over all patterns decides which; a value
// no pattern matches costs only that). An applying mask replaces its matches in the parts of
// the value that no earlier mask replaced; text an earlier mask wrote is never scanned again.
// Those parts are matched in place, with the original value around them as context, so `\b`, `^`
// and `$` see what the server sent and not the edge of an earlier replacement.
// Empty matches replace nothing.
#include <re2/set.h>

#include <algorithm>
#include <numeric>

#include "rules/match.h"
#include "rules/ruleset.h"

namespace pgw::rules {

// The value and column masks selecting one session, in file order.
struct SessionMasks {
  struct ValueMask {
    std::string name;
    std::shared_ptr<const RE2> pattern;
    std::string replace;
    int groups = 1;  // submatches the rewrite needs, \0 included
  };
  struct ColumnMask {
    std::vector<QualifiedGlob> columns;
    MaskedColumn column;
  };
  std::vector<ValueMask> values;
  // All value patterns (index i is values[i]); nullptr if it could not be compiled.
  std::unique_ptr<RE2::Set> any_value;
  std::vector<ColumnMask> columns;
};

namespace {

constexpr int kMaxGroups = 10;  // \0 to \9

// A stretch of the value being masked: either original text, [begin, end) of the value, or
// text a mask wrote.
struct Piece {
  size_t begin = 0;
  size_t end = 0;
  bool masked = false;
  std::string text;  // masked pieces only
};

// Bytes in the UTF-8 sequence that starts with `lead` (1 for a stray byte).
size_t rune_length(unsigned char lead) {
  if (lead >= 0xf0) return 4;
  if (lead >= 0xe0) return 3;
  if (lead >= 0xc0) return 2;
  return 1;
}

// Replaces the matches of one mask inside one original piece of `value`, matching with the whole
// value as context; appends the resulting pieces to `out`.
bool replace_in(const SessionMasks::ValueMask& mask, re2::StringPiece value, const Piece& piece,
                std::vector<Piece>* out) {
  re2::StringPiece groups[kMaxGroups];
  size_t pos = piece.begin;
  size_t copied = piece.begin;
  bool any = false;
  while (pos <= piece.end &&
         mask.pattern->Match(value, pos, piece.end, RE2::UNANCHORED, groups, mask.groups)) {
    size_t begin = static_cast<size_t>(groups[0].data() - value.data());
    size_t end = begin + groups[0].size();
    if (end == begin) {
      if (begin >= piece.end) break;
      pos = begin + rune_length(static_cast<unsigned char>(value[begin]));
      continue;
    }
    if (begin > copied) out->push_back({copied, begin, false, {}});
    Piece replaced{begin, end, true, {}};
    mask.pattern->Rewrite(&replaced.text, mask.replace, groups, mask.groups);
    out->push_back(std::move(replaced));
    copied = pos = end;
    any = true;
  }
  if (copied < piece.end) out->push_back({copied, piece.end, false, {}});
  return any;
}

// Indices of the value masks whose pattern matches `value`, in file order.
const std::vector<int>& matching_masks(const SessionMasks& masks, std::string_view value) {
  thread_local std::vector<int> hits;
  hits.clear();
  RE2::Set::ErrorInfo info{RE2::Set::kNoError};
  if (!masks.any_value || !masks.any_value->Match(value, &hits, &info)) {
    // No set, or the DFA ran out of memory: try every mask rather than send a value unmasked.
    if (!masks.any_value || info.kind != RE2::Set::kNoError) {
      hits.resize(masks.values.size());
      std::iota(hits.begin(), hits.end(), 0);
    }
    return hits;
  }
  std::sort(hits.begin(), hits.end());
  return hits;
}

void add_value_mask(const Mask& mask, SessionMasks* out) {
  SessionMasks::ValueMask v;
  v.name = mask.name;
  v.pattern = mask.pattern;
  v.replace = mask.replace;
  v.groups = 1 + std::max(0, RE2::MaxSubmatch(mask.replace));
  out->any_value->Add(mask.pattern->pattern(), nullptr);
  out->values.push_back(std::move(v));
}

// A glob as a LIKE pattern: its literal pieces, escaped, joined by '%'.
std::string like_pattern(const Glob& glob) {
  std::string out;
  for (size_t i = 0; i < glob.pieces.size(); ++i) {
    if (i) out.push_back('%');
    for (char c : glob.pieces[i]) {
      if (c == '%' || c == '_' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

SessionMasksPtr masks_for(const RuleSet& set, const Context& ctx) {
  Subject subject(ctx, nullptr, "");
  auto out = std::make_shared<SessionMasks>();
  out->any_value = std::make_unique<RE2::Set>(regex_options(), RE2::UNANCHORED);
  for (const Mask& mask : set.masks) {
    if (!session_matches(mask.session, subject)) continue;
    if (mask.pattern) add_value_mask(mask, out.get());
    if (!mask.columns.empty()) out->columns.push_back({mask.columns, {mask.name, mask.replace}});
  }
  if (out->values.empty() && out->columns.empty()) return nullptr;
  if (!out->values.empty() && !out->any_value->Compile()) out->any_value.reset();
  return out;
}

const MaskedColumn* column_mask(const SessionMasks& masks, std::string_view qualified_column) {
  for (const SessionMasks::ColumnMask& m : masks.columns) {
    if (any_qualified_match(m.columns, qualified_column)) return &m.column;
  }
  return nullptr;
}

const MaskedColumn* any_column_mask(const SessionMasks& masks) {
  return masks.columns.empty() ? nullptr : &masks.columns.front().column;
}

bool table_has_column_mask(const SessionMasks& masks, std::string_view qualified_table) {
  size_t dot = qualified_table.find('.');
  std::string_view schema = dot == std::string_view::npos ? "*" : qualified_table.substr(0, dot);
  std::string_view table = dot == std::string_view::npos ? qualified_table : qualified_table.substr(dot + 1);
  for (const SessionMasks::ColumnMask& m : masks.columns) {
    for (const QualifiedGlob& g : m.columns) {
      if ((schema == "*" || glob_match(g.parts[0], schema)) && (table == "*" || glob_match(g.parts[1], table)))
        return true;
    }
  }
  return false;
}

std::vector<std::string> column_name_patterns(const SessionMasks& masks) {
  std::vector<std::string> out;
  for (const SessionMasks::ColumnMask& m : masks.columns) {
    for (const QualifiedGlob& g : m.columns) {
      std::string like = like_pattern(g.parts.back());
      if (std::find(out.begin(), out.end(), like) == out.end()) out.push_back(std::move(like));
    }
  }
  return out;
}

const std::string* value_mask_name(const SessionMasks& masks) {
  return masks.values.empty() ? nullptr : &masks.values.front().name;
}

bool mask_value(const SessionMasks& masks, std::string_view value, std::string* out, int* count) {
  if (masks.values.empty()) return false;
  const std::vector<int>& hits = matching_masks(masks, value);
  if (hits.empty()) return false;
  re2::StringPiece original(value.data(), value.size());
  std::vector<Piece> pieces{{0, value.size(), false, {}}};
  std::vector<Piece> next;
  int applied = 0;
  for (int index : hits) {
    bool changed = false;
    next.clear();
    for (Piece& p : pieces) {
      if (p.masked)
        next.push_back(std::move(p));
      else
        changed = replace_in(masks.values[index], original, p, &next) || changed;
    }
    pieces.swap(next);
    if (changed) ++applied;
  }
  if (applied == 0) return false;
  out->clear();
  for (const Piece& p : pieces) {
    if (p.masked) *out += p.text;
    else out->append(value.substr(p.begin, p.end - p.begin));
  }
  *count += applied;
  return true;
}

}  // namespace pgw::rules
