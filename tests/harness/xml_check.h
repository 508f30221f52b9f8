#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coder::harness::testing {

/// An element of a parsed XML document; attribute values and text are unescaped.
struct XmlElement {
  std::string name;
  std::map<std::string, std::string> attributes;
  std::vector<XmlElement> children;
  std::string text;  ///< the element's own character data, concatenated

  std::vector<const XmlElement*> Children(std::string_view child_name) const {
    std::vector<const XmlElement*> out;
    for (const XmlElement& c : children)
      if (c.name == child_name) out.push_back(&c);
    return out;
  }
  const XmlElement* Child(std::string_view child_name) const {
    for (const XmlElement& c : children)
      if (c.name == child_name) return &c;
    return nullptr;
  }
  std::string Attribute(const std::string& key) const {
    const auto it = attributes.find(key);
    return it == attributes.end() ? "" : it->second;
  }
};

/// A strict well-formedness check of the XML subset the JUnit writer uses: an optional XML
/// declaration, one root element, elements with attributes (unique, quoted), character data, the
/// five predefined entities and numeric character references. Anything else is an error, and so is
/// what XML 1.0 forbids: invalid UTF-8, characters outside its Char production (raw or referenced),
/// a raw '<' or '&' in text or attribute values, "]]>" in text, mismatched or unclosed tags, content
/// after the root. On failure `error` says what and where.
class XmlCheck {
 public:
  static std::optional<XmlElement> Parse(std::string_view doc, std::string* error);

 private:
  explicit XmlCheck(std::string_view doc) : s_(doc) {}

  bool Fail(const std::string& what);
  bool Chars();
  void SkipSpace();
  bool Name(std::string& out);
  bool Reference(std::string& out);
  bool Element(XmlElement& out, int depth);

  std::string_view s_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace coder::harness::testing
