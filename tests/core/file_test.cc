#include "core/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

namespace sobre {
namespace {

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sobre_file_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string dir_;
};

TEST_F(FileTest, ReadFileRefusesHostileSizes) {
  std::string path = dir_ + "/big";
  std::ofstream(path) << std::string(1000, 'x');
  EXPECT_EQ(ReadFile(path)->size(), 1000u);
  auto small = ReadFile(path, 100);
  ASSERT_FALSE(small.ok());
  EXPECT_EQ(small.status().code(), StatusCode::kResourceExhausted);
}

TEST_F(FileTest, MissingFileIsNotFound) {
  auto r = ReadFile(dir_ + "/none");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find(dir_ + "/none"), std::string::npos);
}

TEST_F(FileTest, MappedFileSeesContents) {
  std::string path = dir_ + "/m";
  std::ofstream(path) << "hello";
  auto m = MappedFile::Open(path);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->view(), "hello");
  MappedFile moved = std::move(*m);
  EXPECT_EQ(moved.size_bytes(), 5u);
}

TEST_F(FileTest, AppendAndPread) {
  std::string path = dir_ + "/a";
  ASSERT_TRUE(AppendToFile(path, "12").ok());
  ASSERT_TRUE(AppendToFile(path, "34\n").ok());
  auto fd = OpenReadOnly(path);
  ASSERT_TRUE(fd.ok());
  EXPECT_EQ(*PreadSmall(fd->get(), path), "1234\n");
  // pread always reads from offset 0, so a second read sees the same bytes.
  EXPECT_EQ(*PreadSmall(fd->get(), path), "1234\n");
}

TEST_F(FileTest, UniqueFdClosesOnDestruction) {
  int raw;
  {
    auto fd = OpenReadOnly("/dev/null");
    ASSERT_TRUE(fd.ok());
    raw = fd->get();
    EXPECT_NE(::fcntl(raw, F_GETFD), -1);
  }
  EXPECT_EQ(::fcntl(raw, F_GETFD), -1);
}

}  // namespace
}  // namespace sobre
