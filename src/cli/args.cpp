#include <algorithm>
#include <string>

#include "cli/cli.h"

namespace rnnx::cli {

Args::Args(const std::vector<std::string>& argv, const std::vector<std::string>& value_options,
           const std::vector<std::string>& flags) {
  auto known = [](const std::vector<std::string>& list, const std::string& name) {
    return std::find(list.begin(), list.end(), name) != list.end();
  };
  for (std::size_t k = 0; k < argv.size(); ++k) {
    const std::string& arg = argv[k];
    if (arg.rfind("--", 0) != 0) throw BadInput("unexpected argument '" + arg + "'");
    const std::string name = arg.substr(2);
    if (values_.count(name) != 0) throw BadInput("option " + arg + " given twice");
    if (known(flags, name)) {
      values_[name] = "1";
    } else if (known(value_options, name)) {
      if (k + 1 >= argv.size()) throw BadInput("option " + arg + " needs a value");
      values_[name] = argv[++k];
    } else {
      throw BadInput("unknown option " + arg + " (try rnnx --help)");
    }
  }
}

const std::string& Args::get(const std::string& name) const {
  const auto it = values_.find(name);
  if (it == values_.end()) throw BadInput("option --" + name + " is required");
  return it->second;
}

std::string Args::get_or(const std::string& name, const std::string& fallback) const {
  return has(name) ? get(name) : fallback;
}

int Args::get_int(const std::string& name, int fallback, int lo, int hi) const {
  if (!has(name)) return fallback;
  const std::string& text = get(name);
  std::size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty() || value < lo || value > hi) {
    throw BadInput("option --" + name + " = '" + text + "': expected an integer in [" +
                   std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return static_cast<int>(value);
}

}  // namespace rnnx::cli
