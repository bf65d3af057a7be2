// The files an operator carries between nodes on a USB stick or by mail, told apart when one is
// given where another is expected.
#pragma once

#include <string>
#include <string_view>

namespace bosai::sync {

// The files an operator carries between machines (a USB stick, mail).
enum class CarriedFile {
  kSyncBundle,
  kTrustBundle,
  kEnrollment,
  kNodeRequest,
  kVector,
  kCertificate,  // a root.crt, a grant
};

// For an error that a file is not the EXPECTED kind: when BYTES (its beginning) are another of
// the carried files, or a database, which, with the command that reads it ("; it is a sync
// bundle (bosai sync import)"); otherwise "".
std::string OtherFileNote(std::string_view bytes, CarriedFile expected);

}  // namespace bosai::sync
