#include "modules/auth/jwt/token.h"

#include <simdjson.h>

#include <cmath>

#include "core/base64.h"

namespace gw::auth::jwt {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

std::string_view failure_text(Failure f) {
    switch (f) {
        case Failure::None: return "";
        case Failure::Malformed: return "malformed token";
        case Failure::Unsupported: return "unsupported token";
        case Failure::AlgNotAllowed: return "algorithm not allowed";
        case Failure::UnknownKey: return "no key for the token";
        case Failure::BadSignature: return "invalid signature";
        case Failure::Expired: return "token expired";
        case Failure::NotYetValid: return "token not yet valid";
        case Failure::IssuedInFuture: return "token issued in the future";
        case Failure::NoExpiry: return "token without expiry";
        case Failure::TooLongLived: return "token lifetime too long";
        case Failure::WrongIssuer: return "wrong issuer";
        case Failure::WrongAudience: return "wrong audience";
        case Failure::ClaimRequirement: return "insufficient claims";
    }
    return "";
}

namespace {

// Decodes a base64url part into `out` (cleared first) with simdjson's padding as spare room.
bool decode_json_part(std::string_view part, std::string& out) {
    out.clear();
    out.reserve(base64url_decoded_size(part.size()) + simdjson::SIMDJSON_PADDING);
    return !part.empty() && base64url_decode(part, out);
}

// Parses a decoded part (padded) as one JSON object.
bool parse_object(simdjson::dom::parser& json, const std::string& text, object& out) {
    element doc;
    if (text.capacity() < text.size() + simdjson::SIMDJSON_PADDING) return false;  // (reserved above)
    if (json.parse(text.data(), text.size(), false).get(doc) != simdjson::SUCCESS) return false;
    return doc.get(out) == simdjson::SUCCESS;
}

// A NumericDate: a JSON number (integer or not), as whole seconds. False for anything else,
// and for a value no date can have (NaN is not JSON; huge values are refused).
bool numeric_date(element e, int64_t& out) {
    switch (e.type()) {
        case element_type::INT64: out = int64_t(e); return true;
        case element_type::UINT64: {
            uint64_t u = uint64_t(e);
            if (u > static_cast<uint64_t>(INT64_MAX)) return false;
            out = static_cast<int64_t>(u);
            return true;
        }
        case element_type::DOUBLE: {
            double d = double(e);
            if (!(d > -9.2e18 && d < 9.2e18)) return false;
            out = static_cast<int64_t>(std::floor(d));
            return true;
        }
        default: return false;
    }
}

// A scalar as a claim's text: strings as they are, numbers and booleans as JSON writes them.
void scalar_text(element e, std::string& out) {
    std::string_view s;
    if (e.get(s) == simdjson::SUCCESS) {
        out.assign(s);
        return;
    }
    out = simdjson::minify(e);
}

void read_claim(element e, ClaimValue& v) {
    v.present = true;
    v.items.clear();
    simdjson::dom::array list;
    if (e.get(list) == simdjson::SUCCESS) {
        v.is_list = true;
        v.text.clear();
        for (element item : list) {
            v.items.emplace_back();
            scalar_text(item, v.items.back());
            if (!v.text.empty()) v.text += ',';
            v.text += v.items.back();
        }
        return;
    }
    v.is_list = false;
    scalar_text(e, v.text);
}

}  // namespace

Reader::Reader() : json_(std::make_unique<simdjson::dom::parser>()) {}
Reader::~Reader() = default;

Failure Reader::read(std::string_view compact, const AlgSet& allowed, std::span<const std::string> wanted,
                     Token& out) {
    if (compact.size() > kMaxTokenBytes) return Failure::Malformed;
    size_t dot1 = compact.find('.');
    if (dot1 == std::string_view::npos) return Failure::Malformed;
    size_t dot2 = compact.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos) return Failure::Malformed;
    if (size_t more = compact.find('.', dot2 + 1); more != std::string_view::npos) {
        size_t dots = 3;
        for (size_t i = more + 1; i < compact.size(); ++i) dots += compact[i] == '.';
        return dots == 4 ? Failure::Unsupported : Failure::Malformed;  // five parts: a JWE
    }
    std::string_view header = compact.substr(0, dot1);
    std::string_view payload = compact.substr(dot1 + 1, dot2 - dot1 - 1);
    std::string_view signature = compact.substr(dot2 + 1);
    if (!decode_json_part(header, header_) || !decode_json_part(payload, payload_)) return Failure::Malformed;
    out.signature.clear();
    if (!base64url_decode(signature, out.signature)) return Failure::Malformed;
    out.signing_input = compact.substr(0, dot2);
    // The header first: an unsigned token ("alg": "none", an empty signature) is said to be one.
    if (Failure f = read_header(out, allowed); f != Failure::None) return f;
    if (out.signature.empty()) return Failure::Malformed;
    return read_claims(out, wanted);
}

Failure Reader::read_header(Token& out, const AlgSet& allowed) {
    object o;
    if (!parse_object(*json_, header_, o)) return Failure::Malformed;
    bool seen_alg = false, seen_kid = false;
    std::string_view alg;
    out.kid.clear();
    for (auto [key, value] : o) {
        if (key == "alg") {
            if (seen_alg || value.get(alg) != simdjson::SUCCESS) return Failure::Malformed;
            seen_alg = true;
        } else if (key == "kid") {
            std::string_view kid;
            if (seen_kid || value.get(kid) != simdjson::SUCCESS) return Failure::Malformed;
            out.kid.assign(kid);
            seen_kid = true;
        } else if (key == "crit" || key == "enc" || key == "b64" || key == "zip") {
            return Failure::Unsupported;  // extensions we would have to understand; a JWE
        }
        // typ, cty, jku, x5u, jwk, x5c...: not used. Keys never come from the token itself.
    }
    if (!seen_alg) return Failure::Malformed;
    auto a = alg_from_name(alg);
    if (!a) return Failure::Unsupported;  // "none" included
    if (!allowed.has(*a)) return Failure::AlgNotAllowed;
    out.alg = *a;
    size_t fixed = fixed_signature_size(*a);
    if (fixed && out.signature.size() != fixed) return Failure::BadSignature;
    return Failure::None;
}

Failure Reader::read_claims(Token& out, std::span<const std::string> wanted) {
    object o;
    if (!parse_object(*json_, payload_, o)) return Failure::Malformed;
    out.iss.clear();
    out.sub.clear();
    out.aud.clear();
    out.has_exp = out.has_nbf = out.has_iat = false;
    out.claims.resize(wanted.size());
    for (ClaimValue& c : out.claims) c.present = false;
    bool seen_iss = false, seen_sub = false, seen_aud = false;
    for (auto [key, value] : o) {
        std::string_view s;
        if (key == "iss") {
            if (seen_iss || value.get(s) != simdjson::SUCCESS) return Failure::Malformed;
            out.iss.assign(s);
            seen_iss = true;
        } else if (key == "sub") {
            if (seen_sub || value.get(s) != simdjson::SUCCESS) return Failure::Malformed;
            out.sub.assign(s);
            seen_sub = true;
        } else if (key == "aud") {
            if (seen_aud) return Failure::Malformed;
            seen_aud = true;
            simdjson::dom::array list;
            if (value.get(s) == simdjson::SUCCESS) {
                out.aud.emplace_back(s);
            } else if (value.get(list) == simdjson::SUCCESS) {
                for (element item : list) {
                    if (item.get(s) != simdjson::SUCCESS) return Failure::Malformed;
                    out.aud.emplace_back(s);
                }
            } else {
                return Failure::Malformed;
            }
        } else if (key == "exp" || key == "nbf" || key == "iat") {
            bool& has = key == "exp" ? out.has_exp : key == "nbf" ? out.has_nbf : out.has_iat;
            int64_t& at = key == "exp" ? out.exp : key == "nbf" ? out.nbf : out.iat;
            if (has || !numeric_date(value, at)) return Failure::Malformed;
            has = true;
        }
        for (size_t i = 0; i < wanted.size(); ++i) {
            if (key != wanted[i]) continue;
            if (out.claims[i].present) return Failure::Malformed;  // a duplicate member
            read_claim(value, out.claims[i]);
        }
    }
    return Failure::None;
}

}  // namespace gw::auth::jwt
