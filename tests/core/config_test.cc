#include "core/config.h"

#include <gtest/gtest.h>

namespace sobre {
namespace {

TEST(ConfigTest, FlattensNestedMappings) {
  auto c = Config::Parse("footprint:\n  zone: FR\n  pue: 1.2\n  tags: [a, b]\n", "t.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(*c->GetString("footprint.zone"), "FR");
  EXPECT_DOUBLE_EQ(**c->GetDouble("footprint.pue"), 1.2);
  EXPECT_EQ(*c->GetString("footprint.tags"), "a,b");
  EXPECT_FALSE(c->GetDouble("footprint.missing")->has_value());
}

TEST(ConfigTest, BadNumberNamesFileLineAndKey) {
  auto c = Config::Parse("footprint:\n  zone: FR\n  pue: lots\n", "site.yaml");
  ASSERT_TRUE(c.ok());
  auto v = c->GetDouble("footprint.pue");
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("site.yaml:3: footprint.pue"), std::string::npos)
      << v.status().message();
}

TEST(ConfigTest, SyntaxErrorNamesTheLine) {
  auto c = Config::Parse("a: 1\nb: [1, 2\nc: 3\n", "broken.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("broken.yaml:"), std::string::npos);
}

TEST(ConfigTest, UnknownKeyIsRejectedWithSuggestion) {
  auto c = Config::Parse("footprint:\n  peu: 1.1\n", "s.yaml");
  ASSERT_TRUE(c.ok());
  Status s = c->CheckKnownKeys({"footprint.pue", "footprint.zone"});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("s.yaml:2: unknown setting 'footprint.peu'"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("footprint.pue"), std::string::npos);
}

TEST(ConfigTest, TopLevelMustBeAMapping) {
  EXPECT_FALSE(Config::Parse("- a\n- b\n", "l.yaml").ok());
  EXPECT_TRUE(Config::Parse("", "empty.yaml").ok());
}

TEST(ConfigTest, BoolValues) {
  auto c = Config::Parse("x: yes\ny: maybe\n", "b.yaml");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(**c->GetBool("x"));
  EXPECT_FALSE(c->GetBool("y").ok());
}

}  // namespace
}  // namespace sobre
