// libFuzzer target for the JSON reader and the CLI's model files: every input is a candidate
// file's text. rnnx::Error (parse_json) and rnnx::cli::BadInput (model_from_json) are clean
// refusals; anything else (another exception, a crash, a sanitizer report, a leak, a broken
// round trip) is a finding.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cli/cli.h"
#include "io/json.h"
#include "rnnx/error.h"

namespace {

using rnnx::io::Json;

// A broken invariant: __builtin_trap, which libFuzzer reports with the input.
void require(bool ok) {
  if (!ok) __builtin_trap();
}

// An accepted document written out reads back as the same document, in both styles.
void check_dump_round_trip(const Json& json) {
  const std::string once = json.dump();
  require(rnnx::io::parse_json(once).dump() == once);
  require(rnnx::io::parse_json(json.dump(2)).dump() == once);
}

// An accepted model written as model JSON (as `rnnx init` writes model.json) reads back as the
// same model.
void check_model_round_trip(const Json& json) {
  rnnx::Model model;
  try {
    model = rnnx::cli::model_from_json(json, "fuzz.json");
  } catch (const rnnx::cli::BadInput&) {
    return;
  } catch (const rnnx::Error&) {
    return;
  }
  require(!rnnx::describe(model).empty());  // what `rnnx run` and `rnnx init` print
  const std::string written = rnnx::cli::model_to_json(model).dump(2);
  const rnnx::Model again = rnnx::cli::model_from_json(rnnx::io::parse_json(written), "model.json");
  require(rnnx::cli::model_to_json(again).dump(2) == written);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Json json;
  try {
    json = rnnx::io::parse_json(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const rnnx::Error&) {
    return 0;
  }
  check_dump_round_trip(json);
  check_model_round_trip(json);
  return 0;
}
