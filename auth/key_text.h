// The line syntax shared by key files and key lists (internal to auth/).
//
// Blank lines are skipped, and so are comments: lines whose first non-blank
// character is '#'. ('#' is a Z85 character, but never the first of a key:
// a 5-character group starting with it is past 2^32, which Z85 rejects.)
#pragma once

#include <vector>

#include "absl/strings/string_view.h"

namespace tessera::auth::internal {

struct KeyLine {
  int number = 0;          // 1-based
  absl::string_view word;  // the first word
  absl::string_view rest;  // what follows it, trimmed (may be empty)
};

// The lines that are neither blank nor comments, in order; views into `text`.
std::vector<KeyLine> ContentLines(absl::string_view text);

bool IsZ85Key(absl::string_view word);

}  // namespace tessera::auth::internal
