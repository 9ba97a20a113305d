// f16 / bf16 conversions against independent oracles: the compiler's _Float16 conversions
// (libgcc soft-float) and the definition of round-to-nearest-even for bf16.
#include "engine/quant/half.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

namespace sobre::engine {
namespace {

uint16_t Bits(_Float16 h) {
  uint16_t u;
  std::memcpy(&u, &h, sizeof(u));
  return u;
}

_Float16 FromBits(uint16_t u) {
  _Float16 h;
  std::memcpy(&h, &u, sizeof(h));
  return h;
}

uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

TEST(HalfTest, F16ToF32MatchesCompilerForAllBitPatterns) {
  for (uint32_t u = 0; u < 65536; ++u) {
    const float expected = static_cast<float>(FromBits(static_cast<uint16_t>(u)));
    const float got = F16ToF32(static_cast<uint16_t>(u));
    if (std::isnan(expected)) {
      EXPECT_TRUE(std::isnan(got)) << u;
    } else {
      ASSERT_EQ(FloatBits(got), FloatBits(expected)) << "f16 bits " << u;
    }
  }
}

TEST(HalfTest, F32ToF16RoundsLikeCompiler) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> any_bits;
  // Random bit patterns cover every exponent; values near f16's range get extra attention.
  for (int i = 0; i < 2000000; ++i) {
    uint32_t u = any_bits(rng);
    if (i % 2 == 0) u = (u & 0x807fffffu) | ((100u + (u >> 23) % 45u) << 23);  // 2^-27 .. 2^17
    float f;
    std::memcpy(&f, &u, sizeof(f));
    if (std::isnan(f)) continue;
    ASSERT_EQ(F32ToF16(f), Bits(static_cast<_Float16>(f))) << "f32 bits " << std::hex << u;
  }
  // Ties: exactly halfway between two f16 values, both even and odd neighbours, and at the
  // subnormal boundary and overflow threshold.
  for (uint32_t h = 0; h < 0x7bff; ++h) {
    const float mid = (F16ToF32(static_cast<uint16_t>(h)) + F16ToF32(static_cast<uint16_t>(h + 1))) / 2;
    ASSERT_EQ(F32ToF16(mid), Bits(static_cast<_Float16>(mid))) << h;
    ASSERT_EQ(F32ToF16(-mid), Bits(static_cast<_Float16>(-mid))) << h;
  }
  EXPECT_EQ(F32ToF16(65520.0f), 0x7c00);
  EXPECT_EQ(F32ToF16(65519.0f), 0x7bff);
  EXPECT_EQ(F32ToF16(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(F32ToF16(-0.0f), 0x8000);
  EXPECT_TRUE(std::isnan(F16ToF32(F32ToF16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(HalfTest, Bf16IsTheTopHalfRoundedToNearestEven) {
  EXPECT_EQ(Bf16ToF32(0x3f80), 1.0f);
  EXPECT_EQ(Bf16ToF32(0xc040), -3.0f);
  EXPECT_EQ(F32ToBf16(1.0f), 0x3f80);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (down); 1 + 3*2^-8 ties up.
  EXPECT_EQ(F32ToBf16(1.00390625f), 0x3f80);
  EXPECT_EQ(F32ToBf16(1.01171875f), 0x3f82);
  EXPECT_TRUE(std::isnan(Bf16ToF32(F32ToBf16(std::numeric_limits<float>::quiet_NaN()))));
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-1e6f, 1e6f);
  for (int i = 0; i < 200000; ++i) {
    const float f = dist(rng);
    const uint16_t b = F32ToBf16(f);
    const double err = std::fabs(static_cast<double>(Bf16ToF32(b)) - f);
    // No neighbour is closer; on a tie the chosen one is even.
    const double err_up = std::fabs(static_cast<double>(Bf16ToF32(static_cast<uint16_t>(b + 1))) - f);
    const double err_down = std::fabs(static_cast<double>(Bf16ToF32(static_cast<uint16_t>(b - 1))) - f);
    ASSERT_LE(err, err_up) << f;
    ASSERT_LE(err, err_down) << f;
    if (err == err_up || err == err_down) {
      ASSERT_EQ(b & 1, 0) << f;
    }
  }
}

}  // namespace
}  // namespace sobre::engine
