// Tests for the .npy reader and writer: round trips, files written by hand byte by byte, every
// error the reader reports, and damaged files that must be rejected without crashing.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "io/npy.h"
#include "rnnx/error.h"
#include "support/test_support.h"

namespace rnnx::io {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;  // "..."s keeps embedded NUL bytes

// A fresh folder per test, removed afterwards.
class NpyTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  std::string write_file(const std::string& name, const std::string& bytes) const {
    const std::string file_path = path(name);
    std::ofstream file(file_path, std::ios::binary);
    file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    file.close();
    EXPECT_TRUE(file.good()) << file_path;
    return file_path;
  }

  static std::string read_file(const std::string& file_path) {
    std::ifstream file(file_path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  }

  // Reads `file_path` expecting an io_error whose one-line message starts with the path and
  // contains `phrase`; returns the message.
  static std::string expect_read_error(const std::string& file_path, const std::string& phrase) {
    try {
      read_npy(file_path);
    } catch (const Error& error) {
      const std::string message = error.what();
      EXPECT_EQ(error.status(), Status::io_error) << message;
      EXPECT_EQ(message.rfind(file_path + ": ", 0), 0u) << message;
      EXPECT_NE(message.find(phrase), std::string::npos) << message;
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
      return message;
    }
    ADD_FAILURE() << "read_npy(" << file_path << ") did not throw; expected: " << phrase;
    return {};
  }

  test::ScratchDir scratch_{"rnnx_test_npy"};
  fs::path dir_ = scratch_.path();
};

// A version 1.0 file around `header` (which the test pads itself) and raw data bytes.
std::string npy_v1(const std::string& header, const std::string& data = "") {
  std::string bytes = "\x93NUMPY\x01\x00"s;
  bytes += static_cast<char>(header.size() & 0xFF);
  bytes += static_cast<char>(header.size() >> 8);
  return bytes + header + data;
}

std::string header_for(const std::string& descr, const std::string& fortran,
                       const std::string& shape) {
  return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }\n";
}

template <typename T>
std::vector<T> decode(const NpyArray& array) {
  std::vector<T> values(array.data.size() / sizeof(T));
  if (!values.empty()) std::memcpy(values.data(), array.data.data(), array.data.size());
  return values;
}

template <typename T>
NpyArray sample_array(NpyType type, std::vector<std::size_t> shape) {
  std::size_t count = 1;
  for (std::size_t dim : shape) count *= dim;
  std::vector<T> values(count);
  for (std::size_t i = 0; i < count; ++i) {
    values[i] = static_cast<T>(static_cast<double>(i) * 1.25 - 7);  // negative and fractional
  }
  return make_npy(type, std::move(shape), values.data());
}

NpyArray sample(NpyType type, std::vector<std::size_t> shape) {
  switch (type) {
    case NpyType::f32:
      return sample_array<float>(type, std::move(shape));
    case NpyType::f64:
      return sample_array<double>(type, std::move(shape));
    case NpyType::i32:
      return sample_array<std::int32_t>(type, std::move(shape));
    case NpyType::i64:
      return sample_array<std::int64_t>(type, std::move(shape));
  }
  return {};
}

TEST(NpyBasics, TypeSizesDescrsCountsAndShapeStrings) {
  EXPECT_EQ(npy_type_size(NpyType::f32), 4u);
  EXPECT_EQ(npy_type_size(NpyType::f64), 8u);
  EXPECT_EQ(npy_type_size(NpyType::i32), 4u);
  EXPECT_EQ(npy_type_size(NpyType::i64), 8u);
  EXPECT_STREQ(npy_descr(NpyType::f32), "<f4");
  EXPECT_STREQ(npy_descr(NpyType::f64), "<f8");
  EXPECT_STREQ(npy_descr(NpyType::i32), "<i4");
  EXPECT_STREQ(npy_descr(NpyType::i64), "<i8");

  NpyArray array;
  EXPECT_EQ(array.count(), 1u);
  EXPECT_EQ(array.shape_string(), "()");
  array.shape = {3};
  EXPECT_EQ(array.count(), 3u);
  EXPECT_EQ(array.shape_string(), "(3,)");
  array.shape = {4, 2, 5};
  EXPECT_EQ(array.count(), 40u);
  EXPECT_EQ(array.shape_string(), "(4, 2, 5)");
  array.shape = {0, 3};
  EXPECT_EQ(array.count(), 0u);
}

TEST(NpyBasics, MakeNpyCopiesElements) {
  const std::int32_t values[] = {1, -2, 3, -4, 5, -6};
  const NpyArray array = make_npy(NpyType::i32, {2, 3}, values);
  EXPECT_EQ(array.type, NpyType::i32);
  EXPECT_EQ(array.shape, (std::vector<std::size_t>{2, 3}));
  EXPECT_EQ(decode<std::int32_t>(array), (std::vector<std::int32_t>{1, -2, 3, -4, 5, -6}));
  EXPECT_TRUE(make_npy(NpyType::f64, {0, 3}, nullptr).data.empty());
}

TEST_F(NpyTest, RoundTripsEveryTypeAndShape) {
  const std::vector<std::vector<std::size_t>> shapes = {{}, {5}, {2, 3, 4}, {0, 3}, {1, 1}};
  for (NpyType type : {NpyType::f32, NpyType::f64, NpyType::i32, NpyType::i64}) {
    for (const auto& shape : shapes) {
      const NpyArray written = sample(type, shape);
      SCOPED_TRACE(std::string(npy_descr(type)) + " " + written.shape_string());
      const std::string file_path = path("round_trip.npy");
      write_npy(file_path, written);

      const NpyArray read = read_npy(file_path);
      EXPECT_EQ(read.type, type);
      EXPECT_EQ(read.shape, shape);
      EXPECT_EQ(read.data, written.data);
      EXPECT_EQ(read.data.size(), written.count() * npy_type_size(type));

      // Version 1.0, and the data starts on a 64-byte boundary as the format asks writers to do.
      const std::string bytes = read_file(file_path);
      ASSERT_GE(bytes.size(), 10u);
      EXPECT_EQ(bytes.substr(0, 8), "\x93NUMPY\x01\x00"s);
      const std::size_t header_size =
          static_cast<unsigned char>(bytes[8]) + 256u * static_cast<unsigned char>(bytes[9]);
      EXPECT_EQ((10 + header_size) % 64, 0u);
      EXPECT_EQ(bytes[10 + header_size - 1], '\n');
      EXPECT_EQ(bytes.size(), 10 + header_size + written.data.size());
    }
  }
}

TEST_F(NpyTest, RoundTripKeepsExactValues) {
  const double values[] = {0.1, -1e-300, 2.5e17, std::nan(""), -0.0};
  write_npy(path("values.npy"), make_npy(NpyType::f64, {5}, values));
  const std::vector<double> read = decode<double>(read_npy(path("values.npy")));
  ASSERT_EQ(read.size(), 5u);
  EXPECT_EQ(std::memcmp(read.data(), values, sizeof values), 0);
}

TEST_F(NpyTest, WritesTheHeaderNumpyWrites) {
  const float values[] = {1, 2, 3};
  write_npy(path("f4.npy"), make_npy(NpyType::f32, {3}, values));
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }";
  const std::string expected_header = dict + std::string(128 - 10 - dict.size() - 1, ' ') + "\n";
  const std::string bytes = read_file(path("f4.npy"));
  EXPECT_EQ(bytes.substr(0, 10), "\x93NUMPY\x01\x00\x76\x00"s);  // 0x76 = 118 header bytes
  EXPECT_EQ(bytes.substr(10, 118), expected_header);
  EXPECT_EQ(bytes.size(), 128u + 12u);
}

TEST_F(NpyTest, ReadsAVersion1FileWrittenByHand) {
  // 10-byte preamble + 118-byte header = 128; then 1.5 and -0.25 as little-endian doubles.
  const std::string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
  const std::string header = dict + std::string(118 - dict.size() - 1, ' ') + "\n";
  const std::string bytes = "\x93NUMPY"s + "\x01\x00"s + "\x76\x00"s + header +
                            "\x00\x00\x00\x00\x00\x00\xF8\x3F"s +
                            "\x00\x00\x00\x00\x00\x00\xD0\xBF"s;
  ASSERT_EQ(bytes.size(), 128u + 16u);
  const NpyArray array = read_npy(write_file("hand.npy", bytes));
  EXPECT_EQ(array.type, NpyType::f64);
  EXPECT_EQ(array.shape, (std::vector<std::size_t>{2}));
  EXPECT_EQ(decode<double>(array), (std::vector<double>{1.5, -0.25}));
}

TEST_F(NpyTest, ReadsVersions2And3KeysInAnyOrderAndDoubleQuotes) {
  // int32 1, -2, 3, -4 in little-endian order.
  const std::string data = "\x01\x00\x00\x00\xFE\xFF\xFF\xFF\x03\x00\x00\x00\xFC\xFF\xFF\xFF"s;
  const std::string header = "{\"shape\": (2, 2), \"fortran_order\": False, \"descr\": \"<i4\"}\n";
  for (char major : {'\x02', '\x03'}) {
    const std::string bytes = "\x93NUMPY"s + major + "\x00"s + static_cast<char>(header.size()) +
                              "\x00\x00\x00"s + header + data;
    const NpyArray array = read_npy(write_file("v2.npy", bytes));
    EXPECT_EQ(array.type, NpyType::i32);
    EXPECT_EQ(array.shape, (std::vector<std::size_t>{2, 2}));
    EXPECT_EQ(decode<std::int32_t>(array), (std::vector<std::int32_t>{1, -2, 3, -4}));
  }
}

TEST_F(NpyTest, ReadsAHandWrittenScalarAndEmptyArray) {
  const NpyArray scalar = read_npy(write_file(
      "scalar.npy", npy_v1(header_for("<i8", "False", "()"), "\x2A\x00\x00\x00\x00\x00\x00\x00"s)));
  EXPECT_TRUE(scalar.shape.empty());
  EXPECT_EQ(decode<std::int64_t>(scalar), (std::vector<std::int64_t>{42}));

  const NpyArray empty =
      read_npy(write_file("empty.npy", npy_v1(header_for("<f4", "False", "(0, 3)"))));
  EXPECT_EQ(empty.shape, (std::vector<std::size_t>{0, 3}));
  EXPECT_TRUE(empty.data.empty());
}

TEST_F(NpyTest, WritesVersion2WhenTheHeaderDoesNotFitVersion1) {
  const std::vector<std::size_t> shape(30000, 1);  // "1, " 30000 times: over 65535 bytes
  const double value = 2.75;
  write_npy(path("big_header.npy"), make_npy(NpyType::f64, shape, &value));
  const std::string bytes = read_file(path("big_header.npy"));
  EXPECT_EQ(bytes.substr(0, 8), "\x93NUMPY\x02\x00"s);
  const NpyArray array = read_npy(path("big_header.npy"));
  EXPECT_EQ(array.shape, shape);
  EXPECT_EQ(decode<double>(array), (std::vector<double>{2.75}));
  EXPECT_EQ((bytes.size() - 8) % 64, 0u);
}

TEST_F(NpyTest, ReportsMissingAndUnreadableFiles) {
  expect_read_error(path("missing.npy"), "cannot open: No such file or directory");
  expect_read_error(dir_.string(), "is a directory");
}

TEST_F(NpyTest, ReportsBadMagicVersionAndTruncatedPreamble) {
  expect_read_error(write_file("text.npy", "hello, world"), "not a .npy file");
  expect_read_error(write_file("empty.npy", ""), "truncated: 0 bytes");
  expect_read_error(write_file("short.npy", "\x93NUMPY\x01"s), "truncated");
  expect_read_error(
      write_file("v4.npy", npy_v1(header_for("<f8", "False", "()")).replace(6, 1, "\x04")),
      "unsupported .npy format version 4.0 (rnnx reads 1.0, 2.0 and 3.0)");
  expect_read_error(
      write_file("v1_5.npy", npy_v1(header_for("<f8", "False", "()")).replace(7, 1, "\x05")),
      "unsupported .npy format version 1.5");
  expect_read_error(write_file("long_header.npy", "\x93NUMPY\x01\x00\xFF\x00{'descr'"s),
                    "truncated: the header is declared as 255 bytes but only 8 follow");
}

TEST_F(NpyTest, ReportsUnsupportedElementTypes) {
  for (const std::string descr : {">f8", "<f2", "|b1", "<u4", "<c16", "f8"}) {
    expect_read_error(
        write_file("type.npy", npy_v1(header_for(descr, "False", "(1,)"), "12345678")),
        "element type '" + descr + "' is not supported (use <f4, <f8, <i4 or <i8)");
  }
  // A structured dtype is a list, not a string.
  expect_read_error(
      write_file("struct.npy",
                 npy_v1("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }\n")),
      "malformed header: expected a quoted element type for 'descr'");
}

TEST_F(NpyTest, ReportsFortranOrder) {
  expect_read_error(
      write_file("fortran.npy", npy_v1(header_for("<f4", "True", "(2, 2)"), std::string(16, '\0'))),
      "fortran_order is True; rnnx reads C-order arrays only");
}

TEST_F(NpyTest, ReportsTruncatedAndLeftOverData) {
  const std::string truncated = write_file(
      "truncated.npy", npy_v1(header_for("<f8", "False", "(4, 2, 5)"), std::string(100, 'x')));
  EXPECT_EQ(
      expect_read_error(truncated, "truncated"),
      truncated + ": truncated: shape (4, 2, 5) of <f8 needs 320 data bytes, the file has 100");

  const std::string left_over =
      write_file("left_over.npy", npy_v1(header_for("<i4", "False", "(2,)"), std::string(12, 'x')));
  EXPECT_EQ(expect_read_error(left_over, "left over"),
            left_over +
                ": 4 bytes left over after the data: shape (2,) of <i4 needs 8 data bytes, the "
                "file has 12");
}

TEST_F(NpyTest, ReportsBadShapes) {
  expect_read_error(write_file("negative.npy", npy_v1(header_for("<f8", "False", "(3, -1)"))),
                    "shape has a negative dimension -1");
  expect_read_error(
      write_file("huge_dim.npy", npy_v1(header_for("<f8", "False", "(99999999999999999999999,)"))),
      "shape dimension 99999999999999999999999 is too large");
  // Each dimension fits in 64 bits, their product does not: this must not allocate or wrap.
  expect_read_error(
      write_file("overflow.npy", npy_v1(header_for("<f8", "False", "(4294967296, 4294967296)"))),
      "shape (4294967296, 4294967296) of <f8 is too large to address in memory");
  expect_read_error(write_file("not_tuple.npy", npy_v1(header_for("<f8", "False", "(3)"))),
                    "shape (N) is not a tuple; write (N,)");
  expect_read_error(write_file("list.npy", npy_v1(header_for("<f8", "False", "[3]"))),
                    "malformed header: expected a tuple");
}

TEST_F(NpyTest, ReportsMalformedHeaders) {
  const struct {
    std::string header;
    std::string phrase;
  } cases[] = {
      {"'descr': '<f8'}\n", "expected '{' at the start of the header"},
      {"{'descr' '<f8', 'fortran_order': False, 'shape': ()}\n", "expected ':' after key 'descr'"},
      {"{'descr': '<f8, 'fortran_order': False, 'shape': ()}\n",
       "expected ',' or '}' after the value of 'descr'"},
      {"{'descr': '<f8\n", "unterminated string"},
      {"{'descr': '<f8', 'fortran_order': false, 'shape': ()}\n", "expected True or False"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': () 'x': 1}\n",
       "expected ',' or '}' after the value of 'shape'"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (), 'extra': 1}\n",
       "unexpected key 'extra'"},
      {"{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': ()}\n",
       "key 'descr' appears twice"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': ()} x\n",
       "unexpected text after the closing '}'"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (\xE2\x80\x8B)}\n",
       "unexpected byte 0xE2"},
      {"{'descr': '<\\x66\\x38', 'fortran_order': False, 'shape': ()}\n", "escape sequences"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (1,,)}\n",
       "expected a non-negative integer"},
      {"", "expected '{'"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.header);
    expect_read_error(write_file("malformed.npy", npy_v1(c.header, std::string(8, '\0'))),
                      "malformed header: " + c.phrase);
  }
  expect_read_error(
      write_file("no_shape.npy", npy_v1("{'descr': '<f8', 'fortran_order': False}\n")),
      "the header has no 'shape' key");
  expect_read_error(write_file("no_descr.npy", npy_v1("{'fortran_order': False, 'shape': ()}\n")),
                    "the header has no 'descr' key");
  expect_read_error(write_file("no_order.npy", npy_v1("{'descr': '<f8', 'shape': ()}\n")),
                    "the header has no 'fortran_order' key");
}

TEST_F(NpyTest, EveryTruncationOfAValidFileIsReportedAsTruncated) {
  const double values[] = {1, 2, 3};
  write_npy(path("full.npy"), make_npy(NpyType::f64, {3}, values));
  const std::string bytes = read_file(path("full.npy"));
  for (std::size_t size = 0; size < bytes.size(); ++size) {
    SCOPED_TRACE(size);
    expect_read_error(write_file("cut.npy", bytes.substr(0, size)), "truncated");
  }
}

TEST_F(NpyTest, DamagedFilesThrowErrorsAndNeverCrash) {
  const std::int64_t values[] = {1, 2, 3, 4, 5, 6};
  write_npy(path("good.npy"), make_npy(NpyType::i64, {2, 3}, values));
  const std::string good = read_file(path("good.npy"));
  std::mt19937 random(12345);
  auto random_byte = [&] { return static_cast<char>(random() & 0xFF); };

  for (int trial = 0; trial < 600; ++trial) {
    std::string bytes;
    if (trial % 2 == 0) {  // flip a few bytes of a valid file, mostly in the preamble and header
      bytes = good;
      for (int flips = 1 + trial % 4; flips > 0; --flips) {
        bytes[random() % (trial % 3 == 0 ? bytes.size() : 80)] = random_byte();
      }
    } else {  // random bytes, sometimes behind a valid magic and version
      bytes = trial % 4 == 1 ? "\x93NUMPY"s + static_cast<char>(1 + trial % 3) + '\0' : "";
      for (std::size_t n = random() % 300; n > 0; --n) bytes += random_byte();
    }
    const std::string file_path = write_file("fuzz.npy", bytes);
    try {
      const NpyArray array = read_npy(file_path);
      EXPECT_EQ(array.data.size(), array.count() * npy_type_size(array.type));
    } catch (const Error& error) {
      EXPECT_EQ(error.status(), Status::io_error);
      EXPECT_EQ(std::string(error.what()).rfind(file_path + ": ", 0), 0u) << error.what();
    }
  }
}

// read_npy_bytes (the fuzz target's entry point, fuzz/npy_fuzz.cpp) is the same reader: the
// same array for a valid file, the same message (with the name in place of the path) otherwise.
TEST_F(NpyTest, ReadingFromMemoryMatchesReadingTheFile) {
  const std::int32_t values[] = {1, -2, 3, -4, 5, -6};
  write_npy(path("good.npy"), make_npy(NpyType::i32, {2, 3}, values));
  const std::string good = read_file(path("good.npy"));
  const NpyArray from_memory = read_npy_bytes(good.data(), good.size(), "good.npy");
  EXPECT_EQ(from_memory.type, NpyType::i32);
  EXPECT_EQ(from_memory.shape, (std::vector<std::size_t>{2, 3}));
  EXPECT_EQ(decode<std::int32_t>(from_memory), std::vector<std::int32_t>(values, values + 6));

  std::vector<std::string> damaged = {"", "\x93NUMPZ"s, good + "x", good.substr(0, 30),
                                      npy_v1(header_for("<f8", "False", "(1000000000000000,)"))};
  for (std::size_t size = 0; size < good.size(); size += 7) damaged.push_back(good.substr(0, size));
  for (const std::string& bytes : damaged) {
    const std::string file_path = write_file("damaged.npy", bytes);
    const std::string from_file = expect_read_error(file_path, "");
    try {
      read_npy_bytes(bytes.data(), bytes.size(), file_path);
      ADD_FAILURE() << "read_npy_bytes accepted what read_npy refused: " << from_file;
    } catch (const Error& error) {
      EXPECT_EQ(error.status(), Status::io_error);
      EXPECT_EQ(error.what(), from_file);
    }
  }
}

TEST_F(NpyTest, WriteRejectsDataThatDoesNotMatchTheShape) {
  NpyArray array;
  array.type = NpyType::f64;
  array.shape = {3};
  array.data.resize(16);
  const std::string file_path = path("mismatch.npy");
  try {
    write_npy(file_path, array);
    FAIL() << "write_npy accepted 16 bytes for shape (3,) of <f8";
  } catch (const Error& error) {
    EXPECT_EQ(error.status(), Status::invalid_argument);
    EXPECT_EQ(std::string(error.what()),
              file_path + ": shape (3,) of <f8 needs 24 data bytes, the array has 16");
  }
  EXPECT_FALSE(fs::exists(file_path));  // nothing written before the check
}

TEST_F(NpyTest, WriteReportsFilesThatCannotBeWritten) {
  const double value = 1;
  const NpyArray array = make_npy(NpyType::f64, {}, &value);
  const std::string folder = path("no_such_folder");
  try {
    write_npy(folder + "/out.npy", array);
    FAIL() << "write_npy into a missing folder did not throw";
  } catch (const Error& error) {
    EXPECT_EQ(error.status(), Status::io_error);
    EXPECT_EQ(std::string(error.what())
                  .rfind(folder + ": cannot create a file there: No such file or directory", 0),
              0u)
        << error.what();
  }
  // A device is not replaced by a file (a rename would do that, even to /dev/full, for root).
  if (fs::exists("/dev/full")) {
    try {
      write_npy("/dev/full", array);
      FAIL() << "write_npy to /dev/full did not throw";
    } catch (const Error& error) {
      EXPECT_EQ(error.status(), Status::io_error);
      EXPECT_EQ(std::string(error.what()).rfind("/dev: cannot replace full: not a regular file", 0),
                0u)
          << error.what();
    }
    EXPECT_TRUE(fs::is_character_file("/dev/full"));
  }
}

}  // namespace
}  // namespace rnnx::io
