// The model maker's presets: the Llama-shaped ones must have the parameter
// counts of the models whose shapes they copy (the GPU benchmark's bytes per
// token depend on it), and every preset must pass the maker's own checks.
#include <string>

#include "gtest/gtest.h"
#include "model/model_maker.h"

namespace tessera {
namespace {

TEST(ModelMakerPresetTest, LlamaPresetsHaveTheRealModelsParameterCounts) {
  auto one = PresetSpec("llama-1b");
  ASSERT_TRUE(one.ok()) << one.status();
  // Llama 3.2 1B: 16 x (2048 wide, 32/8 heads, FFN 8192), vocab 128256, tied.
  EXPECT_EQ(ParameterCount(*one), 1'235'814'400);
  EXPECT_TRUE(one->tied_output);
  EXPECT_EQ(one->dim / one->n_heads, 64);

  auto eight = PresetSpec("llama-8b");
  ASSERT_TRUE(eight.ok()) << eight.status();
  // Llama 3 8B: 32 x (4096 wide, 32/8 heads, FFN 14336), vocab 128256.
  EXPECT_EQ(ParameterCount(*eight), 8'030'261'248);
  EXPECT_FALSE(eight->tied_output);
  EXPECT_EQ(eight->dim / eight->n_heads, 128);
}

TEST(ModelMakerPresetTest, EveryPresetPassesValidationInEveryMatrixType) {
  for (const char* name : {"tiny", "small", "medium", "llama-1b", "llama-8b"}) {
    auto spec = PresetSpec(name);
    ASSERT_TRUE(spec.ok()) << name << ": " << spec.status();
    for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0}) {
      spec->type = t;
      EXPECT_TRUE(ValidateSpec(*spec).ok()) << name << " " << DTypeName(t) << ": " << ValidateSpec(*spec);
    }
  }
}

TEST(ModelMakerPresetTest, SizeCapCountsGroupedQueryHeadsAndRefusesLargerModels) {
  auto spec = PresetSpec("llama-8b");
  ASSERT_TRUE(spec.ok());
  spec->n_layers = 48;  // ~11.5B: past the cap
  const absl::Status st = ValidateSpec(*spec);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(st.message()).find("beyond what model make writes"), std::string::npos) << st;
}

TEST(ModelMakerPresetTest, UnknownPresetNamesTheKnownOnes) {
  auto spec = PresetSpec("llama-70b");
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(std::string(spec.status().message()).find("llama-1b or llama-8b"), std::string::npos)
      << spec.status();
}

}  // namespace
}  // namespace tessera
