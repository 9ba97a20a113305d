// `sobre model`: inspect (`info`), create (`make-test`) and convert (`quantize`) GGUF files.
// `tokenize` is added by model_tokenize_command.cc.
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <fmt/core.h>

#include "cli/command.h"
#include "cli/output.h"
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/gguf/quantize_model.h"
#include "engine/gguf/test_model.h"
#include "engine/gguf/weight_types.h"

namespace sobre::cli {
namespace {

using engine::GgmlType;
using engine::GgufFile;
using engine::GgufTensorInfo;
using engine::GgufValueType;

constexpr size_t kInlineArrayItems = 16;  // arrays up to this length are printed whole
constexpr size_t kSummaryArrayItems = 8;  // longer ones show this many first items

std::string_view FileTypeName(uint64_t id) {
  switch (id) {
    case 0: return "ALL_F32";
    case 1: return "MOSTLY_F16";
    case 2: return "MOSTLY_Q4_0";
    case 3: return "MOSTLY_Q4_1";
    case 7: return "MOSTLY_Q8_0";
    case 8: return "MOSTLY_Q5_0";
    case 9: return "MOSTLY_Q5_1";
    case 10: return "MOSTLY_Q2_K";
    case 11: return "MOSTLY_Q3_K_S";
    case 12: return "MOSTLY_Q3_K_M";
    case 13: return "MOSTLY_Q3_K_L";
    case 14: return "MOSTLY_Q4_K_S";
    case 15: return "MOSTLY_Q4_K_M";
    case 16: return "MOSTLY_Q5_K_S";
    case 17: return "MOSTLY_Q5_K_M";
    case 18: return "MOSTLY_Q6_K";
    case 32: return "MOSTLY_BF16";
    default: return "unknown";
  }
}

// The value, or `fallback` when there is none (info shows what it can of an odd file).
template <typename T>
T ValueOr(StatusOr<T> s, T fallback) {
  return s.ok() ? std::move(s).value() : std::move(fallback);
}

std::string HumanBytes(uint64_t n) {
  if (n < 1024) return fmt::format("{} B", n);
  if (n < (uint64_t{1} << 20)) return fmt::format("{:.1f} KiB", n / 1024.0);
  if (n < (uint64_t{1} << 30)) return fmt::format("{:.1f} MiB", n / 1048576.0);
  return fmt::format("{:.2f} GiB", n / 1073741824.0);
}

std::string HumanCount(uint64_t n) {
  if (n < 1000) return std::to_string(n);
  if (n < 1000000) return fmt::format("{:.1f} K", n / 1e3);
  if (n < 1000000000) return fmt::format("{:.2f} M", n / 1e6);
  return fmt::format("{:.2f} B", n / 1e9);
}

std::string DimsText(const GgufTensorInfo& t) {
  std::string s;
  for (int d = 0; d < std::max(1, t.n_dims); ++d) {
    if (d > 0) s += " x ";
    s += std::to_string(t.dims[d]);
  }
  return s;
}

std::string TypeText(const GgufFile& f, std::string_view key) {
  GgufValueType t = *f.TypeOf(key);
  if (t != GgufValueType::kArray) return std::string(engine::GgufValueTypeName(t));
  return fmt::format("arr[{}]", engine::GgufValueTypeName(*f.ArrayElementType(key)));
}

// One element or scalar as JSON. Integers stay exact; strings are passed through as bytes.
boost::json::value ScalarJson(const GgufFile& f, std::string_view key) {
  switch (*f.TypeOf(key)) {
    case GgufValueType::kFloat32:
    case GgufValueType::kFloat64:
      return *f.GetFloat(key);
    case GgufValueType::kBool:
      return *f.GetBool(key);
    case GgufValueType::kString:
      return boost::json::string(*f.GetString(key));
    case GgufValueType::kInt8:
    case GgufValueType::kInt16:
    case GgufValueType::kInt32:
    case GgufValueType::kInt64:
      return *f.GetInt(key);
    default:
      return *f.GetUint(key);
  }
}

boost::json::array ArrayItemsJson(const GgufFile& f, std::string_view key, size_t max_items) {
  boost::json::array items;
  const GgufValueType et = *f.ArrayElementType(key);
  const uint64_t n = std::min<uint64_t>(*f.ArrayLength(key), max_items);
  if (et == GgufValueType::kString) {
    std::vector<std::string_view> v = *f.GetStringArray(key);
    for (uint64_t i = 0; i < n; ++i) items.emplace_back(boost::json::string(v[i]));
  } else if (et == GgufValueType::kFloat32 || et == GgufValueType::kFloat64) {
    std::vector<float> v = *f.GetFloatArray(key);
    for (uint64_t i = 0; i < n; ++i) items.emplace_back(double{v[i]});
  } else if (et == GgufValueType::kBool) {
    std::span<const uint8_t> raw = *f.RawValue(key);  // element type, count, then the bytes
    for (uint64_t i = 0; i < n; ++i) items.emplace_back(raw[12 + i] != 0);
  } else {
    StatusOr<std::vector<int64_t>> v = f.GetIntArray(key);
    if (v.ok()) {
      for (uint64_t i = 0; i < n; ++i) items.emplace_back((*v)[i]);
    } else {  // u64 elements beyond int64: print them as text rather than wrap
      std::string text = *f.FormatValue(key, n);
      items.emplace_back(boost::json::string(text));
    }
  }
  return items;
}

struct TypeTotals {
  uint64_t count = 0;
  uint64_t bytes = 0;
  uint64_t elements = 0;
};

int Info(const std::string& path, bool json) {
  StatusOr<std::unique_ptr<GgufFile>> opened = GgufFile::Open(path);
  if (!opened.ok()) return ReportError("model info", opened.status());
  const GgufFile& f = **opened;
  std::string arch(ValueOr<std::string_view>(f.GetString("general.architecture"), ""));
  std::string name(ValueOr<std::string_view>(f.GetString("general.name"), ""));
  std::optional<uint64_t> file_type;
  if (StatusOr<uint64_t> ft = f.GetUint("general.file_type"); ft.ok()) file_type = *ft;

  std::map<uint32_t, TypeTotals> by_type;
  uint64_t params = 0, tensor_bytes = 0;
  for (const GgufTensorInfo& t : f.tensors()) {
    TypeTotals& tt = by_type[static_cast<uint32_t>(t.type)];
    ++tt.count;
    tt.bytes += t.size_bytes;
    tt.elements += t.elements();
    params += t.elements();
    tensor_bytes += t.size_bytes;
  }
  auto share = [&](uint64_t bytes) {
    return tensor_bytes == 0 ? 0.0 : 100.0 * static_cast<double>(bytes) / tensor_bytes;
  };

  if (json) {
    boost::json::object o;
    o["file"] = path;
    o["version"] = f.version();
    o["file_bytes"] = f.file_bytes();
    o["alignment"] = f.alignment();
    o["data_offset"] = f.data_offset();
    o["architecture"] = arch;
    o["name"] = name;
    if (file_type) {
      o["file_type"] = boost::json::object{{"id", *file_type},
                                           {"name", FileTypeName(*file_type)}};
    } else {
      o["file_type"] = nullptr;
    }
    o["parameters"] = params;
    o["tensor_bytes"] = tensor_bytes;
    boost::json::array meta;
    for (std::string_view key : f.Keys()) {
      boost::json::object m;
      m["key"] = key;
      m["type"] = TypeText(f, key);
      if (*f.TypeOf(key) == GgufValueType::kArray) {
        const uint64_t n = *f.ArrayLength(key);
        m["length"] = n;
        if (n <= kInlineArrayItems) {
          m["value"] = ArrayItemsJson(f, key, kInlineArrayItems);
        } else {
          m["first"] = ArrayItemsJson(f, key, kSummaryArrayItems);
        }
      } else {
        m["value"] = ScalarJson(f, key);
      }
      meta.push_back(std::move(m));
    }
    o["metadata"] = std::move(meta);
    boost::json::array tensors;
    for (const GgufTensorInfo& t : f.tensors()) {
      boost::json::array dims;
      for (int d = 0; d < std::max(1, t.n_dims); ++d) dims.push_back(t.dims[d]);
      tensors.push_back(boost::json::object{{"name", t.name},
                                            {"type", engine::TraitsOf(t.type).name},
                                            {"dims", std::move(dims)},
                                            {"elements", t.elements()},
                                            {"bytes", t.size_bytes},
                                            {"offset", t.offset}});
    }
    o["tensors"] = std::move(tensors);
    boost::json::array types;
    for (const auto& [id, tt] : by_type) {
      types.push_back(boost::json::object{
          {"type", engine::TraitsOf(static_cast<GgmlType>(id)).name},
          {"tensors", tt.count},
          {"elements", tt.elements},
          {"bytes", tt.bytes},
          {"share", share(tt.bytes) / 100.0}});
    }
    o["types"] = std::move(types);
    std::fputs(PrettyJson(o).c_str(), stdout);
    return kExitOk;
  }

  std::printf("%s: GGUF v%u, %s (%llu bytes), alignment %zu, tensor data at byte %llu\n",
              path.c_str(), f.version(), HumanBytes(f.file_bytes()).c_str(),
              static_cast<unsigned long long>(f.file_bytes()), f.alignment(),
              static_cast<unsigned long long>(f.data_offset()));
  std::printf("architecture: %s\nname: %s\n", arch.empty() ? "(none)" : arch.c_str(),
              name.empty() ? "(none)" : name.c_str());
  if (file_type) {
    std::printf("file type: %llu (%s)\n", static_cast<unsigned long long>(*file_type),
                std::string(FileTypeName(*file_type)).c_str());
  }
  std::printf("parameters: %s (%llu)\n", HumanCount(params).c_str(),
              static_cast<unsigned long long>(params));

  std::vector<std::string_view> keys = f.Keys();
  size_t key_width = 3;
  for (std::string_view k : keys) key_width = std::max(key_width, k.size());
  std::printf("\nmetadata (%zu keys):\n", keys.size());
  for (std::string_view key : keys) {
    std::string value = ValueOr<std::string>(f.FormatValue(key, kSummaryArrayItems), "?");
    if (value.size() > 200) value = value.substr(0, 197) + "...";
    std::printf("  %-*s  %-9s %s\n", static_cast<int>(key_width), std::string(key).c_str(),
                TypeText(f, key).c_str(), value.c_str());
  }

  size_t name_width = 4;
  for (const GgufTensorInfo& t : f.tensors()) name_width = std::max(name_width, t.name.size());
  std::printf("\ntensors (%zu):\n  %-*s  %-5s %-22s %12s %12s\n", f.tensors().size(),
              static_cast<int>(name_width), "NAME", "TYPE", "DIMS", "BYTES", "OFFSET");
  for (const GgufTensorInfo& t : f.tensors()) {
    std::printf("  %-*s  %-5s %-22s %12llu %12llu\n", static_cast<int>(name_width),
                t.name.c_str(), std::string(engine::TraitsOf(t.type).name).c_str(),
                DimsText(t).c_str(), static_cast<unsigned long long>(t.size_bytes),
                static_cast<unsigned long long>(t.offset));
  }
  std::printf("\nby type:\n");
  for (const auto& [id, tt] : by_type) {
    std::printf("  %-5s %5llu tensors %14s elements %12s %6.1f%%\n",
                std::string(engine::TraitsOf(static_cast<GgmlType>(id)).name).c_str(),
                static_cast<unsigned long long>(tt.count), HumanCount(tt.elements).c_str(),
                HumanBytes(tt.bytes).c_str(), share(tt.bytes));
  }
  std::printf("  total %5zu tensors %14s elements %12s\n", f.tensors().size(),
              HumanCount(params).c_str(), HumanBytes(tensor_bytes).c_str());
  return kExitOk;
}

StatusOr<GgmlType> ParseWeightType(const std::string& text) {
  std::optional<GgmlType> t = engine::ParseGgmlType(text);
  if (!t || !engine::IsWritableWeightType(*t)) {
    return InvalidArgumentError(fmt::format(
        "--type {}: expected one of f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, "
        "q6_k",
        text));
  }
  return *t;
}

struct MakeTestFlags {
  engine::TestModelOptions options;
  std::string output;
  std::string type = "f32";
  std::optional<std::string> vocab;
};

int MakeTest(MakeTestFlags& flags) {
  const char* cmd = "model make-test";
  StatusOr<GgmlType> type = ParseWeightType(flags.type);
  if (!type.ok()) return ReportError(cmd, type.status());
  flags.options.type = *type;
  std::unique_ptr<GgufFile> vocab;
  if (flags.vocab) {
    StatusOr<std::unique_ptr<GgufFile>> v = GgufFile::Open(*flags.vocab);
    if (!v.ok()) return ReportError(cmd, v.status().WithContext("--vocab"));
    vocab = std::move(v).value();
    flags.options.vocab = vocab.get();
  }
  engine::GgufWriter writer;
  StatusOr<engine::TestModelReport> report = engine::BuildTestModel(flags.options, writer);
  if (!report.ok()) return ReportError(cmd, report.status());
  if (Status st = writer.WriteFile(flags.output); !st.ok()) return ReportError(cmd, st);
  for (const std::string& fb : report->fallbacks) {
    std::fprintf(stderr, "fell back: %s\n", fb.c_str());
  }
  StatusOr<std::unique_ptr<GgufFile>> written = GgufFile::Open(flags.output);
  const uint64_t bytes = written.ok() ? (*written)->file_bytes() : 0;
  std::fprintf(stderr,
               "wrote %s: %s, %u layers, hidden %u, vocabulary %llu, %s parameters, %s, %s.\n"
               "Its weights are random: it runs like a real model but its output is noise.\n",
               flags.output.c_str(), flags.options.arch.c_str(), flags.options.n_layers,
               flags.options.n_embd, static_cast<unsigned long long>(report->n_vocab),
               HumanCount(report->parameters).c_str(),
               std::string(engine::TraitsOf(*type).name).c_str(), HumanBytes(bytes).c_str());
  return kExitOk;
}

struct QuantizeFlags {
  std::string input;
  std::string output;
  std::string type;
};

int Quantize(const QuantizeFlags& flags) {
  const char* cmd = "model quantize";
  StatusOr<GgmlType> type = ParseWeightType(flags.type);
  if (!type.ok()) return ReportError(cmd, type.status());
  StatusOr<std::unique_ptr<GgufFile>> in = GgufFile::Open(flags.input);
  if (!in.ok()) return ReportError(cmd, in.status());
  engine::QuantizeModelOptions options;
  options.type = *type;
  const bool big = (*in)->file_bytes() > (uint64_t{64} << 20);
  size_t last_decile = 0;
  options.progress = [&](size_t i, size_t n, const GgufTensorInfo& t) {
    if (!big || n == 0) return;
    const size_t decile = (i * 10) / n;
    if (i == 0 || decile != last_decile) {
      std::fprintf(stderr, "quantizing: tensor %zu of %zu (%s)\n", i + 1, n, t.name.c_str());
      last_decile = decile;
    }
  };
  StatusOr<engine::QuantizeModelReport> report = engine::QuantizeModel(**in, flags.output, options);
  if (!report.ok()) return ReportError(cmd, report.status());
  size_t converted = 0, fell_back = 0, copied = 0;
  for (const engine::QuantizedTensor& t : report->tensors) {
    using Action = engine::QuantizedTensor::Action;
    if (t.action == Action::kConverted) ++converted;
    if (t.action == Action::kCopied) ++copied;
    if (t.action == Action::kFellBack) {
      ++fell_back;
      std::fprintf(stderr, "fell back: %s: %s -> %s (rows of %llu values do not divide into %s "
                           "blocks)\n",
                   t.name.c_str(), std::string(engine::TraitsOf(t.from).name).c_str(),
                   std::string(engine::TraitsOf(t.to).name).c_str(),
                   static_cast<unsigned long long>((*in)->FindTensor(t.name)->dims[0]),
                   std::string(engine::TraitsOf(*type).name).c_str());
    }
  }
  std::printf("%s (%s) -> %s (%s, %.1f%%): %zu tensors converted to %s, %zu fell back, %zu "
              "copied as they were\n",
              flags.input.c_str(), HumanBytes(report->bytes_in).c_str(), flags.output.c_str(),
              HumanBytes(report->bytes_out).c_str(),
              report->bytes_in == 0 ? 0.0 : 100.0 * report->bytes_out / report->bytes_in,
              converted, std::string(engine::TraitsOf(*type).name).c_str(), fell_back, copied);
  return kExitOk;
}

}  // namespace

void AddModelCommand(CLI::App& app, CliContext& ctx) {
  CLI::App* model = app.add_subcommand("model", "Inspect, quantise, tokenize with and create GGUF model files");
  model->require_subcommand(1);

  auto info_path = std::make_shared<std::string>();
  auto info_json = std::make_shared<bool>(false);
  CLI::App* info = model->add_subcommand(
      "info", "Print a GGUF file's version, metadata, tensors and totals by type.");
  info->add_option("file", *info_path, "GGUF file")->required();
  info->add_flag("--json", *info_json, "Print JSON instead of text");
  info->callback([info_path, info_json, &ctx] { ctx.exit_code = Info(*info_path, *info_json); });

  auto mt = std::make_shared<MakeTestFlags>();
  CLI::App* make_test = model->add_subcommand(
      "make-test",
      "Write a small GGUF model with random weights (llama, qwen2 or bert) for tests and demos: "
      "it loads and runs like a real model, but its output is noise.\n"
      "Without --vocab it gets a built-in vocabulary: for llama and qwen2 a byte-level one (gpt2 "
      "model, gpt-2 pre-tokenizer, the 256 bytes, no merges, then <|endoftext|>, <|im_start|>, "
      "<|im_end|> and a ChatML template); for bert a WordPiece one ([PAD] [UNK] [CLS] [SEP] "
      "[MASK], then every printable ASCII character except capitals, bare and with the word-start "
      "marker).");
  make_test->add_option("--arch", mt->options.arch, "Architecture")
      ->required()
      ->check(CLI::IsMember({"llama", "qwen2", "bert"}));
  make_test->add_option("-o,--output", mt->output, "Output GGUF file")->required();
  make_test->add_option("--type", mt->type,
                        "Type of the 2-D weights: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, "
                        "q4_k, q5_k, q6_k (rows that do not divide fall back as llama-quantize "
                        "does; 1-D tensors stay f32)")
      ->capture_default_str();
  make_test->add_option("--vocab", mt->vocab,
                        "Copy every tokenizer.* key from this GGUF file (vocabulary-only or full)");
  make_test->add_option("--embd", mt->options.n_embd, "Hidden size")->capture_default_str();
  make_test->add_option("--layers", mt->options.n_layers, "Blocks")->capture_default_str();
  make_test->add_option("--heads", mt->options.n_heads, "Attention heads")->capture_default_str();
  make_test->add_option("--kv-heads", mt->options.n_kv_heads,
                        "Key/value heads (default: heads/2 for llama and qwen2, heads for bert)");
  make_test->add_option("--ff", mt->options.n_ff,
                        "Feed-forward size (default: 3 x embd; 4 x embd for bert)");
  make_test->add_option("--ctx", mt->options.n_ctx, "Context length")->capture_default_str();
  make_test->add_option("--seed", mt->options.seed, "Random seed")->capture_default_str();
  make_test->add_option("--rope-base", mt->options.rope_base,
                        "RoPE frequency base (default: 10000 for llama, 1000000 for qwen2)");
  make_test->add_flag("--tied", mt->options.tied,
                      "llama: no output.weight (the output reuses token_embd.weight)");
  make_test->callback([mt, &ctx] { ctx.exit_code = MakeTest(*mt); });

  auto q = std::make_shared<QuantizeFlags>();
  CLI::App* quantize = model->add_subcommand(
      "quantize",
      "Convert a GGUF model's F32/F16/BF16 weights to another type (1-D tensors and tensors "
      "already quantised are copied as they are).");
  quantize->add_option("input", q->input, "Input GGUF file")->required();
  quantize->add_option("output", q->output, "Output GGUF file (written atomically)")->required();
  quantize->add_option("--type", q->type,
                       "q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k, f16, bf16 or f32")
      ->required();
  quantize->callback([q, &ctx] { ctx.exit_code = Quantize(*q); });

  AddModelTokenizeCommand(*model, ctx);
}

}  // namespace sobre::cli
