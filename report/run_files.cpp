#include "report/run_files.hpp"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace intrain::report {

namespace {

using nlohmann::json;

json parse_file(const std::string& path) {
  std::ifstream in(path);
  INTRAIN_CHECK(in.good(), "'", path, "': cannot be read");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw Error(detail::concat("'", path, "': not valid JSON (", e.what(), ")"));
  }
}

// Field access that names the file and the field when the field is missing or of
// another type: these files come from other commands (or other tools) and may lag behind.
struct Fields {
  const json& object;
  const std::string& path;
  std::string where;  // "layers[3]" inside the file, or empty for the top level

  const json& at(const char* key) const {
    INTRAIN_CHECK(object.is_object(), "'", path, "': ", where.empty() ? "the top level" : where, " is not an object");
    auto found = object.find(key);
    INTRAIN_CHECK(found != object.end(), "'", path, "': ", where.empty() ? "" : where + ": ", "no field '", key, "'");
    return *found;
  }
  bool has(const char* key) const { return object.is_object() && object.contains(key); }
  std::string text(const char* key) const {
    const json& v = at(key);
    if (v.is_null()) return "";
    INTRAIN_CHECK(v.is_string(), "'", path, "': ", where.empty() ? "" : where + ": ", "'", key, "' is not a string");
    return v.get<std::string>();
  }
  double number(const char* key) const {
    const json& v = at(key);
    if (v.is_null()) return std::nan("");  // nlohmann writes NaN and infinity as null
    INTRAIN_CHECK(v.is_number(), "'", path, "': ", where.empty() ? "" : where + ": ", "'", key, "' is not a number");
    return v.get<double>();
  }
  int64_t integer(const char* key) const {
    const json& v = at(key);
    INTRAIN_CHECK(v.is_number_integer(), "'", path, "': ", where.empty() ? "" : where + ": ", "'", key,
                  "' is not an integer");
    return v.get<int64_t>();
  }
  double optional_number(const char* key) const { return has(key) ? number(key) : std::nan(""); }
  std::string optional_text(const char* key) const { return has(key) ? text(key) : ""; }
  const json& array(const char* key) const {
    const json& v = at(key);
    INTRAIN_CHECK(v.is_array(), "'", path, "': ", where.empty() ? "" : where + ": ", "'", key, "' is not an array");
    return v;
  }
};

}  // namespace

Metrics read_metrics(const std::string& path) {
  std::ifstream in(path);
  INTRAIN_CHECK(in.good(), "'", path, "': cannot be read");
  Metrics m;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json row;
    try {
      row = json::parse(line);
    } catch (const json::exception& e) {
      throw Error(detail::concat("'", path, "' line ", number, ": not valid JSON (", e.what(), ")"));
    }
    INTRAIN_CHECK(row.is_object(), "'", path, "' line ", number, ": not a JSON object");
    std::map<std::string, double> values;
    for (auto& [key, value] : row.items()) {
      if (value.is_number()) values[key] = value.get<double>();
      else if (value.is_null()) values[key] = std::nan("");
    }
    m.rows.push_back(std::move(values));
  }
  return m;
}

Sensitivity read_sensitivity(const std::string& path) {
  const json file = parse_file(path);
  const Fields top{file, path, ""};
  Sensitivity s;
  s.model = top.optional_text("model");
  s.dataset = top.optional_text("dataset");
  s.metric = top.optional_text("metric");
  s.float_accuracy = top.optional_number("float_accuracy");
  const json& layers = top.array("layers");
  for (size_t i = 0; i < layers.size(); ++i) {
    const Fields f{layers[i], path, "layers[" + std::to_string(i) + "]"};
    SensitivityLayer l;
    l.name = f.text("name");
    l.weight_bits = f.has("weight_bits") ? static_cast<int>(f.integer("weight_bits")) : 0;
    l.activation_bits = f.has("activation_bits") ? static_cast<int>(f.integer("activation_bits")) : 0;
    l.weights = f.has("weights") ? f.integer("weights") : 0;
    l.accuracy = f.optional_number("accuracy");
    l.accuracy_drop = f.optional_number("accuracy_drop");
    l.output_sqnr_db = f.optional_number("output_sqnr_db");
    s.layers.push_back(std::move(l));
  }
  return s;
}

Int8Debug read_int8_debug(const std::string& path) {
  const json file = parse_file(path);
  const Fields top{file, path, ""};
  Int8Debug d;
  d.program = top.optional_text("program");
  d.checkpoint = top.optional_text("checkpoint");
  d.kernels = top.has("kernels") && top.at("kernels").is_string() ? top.text("kernels") : "";
  d.images = top.has("images") ? top.integer("images") : 0;
  d.output_sqnr_db = top.optional_number("output_sqnr_db");
  const json& ops = top.array("ops");
  for (size_t i = 0; i < ops.size(); ++i) {
    const Fields f{ops[i], path, "ops[" + std::to_string(i) + "]"};
    Int8Op op;
    op.index = f.has("index") ? f.integer("index") : static_cast<int64_t>(i);
    op.kind = f.text("kind");
    op.layer = f.optional_text("layer");
    if (f.has("shape")) {
      const json& shape = f.at("shape");
      op.shape = shape.is_string() ? shape.get<std::string>() : shape.dump();  // "[1, 6, 24, 24]" either way
    }
    op.sqnr_db = f.number("sqnr_db");
    op.max_abs_error = f.optional_number("max_abs_error");
    op.fake_quant_sqnr_db = f.optional_number("fake_quant_sqnr_db");
    op.note = f.optional_text("note");
    d.ops.push_back(std::move(op));
  }
  return d;
}

Evaluation read_evaluation(const std::string& path) {
  const json file = parse_file(path);
  const Fields top{file, path, ""};
  Evaluation e;
  e.checkpoint = top.optional_text("checkpoint");
  e.dataset = top.optional_text("dataset");
  e.images = top.has("images") ? top.integer("images") : 0;
  e.accuracy = top.optional_number("top1_accuracy");
  if (top.has("confusion_matrix")) {
    const json& rows = top.array("confusion_matrix");
    for (size_t r = 0; r < rows.size(); ++r) {
      INTRAIN_CHECK(rows[r].is_array() && rows[r].size() == rows.size(), "'", path, "': confusion_matrix row ", r,
                    " is not an array of ", rows.size(), " counts");
      std::vector<int64_t> counts;
      for (const json& c : rows[r]) {
        INTRAIN_CHECK(c.is_number_integer() && c.get<int64_t>() >= 0, "'", path, "': confusion_matrix row ", r,
                      " holds ", c.dump(), ", not a count");
        counts.push_back(c.get<int64_t>());
      }
      e.confusion.push_back(std::move(counts));
    }
  }
  return e;
}

}  // namespace intrain::report
