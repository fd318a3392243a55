// Typed reads of config.json fields with messages that name the file and the key; shared by every
// model's config parser.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace ferris::io {

// `text` parsed as a JSON object; Parse errors name `source`.
nlohmann::json parse_json_object(const std::string& text, const std::string& source);
// An integer field; missing or null gives `fallback` unless `required` (then a Parse error).
int64_t json_int(const nlohmann::json& j, const char* key, const std::string& source,
                 bool required = true, int64_t fallback = 0);
// A number field; missing or null gives `fallback`.
double json_number(const nlohmann::json& j, const char* key, const std::string& source,
                   double fallback);

}  // namespace ferris::io
