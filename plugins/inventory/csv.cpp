#include "csv.hpp"

#include <cstdint>

namespace inventory::csv {
namespace {

class Reader {
public:
    explicit Reader(std::string_view text) : text_(text) {
        if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;  // spreadsheets write a BOM
    }

    bool done() const { return pos_ >= text_.size(); }

    Record next() {
        Record r;
        r.line = line_;
        while (true) {
            std::string field;
            if (peek() == '"') {
                if (!quoted(field)) {
                    r.error = "a quoted field is not closed";
                    return r;
                }
                if (!at_field_end()) {
                    r.error = "unexpected text after a closing quote";
                    skip_line();
                    return r;
                }
            } else {
                while (!at_field_end()) {
                    if (peek() == '"') {
                        r.error = "a quote inside an unquoted field (quote the field and double the quote)";
                        skip_line();
                        return r;
                    }
                    field.push_back(text_[pos_++]);
                }
            }
            r.fields.push_back(std::move(field));
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            end_line();
            return r;
        }
    }

    // At the end of a line (or the file): nothing on it, or only its break.
    bool at_blank_line() const { return done() || text_[pos_] == '\n' || text_.substr(pos_, 2) == "\r\n"; }
    void end_line() {
        if (done()) return;
        pos_ += text_[pos_] == '\r' ? 2 : 1;
        ++line_;
    }

private:
    char peek() const { return done() ? '\0' : text_[pos_]; }
    bool at_field_end() const { return done() || text_[pos_] == ',' || text_[pos_] == '\n' || text_.substr(pos_, 2) == "\r\n"; }

    bool quoted(std::string& field) {
        ++pos_;  // the opening quote
        while (!done()) {
            char c = text_[pos_++];
            if (c == '"') {
                if (peek() != '"') return true;
                ++pos_;
            }
            if (c == '\n') ++line_;
            field.push_back(c);
        }
        return false;
    }
    void skip_line() {
        while (!done() && text_[pos_] != '\n') ++pos_;
        if (!done()) {
            ++pos_;
            ++line_;
        }
    }

    std::string_view text_;
    size_t pos_ = 0;
    size_t line_ = 1;
};

}  // namespace

std::vector<Record> parse(std::string_view text) {
    std::vector<Record> out;
    Reader reader(text);
    while (!reader.done()) {
        if (reader.at_blank_line()) {
            reader.end_line();
            continue;
        }
        out.push_back(reader.next());
    }
    return out;
}

bool is_valid_utf8(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<unsigned char>(s[i]);
        size_t n = 0;  // continuation bytes
        uint32_t cp = 0;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, cp = c & 0x07;
        } else {
            return false;
        }
        if (i + n >= s.size()) return false;
        for (size_t k = 1; k <= n; ++k) {
            auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
        static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
        if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += n + 1;
    }
    return true;
}

}  // namespace inventory::csv
