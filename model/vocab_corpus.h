// The embedded training text for the vocabulary builder (about 38 KB of
// original English prose, valid UTF-8).
#pragma once

#include <string_view>

namespace tessera {

std::string_view VocabCorpus();

}  // namespace tessera
