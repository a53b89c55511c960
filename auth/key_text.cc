#include "auth/key_text.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "auth/curve_keys.h"

namespace tessera::auth::internal {

bool IsZ85Key(absl::string_view word) { return CheckZ85Key(word, "").ok(); }

std::vector<KeyLine> ContentLines(absl::string_view text) {
  std::vector<KeyLine> out;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    line = absl::StripAsciiWhitespace(line);  // also a CR of CRLF files
    if (line.empty() || line.front() == '#') continue;
    const size_t end = line.find_first_of(" \t");
    KeyLine l;
    l.number = number;
    l.word = line.substr(0, end);
    l.rest = end == absl::string_view::npos ? absl::string_view() : absl::StripAsciiWhitespace(line.substr(end));
    out.push_back(l);
  }
  return out;
}

}  // namespace tessera::auth::internal
