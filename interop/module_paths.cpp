#include "interop/module_paths.hpp"

#include <cctype>

namespace intrain::interop {

Segments split_path(const std::string& path) {
  Segments out;
  size_t begin = 0;
  while (begin <= path.size()) {
    const size_t dot = path.find('.', begin);
    out.push_back(path.substr(begin, dot == std::string::npos ? std::string::npos : dot - begin));
    if (dot == std::string::npos) break;
    begin = dot + 1;
  }
  return out;
}

std::string join_segments(const Segments& s) {
  std::string out;
  for (const std::string& part : s) out += (out.empty() ? "" : ".") + part;
  return out;
}

bool is_module_path(const std::string& path) {
  if (path.empty()) return false;
  for (const std::string& part : split_path(path)) {
    if (part.empty()) return false;
    for (char c : part)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool scope_path(const std::string& node_name, Segments& out) {
  if (node_name.size() < 2 || node_name[0] != '/') return false;
  std::vector<std::string> scopes;
  size_t begin = 1;
  while (true) {
    const size_t slash = node_name.find('/', begin);
    if (slash == std::string::npos) break;
    scopes.push_back(node_name.substr(begin, slash - begin));
    begin = slash + 1;
  }
  out.clear();
  std::string previous;
  for (const std::string& scope : scopes) {
    if (!is_module_path(scope)) return false;
    const std::string rest = !previous.empty() && scope.rfind(previous + ".", 0) == 0 ? scope.substr(previous.size() + 1) : scope;
    for (const std::string& part : split_path(rest)) out.push_back(part);
    previous = scope;
  }
  return true;
}

std::shared_ptr<nn::Sequential> build_tree(std::vector<Item> items, std::set<std::string>& used) {
  auto seq = std::make_shared<nn::Sequential>();
  size_t i = 0;
  while (i < items.size()) {
    const std::string head = items[i].path.front();
    size_t j = i + 1;
    while (j < items.size() && items[j].path.front() == head) ++j;
    if (j == i + 1 && items[i].path.size() == 1) {
      seq->add(unique_name_in(used, head), items[i].module);
      i = j;
      continue;
    }
    std::set<std::string> group_used;
    auto inner = std::make_shared<nn::Sequential>();
    std::vector<Item> pending;
    auto flush = [&] {
      if (pending.empty()) return;
      auto sub = build_tree(std::move(pending), group_used);
      for (const auto& [name, child] : sub->children()) inner->add(name, child);
      pending.clear();
    };
    for (size_t k = i; k < j; ++k) {
      Item item = std::move(items[k]);
      if (item.path.size() == 1) {
        flush();
        if (dynamic_cast<nn::Residual*>(item.module.get())) inner->add("", item.module);
        else inner->add(unique_name_in(group_used, lower(item.module->type_name())), item.module);
      } else {
        item.path.erase(item.path.begin());
        pending.push_back(std::move(item));
      }
    }
    flush();
    seq->add(unique_name_in(used, head), inner);
    i = j;
  }
  return seq;
}

std::string unique_name_in(std::set<std::string>& used, const std::string& base) {
  std::string name = base;
  for (int k = 1; used.count(name); ++k) name = base + "_" + std::to_string(k);
  used.insert(name);
  return name;
}

}  // namespace intrain::interop
