// A strict RFC 4180 reader: comma separated, fields optionally in double
// quotes with "" for a quote inside (quoted fields may hold commas and line
// breaks), records ended by CRLF or LF. A leading UTF-8 byte order mark and
// blank lines are skipped.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace inventory::csv {

struct Record {
    size_t line = 0;  // the line the record starts on, from 1
    std::vector<std::string> fields;
    std::string error;  // why the record is malformed; empty when it is not
};

// Every record of the text; a malformed one carries its error and reading
// goes on at the next line, so all the bad lines of a file can be reported.
std::vector<Record> parse(std::string_view text);

bool is_valid_utf8(std::string_view s);

}  // namespace inventory::csv
