// json_int / json_number (see json_fields.h).
#include "io/json_fields.h"

#include "ferris/error.h"

namespace ferris::io {

nlohmann::json parse_json_object(const std::string& text, const std::string& source) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        fail(ErrorCode::Parse, source, ": invalid JSON: ", e.what());
    }
    if (!j.is_object()) fail(ErrorCode::Parse, source, ": not a JSON object");
    return j;
}

int64_t json_int(const nlohmann::json& j, const char* key, const std::string& source, bool required,
                 int64_t fallback) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        if (required) fail(ErrorCode::Parse, source, ": missing \"", key, "\"");
        return fallback;
    }
    if (!it->is_number_integer())
        fail(ErrorCode::Parse, source, ": \"", key, "\" must be an integer, got ", it->dump());
    return it->get<int64_t>();
}

double json_number(const nlohmann::json& j, const char* key, const std::string& source,
                   double fallback) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_number()) fail(ErrorCode::Parse, source, ": \"", key, "\" must be a number");
    return it->get<double>();
}

}  // namespace ferris::io
