// Carried files told apart; see carried_file.h.
#include "sync/carried_file.h"

#include <fmt/format.h>

#include <optional>

namespace bosai::sync {

std::string OtherFileNote(std::string_view bytes, CarriedFile expected) {
  struct Kind {
    std::optional<CarriedFile> file;
    bool json;              // MARK is in its JSON (as bosai writes it: indented by two, the keys
    std::string_view mark;  // in order, so a format may come late), else its first bytes
    std::string_view what;
  };
  static const Kind kKinds[] = {
      {CarriedFile::kSyncBundle, false, "BOSAI-BUNDLE-v1\n", "a sync bundle (bosai sync import)"},
      {std::nullopt, false, "SQLite format 3", "a SQLite database"},
      {CarriedFile::kCertificate, false, "-----BEGIN CERTIFICATE-----",
       "a certificate: a root.crt or a grant (bosai keys add)"},
      {CarriedFile::kTrustBundle, true, "\"format\": \"bosai-trust-v1\"",
       "a trust bundle (bosai keys trust import)"},
      {CarriedFile::kEnrollment, true, "\"format\": \"bosai-enrollment-v1\"",
       "a node's enrollment (bosai init --enrollment)"},
      {CarriedFile::kNodeRequest, true, "\"format\": \"bosai-node-request-v1\"",
       "a node's key request (bosai keys node issue --request, at the root)"},
      {CarriedFile::kVector, true, "\"vector\": [", "a vector file (bosai sync export --vector)"},
  };
  for (const Kind& k : kKinds) {
    const bool found = k.json
                           ? bytes.starts_with("{") && bytes.find(k.mark) != std::string_view::npos
                           : bytes.starts_with(k.mark);
    if (!found) continue;
    return k.file == expected ? "" : fmt::format("; it is {}", k.what);
  }
  return "";
}

}  // namespace bosai::sync
