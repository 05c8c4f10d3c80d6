#include "rules/names.h"

#include <fmt/format.h>

namespace pgw::rules {

bool compile_qualified(std::string_view text, size_t parts, QualifiedGlob* out,
                       std::string* error) {
  std::vector<std::string_view> written = split_qualified(text);
  if (written.size() > parts) {
    *error = fmt::format("\"{}\" has more than {} dot-separated parts", text, parts);
    return false;
  }
  if (!compile_glob(text, Folding::identifier, &out->whole, error)) return false;
  std::string full;
  for (size_t i = written.size(); i < parts; ++i) full += "*.";
  full += text;
  if (!compile_glob(full, Folding::identifier, &out->whole, error)) return false;
  out->whole.text = std::string(text);
  out->parts.clear();
  for (std::string_view part : split_qualified(full)) {
    out->parts.emplace_back();
    if (!compile_glob(part, Folding::identifier, &out->parts.back(), error)) {
      *error = "empty part in \"" + std::string(text) + "\"";
      return false;
    }
  }
  return true;
}

namespace {

// Part by part, an unknown ("*") part of the fact matching anything.
bool partial_match(const QualifiedGlob& glob, std::string_view name) {
  for (size_t i = 0; i < glob.parts.size(); ++i) {
    bool last = i + 1 == glob.parts.size();
    size_t dot = last ? std::string_view::npos : name.find('.');
    if (!last && dot == std::string_view::npos) return false;
    std::string_view part = name.substr(0, dot);
    if (part != "*" && !glob_match(glob.parts[i], part)) return false;
    if (!last) name.remove_prefix(dot + 1);
  }
  return true;
}

}  // namespace

bool qualified_match(const QualifiedGlob& glob, std::string_view name) {
  bool unknown_lead = name.size() > 1 && name[0] == '*' && name[1] == '.';
  bool every_column = name.size() > 1 && name.substr(name.size() - 2) == ".*";
  if (unknown_lead || every_column) return partial_match(glob, name);
  return glob_match(glob.whole, name);
}

bool any_qualified_match(const std::vector<QualifiedGlob>& globs, std::string_view name) {
  for (const QualifiedGlob& g : globs) {
    if (qualified_match(g, name)) return true;
  }
  return false;
}

bool compile_function_glob(std::string_view text, Glob* out, std::string* error) {
  std::vector<std::string_view> parts = split_qualified(text);
  if (parts.size() > 2) {
    *error = fmt::format("\"{}\" has more than 2 dot-separated parts", text);
    return false;
  }
  if (!compile_glob(parts.back(), Folding::identifier, out, error)) return false;
  out->text = std::string(text);
  return true;
}

}  // namespace pgw::rules
