#include "csv_import.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <oms/money.hpp>

#include "csv.hpp"
#include "product.hpp"
#include "stock.hpp"

namespace inventory {
namespace {

constexpr const char* kActor = "cli:import";
const std::vector<std::string> kColumns = {"sku", "name", "price", "currency", "on_hand"};
bool is_required(const std::string& column) { return column != "currency"; }

// What is wrong with each line, by line number.
class Problems {
public:
    void add(size_t line, std::string message) { by_line_[line].push_back(std::move(message)); }
    bool empty() const { return by_line_.empty(); }
    bool has(size_t line) const { return by_line_.count(line) != 0; }
    // Prints FILE:LINE: message for every bad line and throws: exit 2, nothing changed.
    [[noreturn]] void fail(const std::string& file) const {
        for (const auto& [line, messages] : by_line_) {
            std::string text;
            for (const auto& m : messages) text += (text.empty() ? "" : "; ") + m;
            std::fprintf(stderr, "%s:%zu: %s\n", file.c_str(), line, text.c_str());
        }
        size_t n = by_line_.size();
        throw oms::Error(400, "import_failed",
                         std::to_string(n) + (n == 1 ? " invalid line" : " invalid lines") + " in " + file +
                             "; nothing was imported");
    }

private:
    std::map<size_t, std::vector<std::string>> by_line_;
};

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw oms::Error(400, "unreadable_file", "cannot read " + path + ": " + std::strerror(errno));
    std::ostringstream s;
    s << in.rdbuf();
    if (in.bad()) throw oms::Error(400, "unreadable_file", "cannot read " + path);
    return s.str();
}

// Column name → position, from the header record.
std::map<std::string, size_t> read_header(const std::vector<csv::Record>& records, Problems& problems) {
    std::map<std::string, size_t> columns;
    if (records.empty()) {
        problems.add(1, "the header line is missing (expected sku,name,price,currency,on_hand)");
        return columns;
    }
    const auto& header = records.front();
    if (!header.error.empty()) {
        problems.add(header.line, header.error);
        return columns;
    }
    for (size_t i = 0; i < header.fields.size(); ++i) {
        std::string name = lowercase(trim(header.fields[i]));
        bool known = false;
        for (const auto& c : kColumns) known = known || c == name;
        if (!known) problems.add(header.line, "unknown column '" + name + "' (expected sku, name, price, currency, on_hand)");
        else if (!columns.emplace(name, i).second) problems.add(header.line, "column '" + name + "' appears twice");
    }
    for (const auto& c : kColumns)
        if (is_required(c) && !columns.count(c)) problems.add(header.line, "missing column '" + c + "'");
    return columns;
}

// A line whose own fields are valid; the price is checked later, once the
// currency of an existing product is known.
struct Line {
    size_t line = 0;
    std::string sku, name, price;
    std::optional<std::string> currency;  // nullopt: not given
    int64_t on_hand = 0;
};

std::optional<int64_t> parse_on_hand(std::string_view s) {
    if (s.empty() || s.size() > 10) return std::nullopt;
    int64_t n = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + (c - '0');
    }
    if (n > kMaxOnHand) return std::nullopt;
    return n;
}

std::vector<Line> read_lines(const std::vector<csv::Record>& records, const std::map<std::string, size_t>& columns,
                             Problems& problems) {
    std::vector<Line> lines;
    std::map<std::string, size_t> line_of_sku;
    for (size_t r = 1; r < records.size(); ++r) {
        const auto& rec = records[r];
        size_t at = rec.line;
        if (!rec.error.empty()) {
            problems.add(at, rec.error);
            continue;
        }
        if (rec.fields.size() != records.front().fields.size()) {
            problems.add(at, "has " + std::to_string(rec.fields.size()) + " fields; the header has " +
                                 std::to_string(records.front().fields.size()));
            continue;
        }
        bool utf8 = true;
        for (const auto& f : rec.fields) utf8 = utf8 && csv::is_valid_utf8(f);
        if (!utf8) {
            problems.add(at, "is not valid UTF-8");
            continue;
        }
        auto field = [&](const char* name) {
            auto it = columns.find(name);
            return it == columns.end() ? std::string() : trim(rec.fields[it->second]);
        };
        Line l;
        l.line = at;
        l.sku = field("sku");
        if (auto e = sku_error(l.sku)) problems.add(at, "sku " + *e);
        else if (auto [it, fresh] = line_of_sku.emplace(l.sku, at); !fresh)
            problems.add(at, "sku " + l.sku + " is also on line " + std::to_string(it->second));
        l.name = field("name");
        if (auto e = name_error(l.name)) problems.add(at, "name " + *e);
        if (std::string c = field("currency"); !c.empty()) {
            l.currency = normalize_currency(c);
            if (!l.currency) problems.add(at, "currency must be a supported ISO 4217 code such as INR or USD");
        }
        l.price = field("price");
        if (l.price.empty()) problems.add(at, "price is required");
        if (auto n = parse_on_hand(field("on_hand"))) l.on_hand = *n;
        else problems.add(at, "on_hand must be an integer from 0 to 1000000000");
        if (!problems.has(at)) lines.push_back(std::move(l));
    }
    return lines;
}

struct Existing {
    std::string product_id, currency;
    int64_t on_hand = 0, reserved = 0;
};

}  // namespace

void import_command(const oms::CommandArgs& args) {
    std::string file = args.get("file").value_or("");
    auto records = csv::parse(read_file(file));
    Problems problems;
    auto columns = read_header(records, problems);
    if (!problems.empty()) problems.fail(file);
    auto lines = read_lines(records, columns, problems);

    auto tx = oms::Tx::begin();
    // Lock the products being updated (product_id order, like every writer):
    // the reserved stock checked below cannot change before commit.
    std::vector<std::string> skus;
    for (const auto& l : lines) skus.push_back(l.sku);
    std::map<std::string, Existing> existing;
    for (const auto& row : tx.query("SELECT product_id, sku, currency, on_hand, reserved FROM inventory_products"
                                    " WHERE sku = ANY($1::text[])"
                                    " ORDER BY product_id FOR UPDATE",
                                    skus))
        existing[row.get<std::string>("sku")] = {row.get<std::string>("product_id"), row.get<std::string>("currency"),
                                                 row.get<int64_t>("on_hand"), row.get<int64_t>("reserved")};

    oms::json creates = oms::json::array(), updates = oms::json::array();
    StockDeltas deltas;  // of updated products
    for (const auto& l : lines) {
        auto found = existing.find(l.sku);
        const Existing* e = found == existing.end() ? nullptr : &found->second;
        std::string currency = e ? e->currency : l.currency.value_or(kDefaultCurrency);
        if (e && l.currency && *l.currency != e->currency)
            problems.add(l.line, "currency of " + l.sku + " is " + e->currency + " and cannot change to " + *l.currency);
        auto price = oms::money::parse_decimal(l.price, currency);
        if (!price.ok()) problems.add(l.line, "price " + price.error);
        if (e && l.on_hand < e->reserved)
            problems.add(l.line, "on_hand " + std::to_string(l.on_hand) + " is below the " +
                                     std::to_string(e->reserved) + " units reserved for orders");
        if (problems.has(l.line)) continue;
        if (e) {
            updates.push_back({{"product_id", e->product_id}, {"name", l.name}, {"price", price.minor}, {"on_hand", l.on_hand}});
            deltas[e->product_id].on_hand = l.on_hand - e->on_hand;
        } else {
            creates.push_back({{"sku", l.sku}, {"name", l.name}, {"price", price.minor}, {"currency", currency}, {"on_hand", l.on_hand}});
        }
    }
    if (!problems.empty()) problems.fail(file);  // the transaction rolls back: nothing changed

    if (!creates.empty()) {
        auto created = tx.query("INSERT INTO inventory_products (sku, name, price, currency, on_hand)"
                                " SELECT c.sku, c.name, c.price, c.currency, c.on_hand"
                                " FROM jsonb_to_recordset($1::jsonb) AS c(sku text, name text, price bigint, currency text, on_hand integer)"
                                " ON CONFLICT (sku) DO NOTHING RETURNING product_id, on_hand",
                                creates);
        if (created.size() != creates.size())
            throw oms::conflict("import_conflict", "products with these SKUs were created meanwhile; run the import again");
        StockDeltas initial;
        for (const auto& row : created) initial[row.get<std::string>("product_id")].on_hand = row.get<int64_t>("on_hand");
        record_movements(tx, initial, "import", std::nullopt, kActor);
    }
    if (!updates.empty()) {
        tx.exec("UPDATE inventory_products p"
                " SET name = u.name, price = u.price, on_hand = u.on_hand, updated_at = now()"
                " FROM jsonb_to_recordset($1::jsonb) AS u(product_id uuid, name text, price bigint, on_hand integer)"
                " WHERE p.product_id = u.product_id",
                updates);
        record_movements(tx, deltas, "import", std::nullopt, kActor);
    }
    tx.commit();
    std::printf("imported %zu products (%zu created, %zu updated)\n", creates.size() + updates.size(), creates.size(),
                updates.size());
}

}  // namespace inventory
