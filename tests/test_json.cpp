// Tests for the strict JSON reader and writer: values of a model-like document, every rejection
// with its line and column, exact number round trips, escapes, and the file wrapper.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "io/json.h"
#include "rnnx/error.h"
#include "support/test_support.h"

namespace rnnx::io {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;

// Same bits, so that -0.0 differs from 0.0 and a NaN payload would count.
bool same_double(double a, double b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

std::string parse_error(const std::string& text) {
  try {
    parse_json(text);
  } catch (const Error& error) {
    EXPECT_EQ(error.status(), Status::invalid_argument) << error.what();
    return error.what();
  }
  ADD_FAILURE() << "parse_json accepted: " << text;
  return {};
}

TEST(JsonParse, ReadsAModelLikeDocument) {
  const Json doc = parse_json(R"({
  "format": "rnnx-model",
  "version": 1,
  "cell": "lstm",
  "bidirectional": false,
  "dropout": null,
  "layers": [
    {"input_size": 32, "hidden_size": 64, "bias": true},
    {"input_size": 128, "hidden_size": 64, "bias": true}
  ],
  "scale": -1.5e-3,
  "note": "caf\u00e9 \"quoted\" \\ tab\t"
})");
  ASSERT_TRUE(doc.is_object());
  const Json::Object& members = doc.as_object();
  ASSERT_EQ(members.size(), 8u);
  const std::vector<std::string> keys = {"format",  "version", "cell",  "bidirectional",
                                         "dropout", "layers",  "scale", "note"};
  for (std::size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(members[i].first, keys[i]);

  EXPECT_EQ(doc.find("format")->as_string(), "rnnx-model");
  EXPECT_EQ(doc.find("version")->as_number(), 1.0);
  EXPECT_FALSE(doc.find("bidirectional")->as_bool());
  EXPECT_TRUE(doc.find("dropout")->is_null());
  EXPECT_EQ(doc.find("scale")->as_number(), -1.5e-3);
  EXPECT_EQ(doc.find("note")->as_string(), "caf\xC3\xA9 \"quoted\" \\ tab\t");
  EXPECT_EQ(doc.find("missing"), nullptr);

  const Json::Array& layers = doc.find("layers")->as_array();
  ASSERT_EQ(layers.size(), 2u);
  EXPECT_EQ(layers[0].find("input_size")->as_number(), 32.0);
  EXPECT_EQ(layers[1].find("input_size")->as_number(), 128.0);
  EXPECT_EQ(layers[1].find("hidden_size")->as_number(), 64.0);
  EXPECT_TRUE(layers[1].find("bias")->as_bool());
}

TEST(JsonParse, ReadsScalarsAtTopLevelAndEmptyContainers) {
  EXPECT_TRUE(parse_json(" null ").is_null());
  EXPECT_TRUE(parse_json("true").as_bool());
  EXPECT_EQ(parse_json("\"\"").as_string(), "");
  EXPECT_TRUE(parse_json("[]").as_array().empty());
  EXPECT_TRUE(parse_json("{ \r\n\t}").as_object().empty());
  EXPECT_EQ(parse_json("[[[]]]").as_array()[0].as_array()[0].as_array().size(), 0u);
}

TEST(JsonParse, ReadsNumbersExactly) {
  EXPECT_EQ(parse_json("0").as_number(), 0.0);
  EXPECT_TRUE(std::signbit(parse_json("-0").as_number()));
  EXPECT_EQ(parse_json("1.5E3").as_number(), 1500.0);
  EXPECT_EQ(parse_json("1e+2").as_number(), 100.0);
  EXPECT_EQ(parse_json("25e-1").as_number(), 2.5);
  EXPECT_EQ(parse_json("0.1").as_number(), 0.1);
  EXPECT_EQ(parse_json("-2.5e17").as_number(), -2.5e17);
  EXPECT_EQ(parse_json("1.7976931348623157e308").as_number(), DBL_MAX);
  EXPECT_EQ(parse_json("4.9406564584124654e-324").as_number(),
            std::numeric_limits<double>::denorm_min());
  EXPECT_EQ(parse_json("9007199254740993").as_number(), 9007199254740992.0);  // nearest double
}

TEST(JsonParse, DecodesEscapesAndPassesUtf8Through) {
  EXPECT_EQ(parse_json(R"("\"\\\/\b\f\n\r\t")").as_string(), "\"\\/\b\f\n\r\t");
  EXPECT_EQ(parse_json(R"("\u0041\u00e9\u20AC")").as_string(), "A\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(parse_json(R"("\ud83d\ude00")").as_string(), "\xF0\x9F\x98\x80");  // U+1F600
  EXPECT_EQ(parse_json(R"("\u0000")").as_string(), "\0"s);
  EXPECT_EQ(parse_json("\"h\xC3\xA9llo \xF0\x9F\x98\x80\"").as_string(),
            "h\xC3\xA9llo \xF0\x9F\x98\x80");
}

TEST(JsonParse, RejectsMalformedTextWithLineAndColumn) {
  const struct {
    std::string text;
    std::string location;  // "line L, column C"
    std::string phrase;
  } cases[] = {
      {"", "line 1, column 1", "unexpected end of input; expected a value"},
      {"[1, 2,]", "line 1, column 6", "trailing comma before ']'"},
      {R"({"a": 1,})", "line 1, column 8", "trailing comma before '}'"},
      {"// note\n1", "line 1, column 1", "comments are not allowed"},
      {"[/* x */ 1]", "line 1, column 2", "comments are not allowed"},
      {"{'a': 1}", "line 1, column 2", "single quotes are not allowed"},
      {"['a']", "line 1, column 2", "single quotes are not allowed"},
      {R"("\x")", "line 1, column 2", "invalid escape: backslash followed by character 'x'"},
      {R"("\u12G4")", "line 1, column 2", "\\u must be followed by four hex digits"},
      {R"("ab\ud83d")", "line 1, column 4", "unpaired high surrogate \\ud83d"},
      {R"("\ude00")", "line 1, column 2", "unpaired low surrogate \\ude00"},
      {R"("\ud83d\u0041")", "line 1, column 2",
       "high surrogate \\ud83d is not followed by a low surrogate"},
      {"01", "line 1, column 1", "leading zeros are not allowed"},
      {"[-012]", "line 1, column 2", "leading zeros are not allowed"},
      {"1e400", "line 1, column 1", "number 1e400 is out of the range of a double"},
      {"[0, -1e400]", "line 1, column 5", "number -1e400 is out of the range of a double"},
      {"1e-400", "line 1, column 1", "out of the range of a double"},
      {R"({"a": 1, "a": 2})", "line 1, column 10", "duplicate key \"a\""},
      {"1 2", "line 1, column 3", "unexpected text after the JSON value"},
      {"{} x", "line 1, column 4", "unexpected text after the JSON value"},
      {"\"abc", "line 1, column 1", "unterminated string"},
      {"\"a\nb\"", "line 1, column 3", "unescaped control character 0x0A in string"},
      {"tru", "line 1, column 1", "invalid literal; expected 'true'"},
      {"True", "line 1, column 1", "unexpected character 'T'; expected a value"},
      {"NaN", "line 1, column 1", "unexpected character 'N'"},
      {"[Infinity]", "line 1, column 2", "unexpected character 'I'"},
      {"+1", "line 1, column 1", "unexpected character '+'"},
      {".5", "line 1, column 1", "unexpected character '.'"},
      {"1.", "line 1, column 3", "expected a digit after the decimal point"},
      {"1e", "line 1, column 3", "expected a digit in the exponent"},
      {"-", "line 1, column 2", "expected a digit after '-'"},
      {"[1,,2]", "line 1, column 4", "unexpected character ','"},
      {"[1 2]", "line 1, column 4", "expected ',' or ']' after array element"},
      {R"({"a" 1})", "line 1, column 6", "expected ':' after object key"},
      {"{1: 2}", "line 1, column 2", "expected a string in double quotes as object key"},
      {"\xEF\xBB\xBF{}", "line 1, column 1", "unexpected byte 0xEF"},
      {"\"\xFF\"", "line 1, column 2", "invalid UTF-8 byte 0xFF in string"},
      {"\"\xC3(\"", "line 1, column 2", "invalid UTF-8 sequence in string"},
      {"\"\xC0\xAF\"", "line 1, column 2", "invalid UTF-8 byte 0xC0"},
      {"\"\xE0\x80\xAF\"", "line 1, column 2", "overlong"},
      {"\"\xF4\x90\x80\x80\"", "line 1, column 2", "beyond U+10FFFF"},
      {"\"ab\xF0\x9F\x98\"", "line 1, column 4", "invalid UTF-8 sequence in string"},
      {"\"\xED\xA0\x80\"", "line 1, column 2", "surrogate"},
      // Columns count characters: the two-byte e-acute is one column.
      {"[\"\xC3\xA9\", x]", "line 1, column 7", "unexpected character 'x'"},
      {"{\n  \"cell\": \"gru\",\n  \"hidden\": 64 \"layers\": 2\n}", "line 3, column 16",
       "expected ',' or '}' after object member"},
      {"[\n1,\n\n  ]", "line 2, column 2", "trailing comma before ']'"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    const std::string message = parse_error(c.text);
    EXPECT_EQ(message.rfind(c.location + ": ", 0), 0u) << message;
    EXPECT_NE(message.find(c.phrase), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

TEST(JsonParse, LimitsNestingTo256Levels) {
  const Json deepest = parse_json(std::string(256, '[') + std::string(256, ']'));
  EXPECT_TRUE(deepest.is_array());
  const std::string message = parse_error(std::string(257, '[') + std::string(257, ']'));
  EXPECT_EQ(message, "line 1, column 257: nesting deeper than 256 levels");
  std::string objects_text;
  for (int i = 0; i < 300; ++i) objects_text += "{\"a\": ";
  const std::string objects = parse_error(objects_text);
  EXPECT_NE(objects.find("nesting deeper than 256 levels"), std::string::npos) << objects;
}

// Hostile inputs. Each checked against nlohmann-json 3.11.2 (issue 16), which differs here: it
// accepts duplicate keys (the last wins), a UTF-8 byte order mark and underflow to zero.
TEST(JsonHostile, DeepNestingStopsAtTheLimitWithoutRecursingFurther) {
  const int depth = 100000;
  const std::string arrays = std::string(depth, '[') + std::string(depth, ']');
  EXPECT_EQ(parse_error(arrays), "line 1, column 257: nesting deeper than 256 levels");
  std::string objects;
  for (int i = 0; i < depth; ++i) objects += "{\"k\":";
  EXPECT_EQ(parse_error(objects), "line 1, column 1281: nesting deeper than 256 levels");
  EXPECT_EQ(parse_error(std::string(depth, '[')),  // unclosed as well
            "line 1, column 257: nesting deeper than 256 levels");
}

TEST(JsonHostile, RefusesDuplicateKeysAtAnyDepthAndSpelling) {
  EXPECT_EQ(parse_error("{\"a\": 1,\n \"b\": {\"x\": 1, \"x\": 2}}"),
            "line 2, column 16: duplicate key \"x\"");
  EXPECT_EQ(parse_error(R"({"a": 1, "\u0061": 2})"), "line 1, column 10: duplicate key \"a\"");
  // The same key in sibling objects is not a duplicate.
  EXPECT_EQ(parse_json(R"([{"a": 1}, {"a": 2}])").as_array()[1].find("a")->as_number(), 2.0);
}

TEST(JsonHostile, HugeNumbers) {
  EXPECT_EQ(parse_json("1" + std::string(300, '0')).as_number(), 1e300);
  EXPECT_EQ(parse_json("0." + std::string(1000, '0') + "1e1001").as_number(), 1.0);
  EXPECT_EQ(parse_json("18446744073709551617").as_number(), 18446744073709551616.0);  // > 2^64
  const std::string too_big = "1" + std::string(400, '0');
  EXPECT_EQ(parse_error(too_big), "line 1, column 1: number " + too_big.substr(0, 40) +
                                      " is out of the range of a double");
  EXPECT_NE(parse_error("0." + std::string(400, '0') + "1").find("out of the range of a double"),
            std::string::npos);
  EXPECT_NE(parse_error("1e99999999999999999999").find("out of the range"), std::string::npos);
  EXPECT_NE(parse_error("-Infinity").find("expected a digit after '-'"), std::string::npos);
}

TEST(JsonHostile, RefusesInvalidUtf8InKeysAByteOrderMarkAndTrailingNul) {
  EXPECT_EQ(parse_error("\xEF\xBB\xBF{}"),
            "line 1, column 1: unexpected byte 0xEF; expected a value");
  EXPECT_EQ(parse_error("{\"k\xFF\": 1}"), "line 1, column 4: invalid UTF-8 byte 0xFF in string");
  EXPECT_EQ(parse_error("[1]\0"s), "line 1, column 4: unexpected text after the JSON value");
  EXPECT_EQ(parse_json("\"\xF4\x8F\xBF\xBF\"").as_string(), "\xF4\x8F\xBF\xBF");  // U+10FFFF
}

TEST(JsonDump, WritesOneLineOrPrettyPrinted) {
  Json doc;
  doc.set("name", "lstm");
  doc.set("sizes", Json::Array{1, 2});
  doc.set("empty", Json::Array{});
  doc.set("nested", Json::Object{{"k", nullptr}, {"on", true}});
  EXPECT_EQ(doc.dump(),
            R"({"name":"lstm","sizes":[1,2],"empty":[],"nested":{"k":null,"on":true}})");
  EXPECT_EQ(doc.dump(2), R"({
  "name": "lstm",
  "sizes": [
    1,
    2
  ],
  "empty": [],
  "nested": {
    "k": null,
    "on": true
  }
})");
  EXPECT_EQ(Json(Json::Object{}).dump(4), "{}");
  EXPECT_EQ(Json().dump(2), "null");
}

TEST(JsonDump, WritesNumbersThatReadBackExactly) {
  EXPECT_EQ(Json(3).dump(), "3");
  EXPECT_EQ(Json(-42.0).dump(), "-42");
  EXPECT_EQ(Json(-0.0).dump(), "-0");
  EXPECT_EQ(Json(1e15).dump(), "1000000000000000");  // integers below 2^53: no exponent
  EXPECT_EQ(Json(9007199254740991.0).dump(), "9007199254740991");
  EXPECT_EQ(Json(0.1).dump(), "0.1");
  EXPECT_EQ(Json(1e-300).dump(), "1e-300");
  EXPECT_EQ(Json(-2.5e17).dump(), "-2.5e+17");
  EXPECT_EQ(Json(std::nan("")).dump(), "null");
  EXPECT_EQ(Json(std::numeric_limits<double>::infinity()).dump(), "null");
  EXPECT_EQ(Json(Json::Array{-std::numeric_limits<double>::infinity()}).dump(), "[null]");

  std::vector<double> values = {0.1,     1e-300,
                                -2.5e17, 3,
                                -0.0,    1.0 / 3,
                                DBL_MAX, DBL_MIN,
                                -5e-324, 1e22,
                                0x1p53,  0x1p53 + 2,
                                1e23,    123456789.123456789,
                                -1e-7,   2.2250738585072009e-308};
  std::mt19937_64 random(2024);
  while (values.size() < 2000) {  // random bit patterns cover every exponent
    const std::uint64_t bits = random();
    double x = 0;
    std::memcpy(&x, &bits, sizeof x);
    if (std::isfinite(x)) values.push_back(x);
  }
  for (double x : values) {
    const std::string text = Json(x).dump();
    const double back = parse_json(text).as_number();
    EXPECT_TRUE(same_double(back, x)) << text << " read back as " << back;
  }
}

TEST(JsonDump, EscapesStringsAndRoundTrips) {
  EXPECT_EQ(Json("a\"b\\c\nd\te\x01\x1F\x7F/\xC3\xA9").dump(),
            "\"a\\\"b\\\\c\\nd\\te\\u0001\\u001F\x7F/\xC3\xA9\"");
  std::string every_byte;
  for (int c = 0; c < 128; ++c) every_byte += static_cast<char>(c);
  every_byte += "\xE2\x82\xAC\xF0\x9F\x98\x80";
  EXPECT_EQ(parse_json(Json(every_byte).dump()).as_string(), every_byte);
  EXPECT_EQ(Json(every_byte).dump().find_first_of("\n\r\t"s + '\0'), std::string::npos);

  const Json doc = parse_json(
      R"({"b": [1, 0.1, -2.5e17, 1e-300, "x\ud83d\ude00"], "a": {"z": null, "y": false}})");
  for (int indent : {-1, 0, 2, 4}) {
    SCOPED_TRACE(indent);
    const Json again = parse_json(doc.dump(indent));
    EXPECT_EQ(again.dump(), doc.dump());
    EXPECT_EQ(again.as_object()[0].first, "b");  // key order kept, not sorted
    EXPECT_EQ(again.find("b")->as_array()[1].as_number(), 0.1);
    EXPECT_EQ(again.find("b")->as_array()[4].as_string(), "x\xF0\x9F\x98\x80");
  }
}

TEST(JsonValue, TypedAccessReportsTheKind) {
  const Json number = 1.5;
  EXPECT_EQ(number.kind(), Json::Kind::number);
  try {
    number.as_string();
    FAIL() << "as_string on a number did not throw";
  } catch (const Error& error) {
    EXPECT_EQ(error.status(), Status::invalid_argument);
    EXPECT_STREQ(error.what(), "expected string, found number");
  }
  EXPECT_THROW(Json("x").as_number(), Error);
  EXPECT_THROW(Json(true).as_array(), Error);
  EXPECT_THROW(Json().as_object(), Error);
  EXPECT_THROW(Json(Json::Array{}).find("a"), Error);
  EXPECT_THROW(Json(2).set("a", 1), Error);
  EXPECT_THROW(Json("s").push_back(1), Error);
  EXPECT_STREQ(Json::kind_name(Json::Kind::boolean), "boolean");
  EXPECT_TRUE(Json("text").is_string());
  EXPECT_TRUE(Json(nullptr).is_null());
}

TEST(JsonValue, SetAndPushBackBuildContainers) {
  Json object;
  object.set("first", 1).set("second", 2).set("first", "replaced");
  ASSERT_TRUE(object.is_object());
  ASSERT_EQ(object.as_object().size(), 2u);
  EXPECT_EQ(object.as_object()[0].first, "first");  // replacing keeps the position
  EXPECT_EQ(object.find("first")->as_string(), "replaced");

  Json array;
  array.push_back(1).push_back("two").push_back(Json::Array{});
  EXPECT_EQ(array.dump(), R"([1,"two",[]])");
}

// A fresh folder for the file tests, removed afterwards.
class JsonFileTest : public ::testing::Test {
 protected:
  std::string write_file(const std::string& name, const std::string& text) const {
    const std::string path = (dir_ / name).string();
    std::ofstream file(path, std::ios::binary);
    file << text;
    return path;
  }
  static std::string read_error(const std::string& path) {
    try {
      read_json_file(path);
    } catch (const Error& error) {
      EXPECT_EQ(error.status(), Status::io_error) << error.what();
      return error.what();
    }
    ADD_FAILURE() << "read_json_file(" << path << ") did not throw";
    return {};
  }
  test::ScratchDir scratch_{"rnnx_test_json"};
  fs::path dir_ = scratch_.path();
};

TEST_F(JsonFileTest, ReadsAFile) {
  const std::string path = write_file("model.json", "{\"hidden_size\": 64}\n");
  EXPECT_EQ(read_json_file(path).find("hidden_size")->as_number(), 64.0);
}

TEST_F(JsonFileTest, ErrorsStartWithThePath) {
  const std::string missing = (dir_ / "missing.json").string();
  EXPECT_EQ(read_error(missing), missing + ": cannot open: No such file or directory");
  EXPECT_EQ(read_error(dir_.string()), dir_.string() + ": is a directory, not a JSON file");
  const std::string bad = write_file("bad.json", "{\n  \"a\": [1, 2,]\n}\n");
  EXPECT_EQ(read_error(bad), bad + ": line 2, column 13: trailing comma before ']'");
  const std::string empty = write_file("empty.json", "");
  EXPECT_EQ(read_error(empty),
            empty + ": line 1, column 1: unexpected end of input; expected a value");
}

}  // namespace
}  // namespace rnnx::io
