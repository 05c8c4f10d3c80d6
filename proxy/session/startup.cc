#include "proxy/session/startup.h"

#include "proxy/wire/wire.h"

namespace pgw {

namespace {

constexpr std::string_view kPrefix = "pgwarden.";

// Splits `options` as the server does: whitespace separates words, backslash escapes.
std::vector<std::string> split_options(std::string_view s) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\' && i + 1 < s.size()) {
      cur.push_back(s[++i]);
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word) words.push_back(std::move(cur));
      cur.clear();
      in_word = false;
    } else {
      cur.push_back(c);
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(cur));
  return words;
}

std::string escape_option(const std::string& w) {
  std::string out;
  for (char c : w) {
    if (c == ' ' || c == '\\' || c == '\t') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// "pgwarden.x=v" -> (x, v); false for any other setting.
bool take_setting(const std::string& setting, std::vector<std::pair<std::string, std::string>>* found) {
  if (setting.compare(0, kPrefix.size(), kPrefix) != 0) return false;
  size_t eq = setting.find('=');
  if (eq == std::string::npos) return false;
  found->emplace_back(setting.substr(kPrefix.size(), eq - kPrefix.size()), setting.substr(eq + 1));
  return true;
}

}  // namespace

const std::string* StartupParams::get(std::string_view name) const {
  for (const auto& [k, v] : params)
    if (k == name) return &v;
  return nullptr;
}

void StartupParams::set(const std::string& name, std::string value) {
  for (auto& [k, v] : params)
    if (k == name) {
      v = std::move(value);
      return;
    }
  params.emplace_back(name, std::move(value));
}

std::string strip_pgwarden_options(std::string_view options,
                                   std::vector<std::pair<std::string, std::string>>* found) {
  std::vector<std::string> words = split_options(options);
  std::vector<std::string> kept;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w == "-c" && i + 1 < words.size()) {
      // As the server's getopt reads it: the word after -c is its setting, whatever it is.
      if (!take_setting(words[i + 1], found)) {
        kept.push_back(w);
        kept.push_back(words[i + 1]);
      }
      ++i;
    } else if (w.rfind("-c", 0) == 0 && w.size() > 2 && take_setting(w.substr(2), found)) {
    } else if (w.rfind("--", 0) == 0 && take_setting(w.substr(2), found)) {
    } else {
      kept.push_back(w);
    }
  }
  std::string out;
  for (const auto& w : kept) {
    if (!out.empty()) out.push_back(' ');
    out += escape_option(w);
  }
  return out;
}

bool parse_startup(std::string_view body, StartupParams* out, std::string* error) {
  Reader r(body);
  while (true) {
    std::string_view name = r.cstr();
    if (!r.ok()) break;
    if (name.empty()) {
      if (!r.at_end()) break;
      if (const std::string* opts = out->get("options")) {
        std::string rest = strip_pgwarden_options(*opts, &out->pgwarden);
        out->set("options", rest);
      }
      return true;
    }
    std::string_view value = r.cstr();
    if (!r.ok()) break;
    std::string n(name);
    if (!take_setting(n + "=" + std::string(value), &out->pgwarden)) out->params.emplace_back(n, std::string(value));
  }
  *error = "malformed startup packet (parameters not NUL-terminated)";
  return false;
}

}  // namespace pgw
