// Reads the SQL texts of test/corpus/statements.txt (its "sql:" lines, "\n" standing for a
// newline), for the tests and benchmarks that run over the corpus without its expected facts.
#pragma once

#include <fstream>
#include <string>
#include <vector>

namespace pgw::corpus {

// The text of one "sql:" value with "\n" turned into newlines.
inline std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == 'n') {
      out += '\n';
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Every "sql:" text of the corpus file at `path`, in file order; empty if it cannot be read.
inline std::vector<std::string> sql_texts(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("sql:")) continue;
    size_t start = line.find_first_not_of(' ', 4);
    out.push_back(unescape(start == std::string::npos ? "" : line.substr(start)));
  }
  return out;
}

}  // namespace pgw::corpus
