// Builds small random models in memory for the worker tests.
#pragma once

#include <memory>

#include "gtest/gtest.h"
#include "model/gguf_file.h"
#include "model/gguf_writer.h"
#include "model/model.h"
#include "model/model_maker.h"

namespace tessera::testing {

inline std::unique_ptr<Model> MakeTestModel(const ModelSpec& spec) {
  GgufWriter writer;
  const absl::Status st = BuildModel(spec, writer);
  EXPECT_TRUE(st.ok()) << st;
  auto bytes = writer.Serialize();
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  if (!st.ok() || !bytes.ok()) return nullptr;
  auto file = GgufFile::FromBytes(*std::move(bytes));
  EXPECT_TRUE(file.ok()) << file.status();
  if (!file.ok()) return nullptr;
  auto model = LoadModel(*std::move(file));
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *std::move(model) : nullptr;
}

}  // namespace tessera::testing
