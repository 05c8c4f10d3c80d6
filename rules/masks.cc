// Masks for one session: column masks looked up by source column, value masks applied with
// RE2 to every text value.
//
// Value masks apply in file order. A mask applies to a value when its pattern matches the
// value as it came from the server (one RE2::Set match over all patterns decides which; a value
// no pattern matches costs only that). An applying mask replaces its matches in the parts of
// the value that no earlier mask replaced; text an earlier mask wrote is never scanned again.
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
    std::shared_ptr<const RE2> pattern;
    std::string replace;
    int groups = 1;  // submatches the rewrite needs, \0 included
  };
  struct ColumnMask {
    std::vector<QualifiedGlob> columns;
    std::string replace;
  };
  std::vector<ValueMask> values;
  // All value patterns (index i is values[i]); nullptr if it could not be compiled.
  std::unique_ptr<RE2::Set> any_value;
  std::vector<ColumnMask> columns;
};

namespace {

constexpr int kMaxGroups = 10;  // \0 to \9

// A stretch of the value being masked; `masked` text came from a replacement.
struct Piece {
  std::string text;
  bool masked = false;
};

// Bytes in the UTF-8 sequence that starts with `lead` (1 for a stray byte).
size_t rune_length(unsigned char lead) {
  if (lead >= 0xf0) return 4;
  if (lead >= 0xe0) return 3;
  if (lead >= 0xc0) return 2;
  return 1;
}

// Replaces the matches of one mask in one unmasked piece; appends the pieces to `out`.
bool replace_in(const SessionMasks::ValueMask& mask, const std::string& text,
                std::vector<Piece>* out) {
  re2::StringPiece input(text);
  re2::StringPiece groups[kMaxGroups];
  size_t pos = 0;
  size_t copied = 0;
  bool any = false;
  while (pos <= input.size() &&
         mask.pattern->Match(input, pos, input.size(), RE2::UNANCHORED, groups, mask.groups)) {
    size_t begin = static_cast<size_t>(groups[0].data() - input.data());
    size_t end = begin + groups[0].size();
    if (end == begin) {
      if (begin >= input.size()) break;
      pos = begin + rune_length(static_cast<unsigned char>(input[begin]));
      continue;
    }
    if (begin > copied) out->push_back({text.substr(copied, begin - copied), false});
    Piece replaced{std::string(), true};
    mask.pattern->Rewrite(&replaced.text, mask.replace, groups, mask.groups);
    out->push_back(std::move(replaced));
    copied = pos = end;
    any = true;
  }
  if (copied < text.size()) out->push_back({text.substr(copied), false});
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
  v.pattern = mask.pattern;
  v.replace = mask.replace;
  v.groups = 1 + std::max(0, RE2::MaxSubmatch(mask.replace));
  out->any_value->Add(mask.pattern->pattern(), nullptr);
  out->values.push_back(std::move(v));
}

}  // namespace

SessionMasksPtr masks_for(const RuleSet& set, const Context& ctx) {
  Subject subject(ctx, nullptr, "");
  auto out = std::make_shared<SessionMasks>();
  out->any_value = std::make_unique<RE2::Set>(regex_options(), RE2::UNANCHORED);
  for (const Mask& mask : set.masks) {
    if (!session_matches(mask.session, subject)) continue;
    if (mask.pattern) add_value_mask(mask, out.get());
    if (!mask.columns.empty()) out->columns.push_back({mask.columns, mask.replace});
  }
  if (out->values.empty() && out->columns.empty()) return nullptr;
  if (!out->values.empty() && !out->any_value->Compile()) out->any_value.reset();
  return out;
}

const std::string* column_mask(const SessionMasks& masks, std::string_view qualified_column) {
  for (const SessionMasks::ColumnMask& m : masks.columns) {
    if (any_qualified_match(m.columns, qualified_column)) return &m.replace;
  }
  return nullptr;
}

bool mask_value(const SessionMasks& masks, std::string_view value, std::string* out, int* count) {
  if (masks.values.empty()) return false;
  const std::vector<int>& hits = matching_masks(masks, value);
  if (hits.empty()) return false;
  std::vector<Piece> pieces{{std::string(value), false}};
  std::vector<Piece> next;
  int applied = 0;
  for (int index : hits) {
    bool changed = false;
    next.clear();
    for (Piece& p : pieces) {
      if (p.masked)
        next.push_back(std::move(p));
      else
        changed = replace_in(masks.values[index], p.text, &next) || changed;
    }
    pieces.swap(next);
    if (changed) ++applied;
  }
  if (applied == 0) return false;
  out->clear();
  for (const Piece& p : pieces) *out += p.text;
  *count += applied;
  return true;
}

}  // namespace pgw::rules
