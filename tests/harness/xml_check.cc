#include "tests/harness/xml_check.h"

#include <cctype>
#include <cstdlib>

namespace coder::harness::testing {
namespace {

bool IsXmlChar(uint32_t cp) {
  return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) || (cp >= 0xE000 && cp <= 0xFFFD) ||
         (cp >= 0x10000 && cp <= 0x10FFFF);
}

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool NameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
bool NameChar(char c) { return NameStart(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.'; }

}  // namespace

std::optional<XmlElement> XmlCheck::Parse(std::string_view doc, std::string* error) {
  XmlCheck p(doc);
  XmlElement root;
  bool ok = p.Chars();
  if (ok && doc.substr(0, 5) == "<?xml") {
    const size_t end = doc.find("?>");
    ok = end != std::string_view::npos || p.Fail("unterminated XML declaration");
    p.pos_ = ok ? end + 2 : 0;
  }
  if (ok) {
    p.SkipSpace();
    ok = p.Element(root, 0);
  }
  if (ok) {
    p.SkipSpace();
    ok = p.pos_ == doc.size() || p.Fail("content after the root element");
  }
  if (!ok) {
    if (error) *error = p.error_;
    return std::nullopt;
  }
  return root;
}

bool XmlCheck::Fail(const std::string& what) {
  if (error_.empty()) error_ = what + " at byte " + std::to_string(pos_);
  return false;
}

// Every character of the document, decoded: well-formed UTF-8 and in XML 1.0's Char production.
bool XmlCheck::Chars() {
  for (size_t i = 0; i < s_.size();) {
    const auto c = static_cast<unsigned char>(s_[i]);
    const size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    pos_ = i;
    if (len == 0 || i + len > s_.size()) return Fail("invalid UTF-8");
    uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s_[i + k]);
      if ((cc & 0xC0) != 0x80) return Fail("invalid UTF-8");
      cp = (cp << 6) | (cc & 0x3F);
    }
    const uint32_t min = len == 1 ? 0 : len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (cp < min) return Fail("overlong UTF-8");
    if (!IsXmlChar(cp)) return Fail("a character XML 1.0 forbids (code point " + std::to_string(cp) + ")");
    i += len;
  }
  pos_ = 0;
  return true;
}

void XmlCheck::SkipSpace() {
  while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r')) ++pos_;
}

bool XmlCheck::Name(std::string& out) {
  if (pos_ >= s_.size() || !NameStart(s_[pos_])) return Fail("expected a name");
  const size_t start = pos_;
  while (pos_ < s_.size() && NameChar(s_[pos_])) ++pos_;
  out = std::string(s_.substr(start, pos_ - start));
  return true;
}

bool XmlCheck::Reference(std::string& out) {
  const size_t semi = s_.find(';', pos_);
  if (semi == std::string_view::npos || semi - pos_ > 12) return Fail("a bare '&'");
  const std::string_view ref = s_.substr(pos_ + 1, semi - pos_ - 1);
  if (ref == "amp") out += '&';
  else if (ref == "lt") out += '<';
  else if (ref == "gt") out += '>';
  else if (ref == "quot") out += '"';
  else if (ref == "apos") out += '\'';
  else if (ref.size() > 1 && ref[0] == '#') {
    const bool hex = ref[1] == 'x';
    const std::string digits(ref.substr(hex ? 2 : 1));
    if (digits.empty()) return Fail("an empty character reference");
    for (char c : digits)
      if (!(hex ? std::isxdigit(static_cast<unsigned char>(c)) : std::isdigit(static_cast<unsigned char>(c))))
        return Fail("a malformed character reference");
    const unsigned long cp = std::strtoul(digits.c_str(), nullptr, hex ? 16 : 10);
    if (cp > 0x10FFFF || !IsXmlChar(static_cast<uint32_t>(cp))) return Fail("a reference to a character XML forbids");
    AppendUtf8(out, static_cast<uint32_t>(cp));
  } else {
    return Fail("an unknown entity &" + std::string(ref) + ";");
  }
  pos_ = semi + 1;
  return true;
}

bool XmlCheck::Element(XmlElement& out, int depth) {
  if (depth > 64) return Fail("nesting too deep");
  if (pos_ >= s_.size() || s_[pos_] != '<') return Fail("expected '<'");
  ++pos_;
  if (!Name(out.name)) return false;
  for (;;) {
    const size_t before = pos_;
    SkipSpace();
    if (pos_ >= s_.size()) return Fail("unterminated start tag");
    if (s_.substr(pos_, 2) == "/>") {
      pos_ += 2;
      return true;
    }
    if (s_[pos_] == '>') {
      ++pos_;
      break;
    }
    if (pos_ == before) return Fail("expected a space before an attribute");
    std::string key;
    if (!Name(key)) return false;
    SkipSpace();
    if (pos_ >= s_.size() || s_[pos_] != '=') return Fail("expected '='");
    ++pos_;
    SkipSpace();
    if (pos_ >= s_.size() || (s_[pos_] != '"' && s_[pos_] != '\'')) return Fail("expected a quoted value");
    const char quote = s_[pos_++];
    std::string value;
    while (pos_ < s_.size() && s_[pos_] != quote) {
      if (s_[pos_] == '<') return Fail("a raw '<' in an attribute value");
      if (s_[pos_] == '&') {
        if (!Reference(value)) return false;
        continue;
      }
      // Attribute-value normalisation: a literal tab or newline reads as a space.
      value += s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r' ? ' ' : s_[pos_];
      ++pos_;
    }
    if (pos_ >= s_.size()) return Fail("unterminated attribute value");
    ++pos_;
    if (!out.attributes.emplace(key, value).second) return Fail("a duplicate attribute " + key);
  }
  for (;;) {
    if (pos_ >= s_.size()) return Fail("unclosed element <" + out.name + ">");
    if (s_.substr(pos_, 2) == "</") {
      pos_ += 2;
      std::string closing;
      if (!Name(closing)) return false;
      if (closing != out.name) return Fail("</" + closing + "> closes <" + out.name + ">");
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != '>') return Fail("expected '>'");
      ++pos_;
      return true;
    }
    if (s_[pos_] == '<') {
      if (s_.substr(pos_, 2) == "<!" || s_.substr(pos_, 2) == "<?") return Fail("markup this writer never uses");
      out.children.emplace_back();
      if (!Element(out.children.back(), depth + 1)) return false;
      continue;
    }
    if (s_[pos_] == '&') {
      if (!Reference(out.text)) return false;
      continue;
    }
    if (s_.substr(pos_, 3) == "]]>") return Fail("']]>' in character data");
    out.text += s_[pos_++];
  }
}

}  // namespace coder::harness::testing
