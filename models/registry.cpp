#include "models/registry.hpp"

#include <map>
#include <mutex>
#include <sstream>

#include "models/lenet.hpp"
#include "models/mobilenet.hpp"
#include "models/resnet.hpp"

namespace intrain::models {

namespace {

struct Spec {
  std::string name;
  std::map<std::string, std::string> options;
};

Spec parse(const std::string& text) {
  Spec s;
  const auto colon = text.find(':');
  s.name = text.substr(0, colon);
  if (colon == std::string::npos) return s;
  std::stringstream rest(text.substr(colon + 1));
  std::string item;
  while (std::getline(rest, item, ',')) {
    const auto eq = item.find('=');
    INTRAIN_CHECK(eq != std::string::npos && eq > 0, "model '", text, "': option '", item, "' is not key=value");
    s.options[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return s;
}

double number(const Spec& s, const std::string& key, double fallback) {
  auto found = s.options.find(key);
  if (found == s.options.end()) return fallback;
  try {
    size_t used = 0;
    const double v = std::stod(found->second, &used);
    if (used == found->second.size()) return v;
  } catch (const std::exception&) {
  }
  throw Error("model '" + s.name + "': option " + key + "=" + found->second + " is not a number");
}

void allow_only(const Spec& s, std::initializer_list<const char*> keys) {
  for (const auto& [key, value] : s.options) {
    bool known = false;
    for (const char* k : keys) known = known || key == k;
    INTRAIN_CHECK(known, "model '", s.name, "' has no option '", key, "'");
  }
}

struct ModelSources {
  std::mutex mutex;
  std::map<std::string, ModelSource> by_prefix;
};
ModelSources& model_sources() {
  static ModelSources sources;
  return sources;
}

}  // namespace

void register_model_source(const std::string& prefix, ModelSource source) {
  ModelSources& sources = model_sources();
  std::lock_guard lock(sources.mutex);
  sources.by_prefix[prefix] = std::move(source);
}

std::vector<std::string> model_names() { return {"lenet", "lenet5_bn", "mobilenet_v1", "mobilenet_v2", "resnet18"}; }

nn::ModulePtr make_model(const std::string& text, Generator& gen) {
  if (const auto colon = text.find(':'); colon != std::string::npos) {
    ModelSource source;
    {
      ModelSources& sources = model_sources();
      std::lock_guard lock(sources.mutex);
      if (auto found = sources.by_prefix.find(text.substr(0, colon)); found != sources.by_prefix.end()) source = found->second;
    }
    if (source) return source(text.substr(colon + 1));  // the argument may hold ':' and ',' (a path)
  }
  const Spec s = parse(text);
  if (s.name == "lenet" || s.name == "lenet5_bn") {
    allow_only(s, {});
    return s.name == "lenet" ? lenet(gen) : lenet5_bn(gen);
  }
  allow_only(s, {"width", "classes", "in_channels", "small_input"});
  const auto classes = static_cast<int64_t>(number(s, "classes", 1000));
  const auto in_channels = static_cast<int64_t>(number(s, "in_channels", 3));
  const bool small_input = number(s, "small_input", 0) != 0;
  if (s.name == "mobilenet_v1" || s.name == "mobilenet_v2") {
    const MobileNetOptions o{.width = static_cast<float>(number(s, "width", 1.0)), .classes = classes,
                             .in_channels = in_channels, .small_input = small_input};
    return s.name == "mobilenet_v1" ? mobilenet_v1(o, gen) : mobilenet_v2(o, gen);
  }
  if (s.name == "resnet18") {
    INTRAIN_CHECK(!s.options.count("width"), "model 'resnet18' has no option 'width'");
    return resnet18({.classes = classes, .in_channels = in_channels, .small_input = small_input}, gen);
  }
  std::string known;
  for (const std::string& n : model_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error("unknown model '" + s.name + "' (known: " + known + ")");
}

std::string model_spec(const std::string& name, float width, int64_t classes, int64_t channels, int64_t side) {
  if (name.find(':') != std::string::npos || name == "lenet" || name == "lenet5_bn") return name;
  std::ostringstream out;
  out << name << ":";
  if (name != "resnet18") out << "width=" << width << ",";
  out << "classes=" << classes << ",in_channels=" << channels << ",small_input=" << (side < 64 ? 1 : 0);
  return out.str();
}

}  // namespace intrain::models
