// Bit layouts of the GGUF block formats, checked on hand-built blocks: every byte below was
// written from the format description (reference/engine.md §2.2), not produced by our quantisers,
// and the expected values are worked out per element from that description.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "engine/quant/half.h"
#include "engine/quant/quant.h"

namespace sobre::engine {
namespace {

std::vector<float> Dequantize(GgmlType type, const std::vector<uint8_t>& block, size_t n) {
  // Also from an odd address, as rows inside a GGUF file may be.
  std::vector<uint8_t> shifted(block.size() + 1);
  std::memcpy(shifted.data() + 1, block.data(), block.size());
  std::vector<float> out(n), out_shifted(n);
  DequantizeRow(type, block.data(), out.data(), n);
  DequantizeRow(type, shifted.data() + 1, out_shifted.data(), n);
  EXPECT_EQ(out, out_shifted);
  return out;
}

void PutHalf(std::vector<uint8_t>& b, size_t at, uint16_t bits) { std::memcpy(&b[at], &bits, 2); }

TEST(QuantLayoutTest, Q8_0IsScaleThenSignedBytes) {
  std::vector<uint8_t> b(34);
  PutHalf(b, 0, 0x3800);  // 0.5
  for (int j = 0; j < 32; ++j) b[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(j - 16));
  const std::vector<float> x = Dequantize(GgmlType::kQ8_0, b, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(x[j], 0.5f * (j - 16)) << j;
}

TEST(QuantLayoutTest, Q4_0LowNibblesAreTheFirstHalf) {
  std::vector<uint8_t> b(18);
  PutHalf(b, 0, 0x4000);  // 2.0
  for (int j = 0; j < 16; ++j) b[2 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  const std::vector<float> x = Dequantize(GgmlType::kQ4_0, b, 32);
  EXPECT_EQ(x[0], -16.0f);
  EXPECT_EQ(x[15], 14.0f);
  EXPECT_EQ(x[16], 14.0f);  // high nibble of qs[0] = 15
  EXPECT_EQ(x[31], -16.0f);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(x[j], 2.0f * (j - 8)) << j;
    EXPECT_EQ(x[j + 16], 2.0f * (7 - j)) << j;
  }
}

TEST(QuantLayoutTest, Q4_1AddsTheMin) {
  std::vector<uint8_t> b(20);
  PutHalf(b, 0, 0x3800);  // d = 0.5
  PutHalf(b, 2, 0xc200);  // m = -3
  for (int j = 0; j < 16; ++j) b[4 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  const std::vector<float> x = Dequantize(GgmlType::kQ4_1, b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(x[j], 0.5f * j - 3.0f) << j;
    EXPECT_EQ(x[j + 16], 0.5f * (15 - j) - 3.0f) << j;
  }
}

TEST(QuantLayoutTest, Q5_0FifthBitOfElementJIsBitJOfQh) {
  std::vector<uint8_t> b(22);
  PutHalf(b, 0, 0x3c00);  // 1.0
  const uint32_t qh = 0xf0f0a5a5u;
  std::memcpy(&b[2], &qh, 4);  // little-endian: b[2] = 0xa5
  for (int j = 0; j < 16; ++j) b[6 + j] = static_cast<uint8_t>(j | (j << 4));
  const std::vector<float> x = Dequantize(GgmlType::kQ5_0, b, 32);
  EXPECT_EQ(x[0], 0.0f);     // 0 | 16 - 16
  EXPECT_EQ(x[1], -15.0f);   // 1, bit 1 clear
  EXPECT_EQ(x[16], -16.0f);  // 0, bit 16 clear
  EXPECT_EQ(x[31], 15.0f);   // 15 | 16 - 16
  for (int e = 0; e < 32; ++e) {
    EXPECT_EQ(x[e], static_cast<float>((e % 16) + 16 * static_cast<int>((qh >> e) & 1) - 16)) << e;
  }
}

TEST(QuantLayoutTest, Q5_1HasMinBeforeQh) {
  std::vector<uint8_t> b(24);
  PutHalf(b, 0, 0x3c00);  // d = 1
  PutHalf(b, 2, 0x3800);  // m = 0.5
  const uint32_t qh = 0x0000ffffu;
  std::memcpy(&b[4], &qh, 4);
  for (int j = 0; j < 16; ++j) b[8 + j] = static_cast<uint8_t>(j | (j << 4));
  const std::vector<float> x = Dequantize(GgmlType::kQ5_1, b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(x[j], j + 16 + 0.5f) << j;
    EXPECT_EQ(x[j + 16], j + 0.5f) << j;
  }
}

// Scales {1,2,3,4,17,33,50,63} and mins {5,6,7,8,9,40,48,62} packed by hand.
const uint8_t kPackedScales[12] = {0x41, 0x82, 0xc3, 0xc4, 0x05, 0x86, 0xc7, 0xc8, 0x91, 0x81, 0x02, 0xef};
const int kScales[8] = {1, 2, 3, 4, 17, 33, 50, 63};
const int kMins[8] = {5, 6, 7, 8, 9, 40, 48, 62};

// Nibble of element e for qs[32c + l] = (l % 16) | ((15 - l % 16) << 4).
int KNibble(int e) {
  const int within = e % 64;
  return within < 32 ? within % 16 : 15 - (within - 32) % 16;
}

TEST(QuantLayoutTest, Q4_KScalesAndChunkedNibbles) {
  std::vector<uint8_t> b(144);
  PutHalf(b, 0, 0x3c00);  // d = 1
  PutHalf(b, 2, 0x3800);  // dmin = 0.5
  std::memcpy(&b[4], kPackedScales, 12);
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) b[16 + 32 * c + l] = static_cast<uint8_t>((l % 16) | ((15 - l % 16) << 4));
  }
  const std::vector<float> x = Dequantize(GgmlType::kQ4_K, b, 256);
  EXPECT_EQ(x[0], -2.5f);
  EXPECT_EQ(x[160], 475.0f);  // sub-block 5: 33 * 15 - 0.5 * 40
  EXPECT_EQ(x[255], -31.0f);
  for (int e = 0; e < 256; ++e) {
    EXPECT_EQ(x[e], static_cast<float>(kScales[e / 32] * KNibble(e)) - 0.5f * kMins[e / 32]) << e;
  }
}

TEST(QuantLayoutTest, Q5_KHighBitsAreBitPlanesOfQh) {
  std::vector<uint8_t> b(176);
  PutHalf(b, 0, 0x3c00);
  PutHalf(b, 2, 0x3800);
  std::memcpy(&b[4], kPackedScales, 12);
  for (int l = 0; l < 32; ++l) b[16 + l] = static_cast<uint8_t>(l * 7);
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) b[48 + 32 * c + l] = static_cast<uint8_t>((l % 16) | ((15 - l % 16) << 4));
  }
  const std::vector<float> x = Dequantize(GgmlType::kQ5_K, b, 256);
  EXPECT_EQ(x[1], 1.0f * 17 - 2.5f);  // qh[1] = 7: bit 0 set -> 1 + 16
  EXPECT_EQ(x[160], 475.0f);          // qh[0] = 0
  for (int e = 0; e < 256; ++e) {
    const int c = e / 64, within = e % 64, l = within % 32;
    const int plane = 2 * c + (within >= 32 ? 1 : 0);
    const int q = KNibble(e) + 16 * (((l * 7) & 0xff) >> plane & 1);
    EXPECT_EQ(x[e], static_cast<float>(kScales[e / 32] * q) - 0.5f * kMins[e / 32]) << e;
  }
}

TEST(QuantLayoutTest, Q6_KHasScaleLastAndTwoHalves) {
  std::vector<uint8_t> b(210);
  for (int i = 0; i < 128; ++i) b[i] = static_cast<uint8_t>(i);
  for (int i = 0; i < 64; ++i) b[128 + i] = static_cast<uint8_t>(i * 37);
  for (int k = 0; k < 16; ++k) b[192 + k] = static_cast<uint8_t>(static_cast<int8_t>(k - 8));
  PutHalf(b, 208, 0x3400);  // d = 0.25, last
  const std::vector<float> x = Dequantize(GgmlType::kQ6_K, b, 256);
  EXPECT_EQ(x[0], 64.0f);     // 0.25 * -8 * (0 - 32)
  EXPECT_EQ(x[200], -28.0f);  // half 1, ql[72] high nibble 4, qh[40] = 200 bits 4-5 = 0, scale 4
  for (int e = 0; e < 256; ++e) {
    const int half = e / 128, r = e % 128, group = r / 32, l = r % 32;
    const int ql = b[64 * half + (group % 2 == 0 ? l : l + 32)];
    const int nibble = group < 2 ? (ql & 15) : (ql >> 4);
    const int high = (b[128 + 32 * half + l] >> (2 * group)) & 3;
    const int scale = static_cast<int8_t>(b[192 + e / 16]);
    EXPECT_EQ(x[e], 0.25f * static_cast<float>(scale * ((nibble | (high << 4)) - 32))) << e;
  }
}

TEST(QuantLayoutTest, FloatFormats) {
  std::vector<uint8_t> f16(4), bf16(4);
  PutHalf(f16, 0, 0x3c00);
  PutHalf(f16, 2, 0xc500);  // -5
  PutHalf(bf16, 0, 0x3f80);
  PutHalf(bf16, 2, 0xc0a0);  // -5
  EXPECT_EQ(Dequantize(GgmlType::kF16, f16, 2), (std::vector<float>{1.0f, -5.0f}));
  EXPECT_EQ(Dequantize(GgmlType::kBF16, bf16, 2), (std::vector<float>{1.0f, -5.0f}));
}

TEST(QuantLayoutTest, QuantizeRowRefusesBadSizes) {
  std::vector<float> x(48, 1.0f);
  std::vector<uint8_t> out(RowBytes(GgmlType::kQ4_0, 32));
  Status s = QuantizeRow(GgmlType::kQ4_0, x, out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("Q4_0"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("48"), std::string::npos) << s.message();
  x.resize(64);
  s = QuantizeRow(GgmlType::kQ4_0, x, out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("bytes"), std::string::npos) << s.message();
  x.resize(256);
  out.resize(RowBytes(GgmlType::kQ6_K, 100));
  EXPECT_FALSE(QuantizeRow(GgmlType::kQ6_K, x, out).ok());
  s = QuantizeRow(static_cast<GgmlType>(99), x, out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
}

TEST(QuantLayoutTest, QuantiserWritesTheLayoutItReads) {
  // Values on the Q4_0 grid come back exactly: the quantiser's nibble order is the reader's.
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>((j * 5) % 16 - 8);
  x[3] = -8.0f;  // make -8 the signed extreme so d = 1
  std::vector<uint8_t> q(18);
  ASSERT_TRUE(QuantizeRow(GgmlType::kQ4_0, x, q).ok());
  uint16_t d;
  std::memcpy(&d, q.data(), 2);
  EXPECT_EQ(F16ToF32(d), 1.0f);
  std::vector<float> back(32);
  DequantizeRow(GgmlType::kQ4_0, q.data(), back.data(), 32);
  EXPECT_EQ(back, x);
  EXPECT_EQ(q[2] & 15, 0);  // x[0] = -8 -> nibble 0, low half of qs[0]
}

}  // namespace
}  // namespace sobre::engine
