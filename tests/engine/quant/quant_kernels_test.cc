// The dot-product kernels of every weight type and ISA: SIMD against the plain reference on random
// and hostile blocks, batched against single-column products, quantisation error bounds on
// llama.cpp's test-quantize-fns pattern, and odd sizes and addresses.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/quant/half.h"
#include "engine/quant/kernels.h"
#include "engine/quant/quant.h"

namespace sobre::engine {
namespace {

const GgmlType kWeightTypes[] = {GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16, GgmlType::kQ8_0,
                                 GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1,
                                 GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K};
const KernelIsa kIsas[] = {KernelIsa::kReference, KernelIsa::kAvx2, KernelIsa::kAvx512};

std::string Name(GgmlType t) { return std::string(TraitsOf(t).name); }

// llama.cpp's synthetic data: 0.1 + 2 cos(i + offset).
std::vector<float> CosPattern(size_t n, float offset) {
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = 0.1f + 2.0f * std::cos(static_cast<float>(i) + offset);
  return x;
}

std::vector<float> Gaussian(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(n);
  for (float& v : x) v = dist(rng);
  return x;
}

// A buffer whose data starts at an odd address (offset 1 from an allocation).
struct OddBuffer {
  explicit OddBuffer(size_t n) : storage(n + 64) {}
  uint8_t* data() { return storage.data() + 1; }
  std::vector<uint8_t> storage;
};

std::vector<uint8_t> Quantize(GgmlType type, const std::vector<float>& x) {
  std::vector<uint8_t> out(RowBytes(type, x.size()));
  EXPECT_TRUE(QuantizeRow(type, x, out).ok());
  return out;
}

std::vector<uint8_t> Activations(GgmlType weight, const std::vector<float>& x, KernelIsa isa) {
  std::vector<uint8_t> out(ActivationBytes(weight, x.size()));
  QuantizeActivations(weight, x.data(), x.size(), out.data(), isa);
  return out;
}

// Row length used for a type: not a multiple of 256 for the 32-value formats, and with a tail
// that is not a multiple of 8 (or 32) for the float formats.
size_t OddLength(GgmlType type) {
  const uint32_t block = TraitsOf(type).block_elements;
  if (block == 1) return 1003;
  if (block == 32) return 32 * 13;
  return 256 * 5;
}

// Scale of the rounding noise allowed between two orders of float additions: eps times the sum of
// the magnitudes of the products.
double MagnitudeBound(GgmlType type, const uint8_t* row, const uint8_t* act, size_t n) {
  std::vector<float> w(n), a(n);
  DequantizeRow(type, row, w.data(), n);
  const GgmlType act_type = ActivationTypeFor(type);
  DequantizeRow(act_type, act, a.data(), n);
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += std::fabs(static_cast<double>(w[i]) * a[i]);
  return sum;
}

// Random bytes as a weight row, with every f16 scale field replaced by a sane value so the
// products stay finite; all other bits (nibbles, qh planes, packed scales, int8 -128) are random.
std::vector<uint8_t> RandomBlocks(GgmlType type, size_t n, std::mt19937& rng) {
  std::vector<uint8_t> row(RowBytes(type, n));
  for (uint8_t& b : row) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
  auto put = [&](size_t at) {
    const uint16_t h = F32ToF16(scale(rng));
    std::memcpy(&row[at], &h, 2);
  };
  const size_t bytes = TraitsOf(type).block_bytes;
  const size_t blocks = n / TraitsOf(type).block_elements;
  for (size_t b = 0; b < blocks; ++b) {
    const size_t at = b * bytes;
    switch (type) {
      case GgmlType::kF16:
      case GgmlType::kQ8_0:
      case GgmlType::kQ4_0:
      case GgmlType::kQ5_0:
        put(at);
        break;
      case GgmlType::kQ4_1:
      case GgmlType::kQ5_1:
      case GgmlType::kQ4_K:
      case GgmlType::kQ5_K:
        put(at);
        put(at + 2);
        break;
      case GgmlType::kQ6_K:
        put(at + 208);
        break;
      case GgmlType::kF32: {
        const float f = scale(rng);
        std::memcpy(&row[at], &f, 4);
        break;
      }
      case GgmlType::kBF16: {
        const uint16_t h = F32ToBf16(scale(rng));
        std::memcpy(&row[at], &h, 2);
        break;
      }
      default:
        break;
    }
  }
  return row;
}

class KernelTest : public ::testing::TestWithParam<std::tuple<GgmlType, KernelIsa>> {
 protected:
  GgmlType type() const { return std::get<0>(GetParam()); }
  KernelIsa isa() const { return std::get<1>(GetParam()); }
};

TEST_P(KernelTest, ActivationQuantiserMatchesReferenceBytes) {
  std::mt19937 rng(1);
  const size_t n = 256 * 3;
  std::vector<float> x = Gaussian(n, rng);
  x[5] = 0.0f;
  for (size_t i = 256; i < 512; ++i) x[i] = 0.0f;  // an all-zero super-block
  for (size_t i = 0; i < 32; ++i) x[512 + i] = 0.5f * static_cast<float>(i) - 8.0f;  // exact ties
  EXPECT_EQ(Activations(type(), x, isa()), Activations(type(), x, KernelIsa::kReference));
}

TEST_P(KernelTest, SimdMatchesReferenceOnRandomBlocks) {
  std::mt19937 rng(2 + static_cast<int>(type()));
  const size_t n = OddLength(type());
  for (int trial = 0; trial < 20; ++trial) {
    const std::vector<uint8_t> row = trial % 2 == 0 ? RandomBlocks(type(), n, rng) : Quantize(type(), Gaussian(n, rng));
    const std::vector<uint8_t> act = Activations(type(), Gaussian(n, rng), KernelIsa::kReference);
    OddBuffer odd_row(row.size()), odd_act(act.size());
    std::memcpy(odd_row.data(), row.data(), row.size());
    std::memcpy(odd_act.data(), act.data(), act.size());
    const float ref = VecDot(type(), n, row.data(), act.data(), KernelIsa::kReference);
    const float got = VecDot(type(), n, odd_row.data(), odd_act.data(), isa());
    const double bound = 2e-6 * MagnitudeBound(type(), row.data(), act.data(), n) + 1e-30;
    ASSERT_TRUE(std::isfinite(ref));
    EXPECT_NEAR(got, ref, bound) << Name(type()) << " " << IsaName(isa()) << " trial " << trial;
  }
}

// True for the bytes of a block that hold a float scale (the ones RandomBlocks keeps sane).
bool IsScaleByte(GgmlType type, size_t i) {
  switch (type) {
    case GgmlType::kQ8_0:
    case GgmlType::kQ4_0:
    case GgmlType::kQ5_0:
      return i < 2;
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_1:
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
      return i < 4;
    case GgmlType::kQ6_K:
      return i >= 208;
    default:
      return true;  // float formats: every byte is part of a value
  }
}

TEST_P(KernelTest, ExtremeValuesMatchReference) {
  // All-ones and 0x80 bytes: largest nibbles and qh planes, int8 -128 weights and Q6_K scales,
  // against +-127 activations -- where maddubs could saturate or the sign trick overflow.
  const size_t n = 512;
  std::mt19937 rng(3);
  for (uint8_t fill : {uint8_t{0xff}, uint8_t{0x80}}) {
    std::vector<uint8_t> row = RandomBlocks(type(), n, rng);
    const size_t bytes = TraitsOf(type()).block_bytes;
    for (size_t i = 0; i < row.size(); ++i) {
      if (!IsScaleByte(type(), i % bytes)) row[i] = fill;
    }
    std::vector<float> x(n);
    for (size_t i = 0; i < n; ++i) x[i] = (i % 3 == 0) ? -1.0f : 1.0f;
    const std::vector<uint8_t> act = Activations(type(), x, KernelIsa::kReference);
    const float ref = VecDot(type(), n, row.data(), act.data(), KernelIsa::kReference);
    const float got = VecDot(type(), n, row.data(), act.data(), isa());
    EXPECT_NEAR(got, ref, 2e-6 * MagnitudeBound(type(), row.data(), act.data(), n) + 1e-30)
        << Name(type()) << " fill " << int{fill};
  }
}

TEST_P(KernelTest, BatchedColumnsAreBitIdenticalToSingleColumn) {
  std::mt19937 rng(4);
  const size_t n = OddLength(type());
  const size_t rows = 7;
  const size_t row_bytes = RowBytes(type(), n);
  OddBuffer w(rows * row_bytes);
  for (size_t r = 0; r < rows; ++r) {
    const std::vector<uint8_t> q = Quantize(type(), Gaussian(n, rng));
    std::memcpy(w.data() + r * row_bytes, q.data(), row_bytes);
  }
  const size_t cols = 11;  // one full pass of 8 (or two of 4) plus a remainder
  const size_t act_bytes = ActivationBytes(type(), n);
  const size_t stride = act_bytes + 3;  // columns at odd offsets from each other
  OddBuffer act(cols * stride);
  for (size_t c = 0; c < cols; ++c) {
    QuantizeActivations(type(), Gaussian(n, rng).data(), n, act.data() + c * stride, isa());
  }
  const size_t y_stride = 9;
  std::vector<float> y(cols * y_stride, -1.0f);
  MatMulRows(type(), w.data(), n, 2, rows, act.data(), stride, cols, y.data(), y_stride, isa());
  for (size_t c = 0; c < cols; ++c) {
    std::vector<float> single(rows, -1.0f);
    MatVecRows(type(), w.data(), n, 2, rows, act.data() + c * stride, single.data(), isa());
    EXPECT_EQ(single[0], -1.0f);
    EXPECT_EQ(single[1], -1.0f);  // rows before row_begin untouched
    EXPECT_EQ(y[c * y_stride + 0], -1.0f);
    for (size_t r = 2; r < rows; ++r) {
      EXPECT_EQ(y[c * y_stride + r], single[r]) << "col " << c << " row " << r;
      EXPECT_EQ(single[r], VecDot(type(), n, w.data() + r * row_bytes, act.data() + c * stride, isa()));
    }
    EXPECT_EQ(y[c * y_stride + 7], -1.0f);  // past row_end untouched
  }
}

TEST_P(KernelTest, ZeroInputsGiveZero) {
  const size_t n = 512;
  const std::vector<float> zeros(n, 0.0f);
  const std::vector<uint8_t> row = Quantize(type(), zeros);
  const std::vector<uint8_t> act = Activations(type(), CosPattern(n, 1.0f), isa());
  EXPECT_EQ(VecDot(type(), n, row.data(), act.data(), isa()), 0.0f);
  const std::vector<uint8_t> zero_act = Activations(type(), zeros, isa());
  const std::vector<uint8_t> cos_row = Quantize(type(), CosPattern(n, 0.0f));
  EXPECT_EQ(VecDot(type(), n, cos_row.data(), zero_act.data(), isa()), 0.0f);
}

std::string ParamName(const ::testing::TestParamInfo<std::tuple<GgmlType, KernelIsa>>& info) {
  return Name(std::get<0>(info.param)) + "_" + std::string(IsaName(std::get<1>(info.param)));
}

INSTANTIATE_TEST_SUITE_P(AllTypesAndIsas, KernelTest,
                         ::testing::Combine(::testing::ValuesIn(kWeightTypes), ::testing::ValuesIn(kIsas)),
                         ParamName);

// Bounds: test-quantize-fns' metric sqrt(sum d^2) / n over 4096 values (0.002 for >= 4-bit types),
// and a plain RMS bound from the step size of each format on the [-1.9, 2.1] pattern.
struct ErrorBound {
  GgmlType type;
  double max_total_error;
  double max_rms;
};

class QuantErrorTest : public ::testing::TestWithParam<ErrorBound> {};

TEST_P(QuantErrorTest, RoundTripErrorWithinBounds) {
  const ErrorBound& bound = GetParam();
  const size_t n = 4096;
  const std::vector<float> x = CosPattern(n, 0.0f);
  const std::vector<uint8_t> q = Quantize(bound.type, x);
  std::vector<float> back(n);
  DequantizeRow(bound.type, q.data(), back.data(), n);
  double sum_sq = 0.0;
  for (size_t i = 0; i < n; ++i) sum_sq += (static_cast<double>(x[i]) - back[i]) * (x[i] - back[i]);
  const double total_error = std::sqrt(sum_sq) / static_cast<double>(n);
  const double rms = std::sqrt(sum_sq / static_cast<double>(n));
  EXPECT_LE(total_error, bound.max_total_error) << Name(bound.type);
  EXPECT_LE(rms, bound.max_rms) << Name(bound.type);
  RecordProperty("rms", std::to_string(rms));
}

TEST_P(QuantErrorTest, QuantisedDotCloseToFloatDot) {
  const ErrorBound& bound = GetParam();
  const size_t n = 4096;
  const std::vector<float> a = CosPattern(n, 0.0f), b = CosPattern(n, 1.0f);
  const std::vector<uint8_t> q = Quantize(bound.type, a);
  double exact = 0.0, norm_a = 0.0, norm_b = 0.0;
  for (size_t i = 0; i < n; ++i) {
    exact += static_cast<double>(a[i]) * b[i];
    norm_a += static_cast<double>(a[i]) * a[i];
    norm_b += static_cast<double>(b[i]) * b[i];
  }
  for (KernelIsa isa : kIsas) {
    const std::vector<uint8_t> act = Activations(bound.type, b, isa);
    const double got = VecDot(bound.type, n, q.data(), act.data(), isa);
    // test-quantize-fns: |error| / n <= 0.02; ours is also held to a relative bound.
    EXPECT_LE(std::fabs(got - exact) / n, 0.02) << Name(bound.type) << " " << IsaName(isa);
    EXPECT_LE(std::fabs(got - exact) / std::sqrt(norm_a * norm_b), 3.0 * bound.max_rms / 1.4 + 1e-6)
        << Name(bound.type) << " " << IsaName(isa) << " got " << got << " exact " << exact;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Formats, QuantErrorTest,
    ::testing::Values(ErrorBound{GgmlType::kF32, 0.0, 0.0}, ErrorBound{GgmlType::kF16, 1e-5, 1e-3},
                      ErrorBound{GgmlType::kBF16, 1e-4, 6e-3}, ErrorBound{GgmlType::kQ8_0, 0.002, 0.0055},
                      ErrorBound{GgmlType::kQ4_0, 0.002, 0.09}, ErrorBound{GgmlType::kQ4_1, 0.002, 0.09},
                      ErrorBound{GgmlType::kQ5_0, 0.002, 0.045}, ErrorBound{GgmlType::kQ5_1, 0.002, 0.045},
                      ErrorBound{GgmlType::kQ4_K, 0.002, 0.09}, ErrorBound{GgmlType::kQ5_K, 0.002, 0.045},
                      ErrorBound{GgmlType::kQ6_K, 0.002, 0.025}),
    [](const ::testing::TestParamInfo<ErrorBound>& p) { return Name(p.param.type); });

TEST(KernelDispatchTest, IsaNamesAndFallback) {
  EXPECT_EQ(IsaName(KernelIsa::kReference), "reference");
  EXPECT_EQ(IsaName(KernelIsa::kAvx2), "avx2");
  EXPECT_EQ(IsaName(KernelIsa::kAvx512), "avx512");
  EXPECT_LE(static_cast<int>(BestIsa()), static_cast<int>(DetectedIsa()));
  EXPECT_EQ(EffectiveIsa(KernelIsa::kReference), KernelIsa::kReference);
  EXPECT_LE(static_cast<int>(EffectiveIsa(KernelIsa::kAvx512)), static_cast<int>(DetectedIsa()));
  std::printf("detected ISA: %s\n", std::string(IsaName(DetectedIsa())).c_str());
}

TEST(KernelDispatchTest, ActivationFormats) {
  EXPECT_EQ(ActivationTypeFor(GgmlType::kQ4_0), GgmlType::kQ8_0);
  EXPECT_EQ(ActivationTypeFor(GgmlType::kQ5_1), GgmlType::kQ8_1);
  EXPECT_EQ(ActivationTypeFor(GgmlType::kQ6_K), GgmlType::kQ8_K);
  EXPECT_EQ(ActivationTypeFor(GgmlType::kBF16), GgmlType::kF32);
  EXPECT_EQ(ActivationBytes(GgmlType::kQ4_K, 512), 2u * 292u);
  EXPECT_EQ(ActivationBytes(GgmlType::kF16, 10), 40u);
}

}  // namespace
}  // namespace sobre::engine
