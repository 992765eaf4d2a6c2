#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "portdemo/json.hpp"

namespace portdemo {
namespace {

using namespace std::string_literals;

// ---- json_string / append_json_string ----------------------------------------------------

TEST(JsonString, PlainText) {
  EXPECT_EQ(json_string("127.0.0.1"), "\"127.0.0.1\"");
  EXPECT_EQ(json_string(""), "\"\"");
}

TEST(JsonString, QuotesAndBackslash) {
  EXPECT_EQ(json_string("say \"hi\""), R"("say \"hi\"")");
  EXPECT_EQ(json_string("C:\\path"), R"("C:\\path")");
  EXPECT_EQ(json_string("\\\""), R"("\\\"")");
}

TEST(JsonString, NamedControlCharacters) {
  EXPECT_EQ(json_string("a\nb"), R"("a\nb")");
  EXPECT_EQ(json_string("a\rb"), R"("a\rb")");
  EXPECT_EQ(json_string("a\tb"), R"("a\tb")");
}

TEST(JsonString, OtherControlCharactersAsUnicodeEscapes) {
  EXPECT_EQ(json_string("\x01"), R"("\u0001")");
  EXPECT_EQ(json_string("\x1b[31m"), R"("\u001b[31m")");
  EXPECT_EQ(json_string("\b\f"), R"("\u0008\u000c")");
  EXPECT_EQ(json_string("\x1f"), R"("\u001f")");
  EXPECT_EQ(json_string("\x7f"), R"("\u007f")");
  EXPECT_EQ(json_string("a\0b"s), R"("a\u0000b")");
}

TEST(JsonString, SlashAndUtf8PassThrough) {
  EXPECT_EQ(json_string("a/b"), R"("a/b")");
  EXPECT_EQ(json_string("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
}

TEST(AppendJsonString, Appends) {
  std::string out = "{\"k\":";
  append_json_string(out, "v\"");
  EXPECT_EQ(out, R"({"k":"v\"")");
}

TEST(JsonString, RoundTripsThroughTheParserForEveryByte) {
  std::string all;
  for (int c = 0; c < 128; ++c) all += static_cast<char>(c);
  auto v = parse_json(json_string(all));
  ASSERT_TRUE(v);
  ASSERT_TRUE(v->as_string());
  EXPECT_EQ(*v->as_string(), all);
}

// ---- parse_json: valid documents ---------------------------------------------------------

TEST(ParseJson, Scalars) {
  ASSERT_TRUE(parse_json("null"));
  EXPECT_TRUE(std::holds_alternative<std::nullptr_t>(parse_json("null")->value));
  EXPECT_EQ(std::get<bool>(parse_json("true")->value), true);
  EXPECT_EQ(std::get<bool>(parse_json("false")->value), false);
  EXPECT_EQ(*parse_json("\"x\"")->as_string(), "x");
}

TEST(ParseJson, Numbers) {
  EXPECT_EQ(*parse_json("0")->as_number(), 0.0);
  EXPECT_EQ(*parse_json("8080")->as_number(), 8080.0);
  EXPECT_EQ(*parse_json("-12")->as_number(), -12.0);
  EXPECT_EQ(*parse_json("2.5")->as_number(), 2.5);
  EXPECT_EQ(*parse_json("1e3")->as_number(), 1000.0);
  EXPECT_EQ(*parse_json("1E+2")->as_number(), 100.0);
  EXPECT_EQ(*parse_json("25e-1")->as_number(), 2.5);
  EXPECT_EQ(*parse_json("18446744073709551615")->as_number(), 18446744073709551615.0);
}

TEST(ParseJson, LeadingZerosAreAccepted) {
  // Documented leniency: RFC 8259 forbids "01", this parser reads it as 1. It only reads the
  // server's own lines, which never have them.
  ASSERT_TRUE(parse_json("01"));
  EXPECT_EQ(*parse_json("01")->as_number(), 1.0);
  EXPECT_EQ(*parse_json("-007")->as_number(), -7.0);
}

TEST(ParseJson, SurroundingWhitespace) {
  auto v = parse_json(" \t\r\n{ \"a\" : [ 1 , 2 ] }\n");
  ASSERT_TRUE(v);
  ASSERT_TRUE(v->find("a"));
}

TEST(ParseJson, ObjectKeepsMembersInOrder) {
  auto v = parse_json(R"({"b":1,"a":"two","c":null,"d":{"e":[true,false]}})");
  ASSERT_TRUE(v);
  const auto& obj = std::get<json_value::object>(v->value);
  ASSERT_EQ(obj.size(), 4u);
  EXPECT_EQ(obj[0].first, "b");
  EXPECT_EQ(obj[1].first, "a");
  EXPECT_EQ(obj[2].first, "c");
  EXPECT_EQ(obj[3].first, "d");
  EXPECT_EQ(*v->find("b")->as_number(), 1.0);
  EXPECT_EQ(*v->find("a")->as_string(), "two");
  const auto& e = std::get<json_value::array>(v->find("d")->find("e")->value);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(std::get<bool>(e[0].value), true);
}

TEST(ParseJson, EmptyContainers) {
  EXPECT_TRUE(std::get<json_value::object>(parse_json("{}")->value).empty());
  EXPECT_TRUE(std::get<json_value::array>(parse_json("[]")->value).empty());
  EXPECT_TRUE(std::get<json_value::array>(parse_json("[ ]")->value).empty());
  EXPECT_TRUE(std::get<json_value::object>(parse_json("{ }")->value).empty());
}

TEST(ParseJson, FindOnlyOnObjects) {
  auto v = parse_json(R"({"a":1,"a":2})");
  ASSERT_TRUE(v);
  EXPECT_EQ(*v->find("a")->as_number(), 1.0);  // the first of duplicate keys
  EXPECT_EQ(v->find("missing"), nullptr);
  EXPECT_EQ(parse_json("[1]")->find("a"), nullptr);
  EXPECT_EQ(parse_json("\"a\"")->find("a"), nullptr);
  EXPECT_EQ(parse_json("1")->as_string(), nullptr);
  EXPECT_EQ(parse_json("\"1\"")->as_number(), nullptr);
}

TEST(ParseJson, StringEscapes) {
  auto v = parse_json(R"("q\" b\\ s\/ \b\f\n\r\t")");
  ASSERT_TRUE(v);
  EXPECT_EQ(*v->as_string(), "q\" b\\ s/ \b\f\n\r\t");
}

TEST(ParseJson, UnicodeEscapesBecomeUtf8) {
  EXPECT_EQ(*parse_json(R"("\u0041")")->as_string(), "A");
  EXPECT_EQ(*parse_json(R"("\u00e9")")->as_string(), "\xc3\xa9");
  EXPECT_EQ(*parse_json(R"("\u00E9")")->as_string(), "\xc3\xa9");
  EXPECT_EQ(*parse_json(R"("\u20ac")")->as_string(), "\xe2\x82\xac");
  EXPECT_EQ(*parse_json(R"("\u0000")")->as_string(), "\0"s);
}

TEST(ParseJson, RawUtf8InStrings) {
  EXPECT_EQ(*parse_json("\"caf\xc3\xa9\"")->as_string(), "caf\xc3\xa9");
}

// ---- parse_json: nesting -------------------------------------------------------------------

std::string nested_arrays(int levels, std::string_view inner = "") {
  return std::string(static_cast<std::size_t>(levels), '[') + std::string(inner) +
         std::string(static_cast<std::size_t>(levels), ']');
}

std::string nested_objects(int levels) {
  std::string out;
  for (int i = 0; i < levels; ++i) out += "{\"a\":";
  out += "{}";
  for (int i = 0; i < levels; ++i) out += "}";
  return out;  // levels + 1 objects
}

TEST(ParseJsonNesting, ThirtyTwoLevelsAreAccepted) {
  EXPECT_TRUE(parse_json(nested_arrays(32)));
  EXPECT_TRUE(parse_json(nested_arrays(31, "1")));  // 32 levels: 31 arrays and the number
  EXPECT_TRUE(parse_json(nested_objects(31)));      // 32 objects
}

TEST(ParseJsonNesting, ThirtyThreeLevelsAreRefused) {
  EXPECT_FALSE(parse_json(nested_arrays(33))) << "33 nested arrays";
  EXPECT_FALSE(parse_json(nested_objects(32))) << "33 nested objects";
}

TEST(ParseJsonNesting, ThirtyThreeLevelsWithAValueInsideAreRefused) {
  EXPECT_FALSE(parse_json(nested_arrays(33, "1")));
}

TEST(ParseJsonNesting, DeepInputIsRefusedWithoutExhaustingTheStack) {
  EXPECT_FALSE(parse_json(nested_arrays(100000)));
  EXPECT_FALSE(parse_json(std::string(100000, '[')));
}

// ---- parse_json: malformed input ---------------------------------------------------------

TEST(ParseJsonRefuses, EmptyAndBlank) {
  EXPECT_FALSE(parse_json(""));
  EXPECT_FALSE(parse_json("   \n"));
}

TEST(ParseJsonRefuses, TrailingGarbage) {
  EXPECT_FALSE(parse_json("{} x"));
  EXPECT_FALSE(parse_json("{}{}"));
  EXPECT_FALSE(parse_json("{},"));
  EXPECT_FALSE(parse_json("1 2"));
  EXPECT_FALSE(parse_json("truex"));
  EXPECT_FALSE(parse_json("nulll"));
  EXPECT_FALSE(parse_json("\"a\"\""));
}

TEST(ParseJsonRefuses, UnterminatedStrings) {
  EXPECT_FALSE(parse_json("\"abc"));
  EXPECT_FALSE(parse_json("\"abc\\\""));
  EXPECT_FALSE(parse_json("\"abc\\"));
  EXPECT_FALSE(parse_json("{\"a"));
  EXPECT_FALSE(parse_json("{\"a\":\"b}"));
}

TEST(ParseJsonRefuses, BadEscapes) {
  EXPECT_FALSE(parse_json(R"("\x41")"));
  EXPECT_FALSE(parse_json(R"("\a")"));
  EXPECT_FALSE(parse_json(R"("\')"));
  EXPECT_FALSE(parse_json(R"("\u12")"));
  EXPECT_FALSE(parse_json(R"("\u12G4")"));
  EXPECT_FALSE(parse_json(R"("\u")"));
  EXPECT_FALSE(parse_json(R"("\u-123")"));
  EXPECT_FALSE(parse_json(R"("\u+123")"));
  EXPECT_FALSE(parse_json(R"("\U0041")"));
}

TEST(ParseJsonRefuses, RawControlCharactersInStrings) {
  EXPECT_FALSE(parse_json("\"a\nb\""));
  EXPECT_FALSE(parse_json("\"a\tb\""));
  EXPECT_FALSE(parse_json("\"a\0b\""s));
}

TEST(ParseJsonRefuses, BadNumbers) {
  EXPECT_FALSE(parse_json("-"));
  EXPECT_FALSE(parse_json("+1"));
  EXPECT_FALSE(parse_json(".5"));
  EXPECT_FALSE(parse_json("1."));
  EXPECT_FALSE(parse_json("1e"));
  EXPECT_FALSE(parse_json("1e+"));
  EXPECT_FALSE(parse_json("0x10"));
  EXPECT_FALSE(parse_json("NaN"));
  EXPECT_FALSE(parse_json("Infinity"));
  EXPECT_FALSE(parse_json("1e999"));
  EXPECT_FALSE(parse_json("--1"));
}

TEST(ParseJsonRefuses, BadLiterals) {
  EXPECT_FALSE(parse_json("tru"));
  EXPECT_FALSE(parse_json("True"));
  EXPECT_FALSE(parse_json("nul"));
  EXPECT_FALSE(parse_json("undefined"));
}

TEST(ParseJsonRefuses, BadStructure) {
  EXPECT_FALSE(parse_json("{"));
  EXPECT_FALSE(parse_json("}"));
  EXPECT_FALSE(parse_json("["));
  EXPECT_FALSE(parse_json("[1,]"));
  EXPECT_FALSE(parse_json("[,1]"));
  EXPECT_FALSE(parse_json("[1 2]"));
  EXPECT_FALSE(parse_json("{\"a\":1,}"));
  EXPECT_FALSE(parse_json("{\"a\" 1}"));
  EXPECT_FALSE(parse_json("{\"a\":}"));
  EXPECT_FALSE(parse_json("{a:1}"));
  EXPECT_FALSE(parse_json("{'a':1}"));
  EXPECT_FALSE(parse_json("{1:1}"));
  EXPECT_FALSE(parse_json("[1}"));
  EXPECT_FALSE(parse_json("{\"a\":1]"));
  EXPECT_FALSE(parse_json("{\"a\":1 \"b\":2}"));
}

TEST(ParseJsonRefuses, NonJsonWhitespace) {
  EXPECT_FALSE(parse_json("\f{}"));
  EXPECT_FALSE(parse_json("{}\v"));
}

}  // namespace
}  // namespace portdemo
