// The stored form of materialized record bodies (DESIGN §4: the record codec is protobuf + LZ4).
//
// One LZ4 call per record body saves almost nothing on its own (a body is a few hundred bytes).
// Against a dictionary, some earlier bodies that LZ4 may refer back into, a register's body
// shrinks by about two fifths: the same town names, address prefixes, relationships and tags
// recur in every record. A store makes its dictionary once, from the bodies of its first bulk
// write (a first import, a bootstrap) or, grown by ordinary writes, from its latest bodies once
// it holds enough (Store::LoadDictionary), and keeps it for good in the node-local table
// record_dicts; the state hash and every query see decoded bodies.
//
// Stored form of a body: the body itself (a protobuf message, whose first byte is a tag and so
// never 0x01), or
//   0x01 | varint dictionary id | varint body size | LZ4 block compressed against the dictionary
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/status.h"

namespace bosai {

// A dictionary's bytes are at most LZ4's window: it refers no further back.
constexpr size_t kMaxDictionaryBytes = 64 * 1024;

// An immutable dictionary. Compress may run on any thread.
class RecordDictionary {
 public:
  RecordDictionary(uint32_t id, std::string data);
  ~RecordDictionary();
  RecordDictionary(const RecordDictionary&) = delete;
  RecordDictionary& operator=(const RecordDictionary&) = delete;

  uint32_t id() const { return id_; }
  std::string_view data() const { return data_; }
  // The stored form of `body`: compressed, or `body` itself when that is not smaller.
  std::string Compress(std::string_view body) const;

 private:
  uint32_t id_;
  std::string data_;
  struct Stream;
  std::unique_ptr<Stream> stream_;  // data_ loaded for LZ4, attached to each compression
};

// Whether a stored body is compressed (else it is the body itself).
inline bool IsCompressedBody(std::string_view stored) {
  return !stored.empty() && stored.front() == 0x01;
}

// A dictionary's bytes made from sample bodies (in order, the latest nearest to the data): the
// last kMaxDictionaryBytes of their concatenation.
std::string MakeDictionaryBytes(const std::vector<std::string_view>& samples);

// Decodes stored bodies, loading each dictionary they name once. The store's thread only.
class RecordCodec {
 public:
  // The bytes of dictionary `id`, or nullopt when the store holds none with that id.
  using Loader = std::function<Result<std::optional<std::string>>(uint32_t id)>;
  explicit RecordCodec(Loader loader) : loader_(std::move(loader)) {}

  // The body a stored form holds: `stored` itself, or its decompression into `buffer`.
  Result<std::string_view> Decode(std::string_view stored, std::string& buffer);
  // Dictionary `id`, loaded on first use; it stays valid until Clear().
  Result<const RecordDictionary*> Dictionary(uint32_t id);
  // Forgets every dictionary (one made by a rolled-back write may be gone).
  void Clear() { dictionaries_.clear(); }

 private:
  Loader loader_;
  std::map<uint32_t, std::unique_ptr<RecordDictionary>> dictionaries_;
};

// ---- A record's clock (records.clock): the stamp of each of its fields (DESIGN §4).

// The dot (local stream id, sequence number) and HLC of the write that set a field, and whether
// a register import made it.
struct ClockStamp {
  uint32_t stream = 0;
  uint64_t seq = 0;
  uint64_t hlc = 0;
  bool reg = false;
  bool operator==(const ClockStamp& o) const { return stream == o.stream && seq == o.seq; }
};

// A record's distinct stamps, the one most of its fields share first; the fields whose stamp is
// another (or that are not in the body), each with the index of its stamp; the number of its
// rows in the siblings table. A record written by one op (most of a register) has one stamp, or
// two when My Number went to its own scope.
struct StoredClock {
  std::vector<ClockStamp> stamps;                     // at least one
  std::vector<std::pair<uint32_t, uint32_t>> fields;  // (field, index into stamps)
  uint32_t siblings = 0;
};

// Stored form of a clock (varints are LEB128, as in protobuf):
//   0x02 | varint n | n × (varint stream << 1 | register, varint seq, hlc) |
//   varint m | m × (varint field, varint index) | varint siblings
// where the first stamp's hlc is 8 bytes little-endian and each other's a zigzag varint of its
// difference from the first: stamps written together are a few counter ticks apart. A register's
// resident takes 23 bytes, against 44 for the protobuf message (bosai.v1.RecordClock, which
// begins with 0x0A) that stores held before this form, and which is read as well.
void EncodeClock(const StoredClock& clock, std::string* out);
// Fails on bytes that are neither form, or with a stamp index out of range.
Status DecodeClock(std::string_view stored, StoredClock* out);

}  // namespace bosai
