// A record clock in the protobuf form (bosai.v1.RecordClock) that stores held before the compact
// one of storage/record_codec.h: what tests and fuzz seeds of older stores write.
#pragma once

#include <string>

#include "bosai/v1/ops.pb.h"
#include "storage/record_codec.h"

namespace bosai::testing {

inline std::string ProtobufClock(const StoredClock& clock) {
  v1::RecordClock message;
  for (const ClockStamp& st : clock.stamps) {
    auto* p = message.add_stamps();
    p->set_stream(st.stream);
    p->set_seq(st.seq);
    p->set_hlc(st.hlc);
    p->set_register_(st.reg);
  }
  for (const auto& [field, index] : clock.fields) {
    message.add_field_stamp(field);
    message.add_field_stamp(index);
  }
  message.set_siblings(clock.siblings);
  return message.SerializeAsString();
}

}  // namespace bosai::testing
