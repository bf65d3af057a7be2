// Carried files told apart by their first bytes.
#include "sync/carried_file.h"

#include <gtest/gtest.h>

#include <string>

namespace bosai::sync {
namespace {

// A carried file taken for another is named, with the command that reads it; the kind expected,
// or a file bosai does not write, adds nothing to the error.
TEST(OtherFileNote, NamesACarriedFileTakenForAnother) {
  const std::string bundle = std::string("BOSAI-BUNDLE-v1\n") + std::string(8, '\0');
  const std::string trust =
      "{\n  \"certificates\": [\"...\"],\n  \"format\": \"bosai-trust-v1\"\n}\n";
  const std::string vector = "{\n  \"incarnation\": \"042021-b#1\",\n  \"vector\": [\n";
  EXPECT_EQ(OtherFileNote(bundle, CarriedFile::kVector),
            "; it is a sync bundle (bosai sync import)");
  EXPECT_EQ(OtherFileNote(bundle, CarriedFile::kSyncBundle), "");
  EXPECT_EQ(OtherFileNote(trust, CarriedFile::kSyncBundle),
            "; it is a trust bundle (bosai keys trust import)");
  EXPECT_EQ(OtherFileNote(trust, CarriedFile::kTrustBundle), "");
  EXPECT_EQ(OtherFileNote(vector, CarriedFile::kTrustBundle),
            "; it is a vector file (bosai sync export --vector)");
  EXPECT_EQ(OtherFileNote(vector, CarriedFile::kVector), "");
  EXPECT_EQ(OtherFileNote("{\"format\":\"bosai-node-request-v1\"}", CarriedFile::kEnrollment),
            "");  // not as bosai writes it
  EXPECT_EQ(
      OtherFileNote("{\n  \"format\": \"bosai-node-request-v1\"\n}", CarriedFile::kEnrollment),
      "; it is a node's key request (bosai keys node issue --request, at the root)");
  EXPECT_EQ(OtherFileNote(std::string("SQLite format 3\0", 16), CarriedFile::kSyncBundle),
            "; it is a SQLite database");
  EXPECT_EQ(OtherFileNote("-----BEGIN CERTIFICATE-----\nMIIB", CarriedFile::kSyncBundle),
            "; it is a certificate: a root.crt or a grant (bosai keys add)");
  EXPECT_EQ(OtherFileNote("-----BEGIN CERTIFICATE-----\nMIIB", CarriedFile::kCertificate), "");
  EXPECT_EQ(OtherFileNote("resident_code,name\n", CarriedFile::kVector), "");
  EXPECT_EQ(OtherFileNote("", CarriedFile::kVector), "");
}

}  // namespace
}  // namespace bosai::sync
