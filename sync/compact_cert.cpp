// Compact CBOR node certificates; see compact_cert.h.
#include "sync/compact_cert.h"

#include <cbor.h>
#include <fmt/format.h>

#include <memory>

#include "storage/crypto.h"
#include "storage/ids.h"

namespace bosai::sync {
namespace {

constexpr uint64_t kCoseSign1Tag = 18;
constexpr int64_t kAlgEdDsa = -8;
constexpr size_t kMaxCompactBytes = 1024;

struct Decref {
  void operator()(cbor_item_t* p) const { cbor_decref(&p); }
};
using Item = std::unique_ptr<cbor_item_t, Decref>;

// Integers in their shortest form (canonical CBOR).
cbor_item_t* Int(int64_t v) {
  uint64_t n = v >= 0 ? uint64_t(v) : uint64_t(-1 - v);
  cbor_item_t* item;
  if (n <= 0xff) {
    item = v >= 0 ? cbor_build_uint8(uint8_t(n)) : cbor_build_negint8(uint8_t(n));
  } else if (n <= 0xffff) {
    item = v >= 0 ? cbor_build_uint16(uint16_t(n)) : cbor_build_negint16(uint16_t(n));
  } else if (n <= 0xffffffff) {
    item = v >= 0 ? cbor_build_uint32(uint32_t(n)) : cbor_build_negint32(uint32_t(n));
  } else {
    item = v >= 0 ? cbor_build_uint64(n) : cbor_build_negint64(n);
  }
  return item;
}

cbor_item_t* Bytes(std::string_view b) {
  return cbor_build_bytestring(reinterpret_cast<const uint8_t*>(b.data()), b.size());
}
cbor_item_t* Text(std::string_view s) { return cbor_build_stringn(s.data(), s.size()); }

void Put(cbor_item_t* map, int64_t key, cbor_item_t* value) {
  cbor_map_add(map, cbor_pair{cbor_move(Int(key)), cbor_move(value)});
}

std::string Serialize(const cbor_item_t* item) {
  unsigned char* buffer = nullptr;
  size_t size = 0;
  size_t n = cbor_serialize_alloc(item, &buffer, &size);
  std::string out(reinterpret_cast<const char*>(buffer), n);
  free(buffer);
  return out;
}

std::string ProtectedHeader(std::string_view kid) {
  Item h(cbor_new_definite_map(2));
  Put(h.get(), 1, Int(kAlgEdDsa));
  Put(h.get(), 4, Bytes(kid));
  return Serialize(h.get());
}

std::string SigStructure(std::string_view protected_bytes, std::string_view payload) {
  Item a(cbor_new_definite_array(4));
  cbor_array_push(a.get(), cbor_move(Text("Signature1")));
  cbor_array_push(a.get(), cbor_move(Bytes(protected_bytes)));
  cbor_array_push(a.get(), cbor_move(Bytes("")));
  cbor_array_push(a.get(), cbor_move(Bytes(payload)));
  return Serialize(a.get());
}

std::string Payload(const CompactCertificate& c) {
  Item m(cbor_new_definite_map(8));
  Put(m.get(), 1, Text(c.municipality));
  Put(m.get(), 2, Text(c.node.node_id));
  Put(m.get(), 4, Int(c.not_after));
  Put(m.get(), 5, Int(c.not_before));
  Put(m.get(), 6, Int(c.issued_at));
  Put(m.get(), -1, Bytes(c.node.public_key));
  Put(m.get(), -2, Text(c.node.issuer_code));
  cbor_item_t* scopes = cbor_new_definite_array(c.node.scopes.write.size());
  for (const auto& s : c.node.scopes.write) cbor_array_push(scopes, cbor_move(Text(s)));
  Put(m.get(), -3, scopes);
  return Serialize(m.get());
}

std::string Envelope(std::string_view protected_bytes, std::string_view payload,
                     std::string_view signature) {
  Item a(cbor_new_definite_array(4));
  cbor_array_push(a.get(), cbor_move(Bytes(protected_bytes)));
  cbor_array_push(a.get(), cbor_move(cbor_new_definite_map(0)));
  cbor_array_push(a.get(), cbor_move(Bytes(payload)));
  cbor_array_push(a.get(), cbor_move(Bytes(signature)));
  Item tagged(cbor_build_tag(kCoseSign1Tag, a.get()));
  return Serialize(tagged.get());
}

// Strict well-formedness before libcbor sees the bytes: definite lengths only, every declared
// length within the bytes that remain (libcbor allocates by the declared count), shallow nesting.
// Returns the offset just past the item at `at`, or 0 when malformed.
size_t CheckItem(std::string_view b, size_t at, int depth) {
  if (depth > 8 || at >= b.size()) return 0;
  uint8_t head = uint8_t(b[at++]);
  uint8_t major = head >> 5, info = head & 0x1f;
  uint64_t arg = info;
  if (info >= 24 && info <= 27) {
    size_t n = size_t(1) << (info - 24);
    if (b.size() - at < n) return 0;
    arg = 0;
    for (size_t i = 0; i < n; ++i) arg = (arg << 8) | uint8_t(b[at++]);
  } else if (info > 27) {
    return 0;  // indefinite lengths and reserved values
  }
  size_t left = b.size() - at;
  switch (major) {
    case 0:
    case 1:
      return at;
    case 2:
    case 3:
      return arg <= left ? at + size_t(arg) : 0;
    case 4:
    case 5: {
      uint64_t items = major == 4 ? arg : 2 * arg;
      if (arg > left || items > left) return 0;
      for (uint64_t i = 0; i < items; ++i) {
        at = CheckItem(b, at, depth + 1);
        if (at == 0) return 0;
      }
      return at;
    }
    case 6:
      return CheckItem(b, at, depth + 1);
    default:
      return 0;  // floats and simple values have no place here
  }
}

Result<Item> Load(std::string_view bytes, std::string_view what) {
  if (CheckItem(bytes, 0, 0) != bytes.size()) {
    return Status::Invalid(fmt::format("{}: not strict CBOR", what));
  }
  cbor_load_result r;
  Item item(cbor_load(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), &r));
  if (!item || r.error.code != CBOR_ERR_NONE) {
    return Status::Invalid(fmt::format("{}: not CBOR (at byte {})", what, r.error.position));
  }
  if (r.read != bytes.size()) return Status::Invalid(fmt::format("{}: trailing bytes", what));
  return item;
}

std::string_view BytesOf(cbor_item_t* item) {
  return {reinterpret_cast<const char*>(cbor_bytestring_handle(item)),
          cbor_bytestring_length(item)};
}

Result<int64_t> IntOf(cbor_item_t* item) {
  if (!cbor_is_int(item)) return Status::Invalid("expected an integer");
  uint64_t v = cbor_get_int(item);
  if (v > uint64_t(INT64_MAX)) return Status::Invalid("integer out of range");
  return cbor_isa_negint(item) ? -1 - int64_t(v) : int64_t(v);
}

Result<std::string> TextOf(cbor_item_t* item) {
  if (!cbor_isa_string(item) || !cbor_string_is_definite(item)) {
    return Status::Invalid("expected a text string");
  }
  return std::string(reinterpret_cast<const char*>(cbor_string_handle(item)),
                     cbor_string_length(item));
}

}  // namespace

std::string RootKeyId(std::string_view root_public_key) {
  return Sha256Of(root_public_key).substr(0, 8);
}

Result<std::string> IssueCompactCertificate(const Root& root, const NodeCertificate& node,
                                            int64_t now_s, int valid_days) {
  BOSAI_RETURN_IF_ERROR(ValidateNodeId(node.node_id));
  if (node.public_key.size() != 32) return Status::Invalid("node public key must be 32 bytes");
  CompactCertificate c;
  c.node = node;
  c.municipality = root.municipality;
  c.issued_at = now_s;
  c.not_before = now_s - 3600;
  c.not_after = now_s + int64_t(valid_days) * 86400;
  std::string protected_bytes = ProtectedHeader(RootKeyId(root.key.public_key()));
  std::string payload = Payload(c);
  std::string signature = root.key.Sign(SigStructure(protected_bytes, payload));
  return Envelope(protected_bytes, payload, signature);
}

Result<CompactCertificate> VerifyCompactCertificate(std::string_view bytes,
                                                    std::string_view root_public_key) {
  auto bad = [](const std::string& why) {
    return Status::Invalid("compact node certificate: " + why);
  };
  if (bytes.size() > kMaxCompactBytes) return bad("too long");
  // Tag 18 in its one-byte form (0xd2); libcbor 0.8 refuses to decode tags 6..20 itself.
  if (bytes.empty() || uint8_t(bytes[0]) != 0xc0 + kCoseSign1Tag) {
    return bad("not a COSE_Sign1 (tag 18)");
  }
  BOSAI_ASSIGN_OR_RETURN(Item body, Load(bytes.substr(1), "compact node certificate"));
  if (!cbor_isa_array(body.get()) || cbor_array_size(body.get()) != 4) {
    return bad("COSE_Sign1 must be an array of 4");
  }
  cbor_item_t** parts = cbor_array_handle(body.get());
  for (int i : {0, 2, 3}) {
    if (!cbor_isa_bytestring(parts[i]) || !cbor_bytestring_is_definite(parts[i])) {
      return bad("protected header, payload and signature must be byte strings");
    }
  }
  std::string_view protected_bytes = BytesOf(parts[0]);
  std::string_view payload = BytesOf(parts[2]);
  std::string_view signature = BytesOf(parts[3]);
  std::string kid = RootKeyId(root_public_key);
  if (protected_bytes != ProtectedHeader(kid)) {
    return bad("protected header is not {alg: EdDSA, kid: this root}");
  }
  if (!VerifySignature(root_public_key, SigStructure(protected_bytes, payload), signature)) {
    return Status::PermissionDenied("compact node certificate: signature does not verify");
  }
  BOSAI_ASSIGN_OR_RETURN(Item claims, Load(payload, "compact node certificate payload"));
  if (!cbor_isa_map(claims.get())) return bad("payload is not a map");
  CompactCertificate c;
  c.root_key_id = kid;
  size_t n = cbor_map_size(claims.get());
  cbor_pair* pairs = cbor_map_handle(claims.get());
  for (size_t i = 0; i < n; ++i) {
    auto key = IntOf(pairs[i].key);
    if (!key.ok()) return bad("claim keys must be integers");
    cbor_item_t* v = pairs[i].value;
    switch (*key) {
      case 1: {
        BOSAI_ASSIGN_OR_RETURN(c.municipality, TextOf(v));
        break;
      }
      case 2: {
        BOSAI_ASSIGN_OR_RETURN(c.node.node_id, TextOf(v));
        break;
      }
      case 4: {
        BOSAI_ASSIGN_OR_RETURN(c.not_after, IntOf(v));
        break;
      }
      case 5: {
        BOSAI_ASSIGN_OR_RETURN(c.not_before, IntOf(v));
        break;
      }
      case 6: {
        BOSAI_ASSIGN_OR_RETURN(c.issued_at, IntOf(v));
        break;
      }
      case -1:
        if (!cbor_isa_bytestring(v) || cbor_bytestring_length(v) != 32) {
          return bad("public key must be 32 bytes");
        }
        c.node.public_key = std::string(BytesOf(v));
        break;
      case -2: {
        BOSAI_ASSIGN_OR_RETURN(c.node.issuer_code, TextOf(v));
        break;
      }
      case -3: {
        if (!cbor_isa_array(v)) return bad("scopes must be an array");
        for (size_t k = 0; k < cbor_array_size(v); ++k) {
          BOSAI_ASSIGN_OR_RETURN(std::string s, TextOf(cbor_array_handle(v)[k]));
          c.node.scopes.write.push_back(std::move(s));
        }
        break;
      }
      default:
        return bad(fmt::format("unknown claim {}", *key));
    }
  }
  BOSAI_RETURN_IF_ERROR(ValidateNodeId(c.node.node_id));
  BOSAI_RETURN_IF_ERROR(ValidateMunicipalityCode(c.municipality));
  if (c.node.public_key.empty()) return bad("no public key");
  if (c.node.node_id.substr(0, 6) != c.municipality) return bad("node of another municipality");
  // Strict: the input must be exactly the canonical encoding of what it says.
  if (Envelope(protected_bytes, Payload(c), signature) != bytes) {
    return bad("not in canonical CBOR form");
  }
  return c;
}

}  // namespace bosai::sync
