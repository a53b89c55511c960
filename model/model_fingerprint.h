// A short identity of a model file, so a coordinator can refuse a group that
// loaded a different model than its own (the coordinator tokenizes; a group
// with another vocabulary or other weights would answer with the wrong text).
#pragma once

#include <string>

#include "model/model.h"

namespace tessera {

// 16 hex digits hashing the config, the tokenizer's vocabulary (every
// token's bytes and the special ids), and every tensor's name, type and
// shape plus its first and last 64 bytes. Two copies of one file agree; a
// file with another shape, vocabulary or seed differs (in all but
// astronomically unlikely cases). Touches two pages per tensor.
std::string ModelFingerprint(const Model& model);

}  // namespace tessera
