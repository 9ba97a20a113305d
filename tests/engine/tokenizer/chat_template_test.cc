// Chat templates: detection from Jinja text, and renderings compared with the outputs the model
// families document (Qwen / SmolLM2 ChatML, the Llama 2 and Llama 3 model cards, the Mistral
// Instruct model card, the TinyLlama-Chat model card for Zephyr).
#include "engine/tokenizer/chat_template.h"

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace sobre::engine {
namespace {

// A vocabulary whose BOS/EOS texts are `bos` / `eos`, with add_bos as given.
std::unique_ptr<Vocab> MakeVocab(const std::string& bos, const std::string& eos, bool add_bos) {
  VocabData d;
  d.model = "gpt2";
  d.pre = "gpt-2";
  d.tokens = {"a", bos, eos};
  d.types = {TokenType::kNormal, TokenType::kControl, TokenType::kControl};
  d.bos = 1;
  d.eos = 2;
  d.add_bos = add_bos;
  auto v = Vocab::Create(std::move(d));
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return std::move(*v);
}

std::string Render(ChatTemplateKind kind, const std::vector<ChatMessage>& m, bool gen, const Vocab& v) {
  auto r = RenderChat(kind, m, gen, v);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : "";
}

TEST(ChatTemplateTest, DetectsFamiliesFromJinja) {
  EXPECT_EQ(*DetectChatTemplate("{% for m in messages %}{{'<|im_start|>' + m['role']}}"), ChatTemplateKind::kChatMl);
  EXPECT_EQ(*DetectChatTemplate("{{ '<|start_header_id|>' + message['role'] }}"), ChatTemplateKind::kLlama3);
  EXPECT_EQ(*DetectChatTemplate("{{ '<|user|>\\n' + message['content'] + eos_token }}"), ChatTemplateKind::kZephyr);
  EXPECT_EQ(*DetectChatTemplate("{{ bos_token + '[INST] ' + '<<SYS>>\\n' }}"), ChatTemplateKind::kLlama2);
  EXPECT_EQ(*DetectChatTemplate("{{ bos_token }}{{ '[INST] ' + message['content'] + ' [/INST]' }}"),
            ChatTemplateKind::kMistral);
  EXPECT_EQ(DetectChatTemplate("{{ messages }}").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(DetectChatTemplate("").status().code(), StatusCode::kNotFound);
}

TEST(ChatTemplateTest, ParsesConfigNames) {
  EXPECT_EQ(*ParseChatTemplateName("ChatML"), ChatTemplateKind::kChatMl);
  EXPECT_EQ(*ParseChatTemplateName("llama3"), ChatTemplateKind::kLlama3);
  EXPECT_EQ(ChatTemplateName(*ParseChatTemplateName("zephyr")), "zephyr");
  auto bad = ParseChatTemplateName("vicuna");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("chatml, llama2"), std::string::npos);
}

TEST(ChatTemplateTest, ChatMl) {
  auto v = MakeVocab("<|endoftext|>", "<|im_end|>", false);
  EXPECT_EQ(Render(ChatTemplateKind::kChatMl,
                   {{"system", "You are a helpful assistant."}, {"user", "Hello"}}, true, *v),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(Render(ChatTemplateKind::kChatMl, {{"user", "Hi"}}, false, *v),
            "<|im_start|>user\nHi<|im_end|>\n");
}

TEST(ChatTemplateTest, Llama3WritesBosOnlyWhenTheTokenizerWillNot) {
  const std::vector<ChatMessage> m = {{"system", "You are a helpful AI assistant"},
                                      {"user", " What is France's capital? \n"}};
  const std::string body =
      "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful AI assistant<|eot_id|>"
      "<|start_header_id|>user<|end_header_id|>\n\nWhat is France's capital?<|eot_id|>"
      "<|start_header_id|>assistant<|end_header_id|>\n\n";
  auto adds = MakeVocab("<|begin_of_text|>", "<|eot_id|>", true);
  auto plain = MakeVocab("<|begin_of_text|>", "<|eot_id|>", false);
  EXPECT_EQ(Render(ChatTemplateKind::kLlama3, m, true, *adds), body);
  EXPECT_EQ(Render(ChatTemplateKind::kLlama3, m, true, *plain), "<|begin_of_text|>" + body);
}

TEST(ChatTemplateTest, Llama2) {
  auto v = MakeVocab("<s>", "</s>", true);
  const std::vector<ChatMessage> m = {{"system", "Be brief."},
                                      {"user", "Hi"},
                                      {"assistant", " Hello! "},
                                      {"user", "How are you?"}};
  EXPECT_EQ(Render(ChatTemplateKind::kLlama2, m, true, *v),
            "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] How are you? [/INST]");
  auto no_bos = MakeVocab("<s>", "</s>", false);
  EXPECT_EQ(Render(ChatTemplateKind::kLlama2, {{"user", "Hi"}}, true, *no_bos), "<s>[INST] Hi [/INST]");
  auto bad = RenderChat(ChatTemplateKind::kLlama2, std::vector<ChatMessage>{{"assistant", "x"}}, true, *v);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(ChatTemplateTest, Mistral) {
  auto v = MakeVocab("<s>", "</s>", false);
  EXPECT_EQ(Render(ChatTemplateKind::kMistral,
                   {{"user", "What is your favourite condiment?"},
                    {"assistant", "Well, lemon."},
                    {"user", "Do you have mayonnaise recipes?"}},
                   true, *v),
            "<s>[INST] What is your favourite condiment? [/INST]Well, lemon.</s> "
            "[INST] Do you have mayonnaise recipes? [/INST]");
  EXPECT_EQ(Render(ChatTemplateKind::kMistral, {{"system", "Be brief."}, {"user", "Hi"}}, true, *v),
            "<s>[INST] Be brief.\n\nHi [/INST]");
}

TEST(ChatTemplateTest, Zephyr) {
  auto v = MakeVocab("<s>", "</s>", true);
  EXPECT_EQ(Render(ChatTemplateKind::kZephyr,
                   {{"system", "You are a friendly chatbot who always responds in the style of a pirate"},
                    {"user", "How many helicopters can a human eat in one sitting?"}},
                   true, *v),
            "<|system|>\nYou are a friendly chatbot who always responds in the style of a pirate</s>\n"
            "<|user|>\nHow many helicopters can a human eat in one sitting?</s>\n<|assistant|>\n");
  EXPECT_FALSE(RenderChat(ChatTemplateKind::kZephyr, std::vector<ChatMessage>{{"tool", "x"}}, true, *v).ok());
}

TEST(ChatTemplateTest, TemplateRangesCoverOnlyTemplateText) {
  auto v = MakeVocab("<|endoftext|>", "<|im_end|>", false);
  auto r = RenderChatParts(ChatTemplateKind::kChatMl, std::vector<ChatMessage>{{"user", "XY"}}, true, *v);
  ASSERT_TRUE(r.ok());
  const size_t content = r->text.find("XY");
  for (const auto& [begin, end] : r->template_ranges) {
    EXPECT_TRUE(end <= content || begin >= content + 2);
  }
  ASSERT_EQ(r->template_ranges.size(), 2u);
  EXPECT_EQ(r->template_ranges.front().first, 0u);
  EXPECT_EQ(r->template_ranges.back().second, r->text.size());
}

}  // namespace
}  // namespace sobre::engine
