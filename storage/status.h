// Status and Result<T>: how expected failures travel through bosai (leveldb style).
// A Status carries a code that callers may branch on and a message written for a municipal IT
// officer, naming the file, line, field or frame at fault. Exceptions are kept for programming
// errors and start-up.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace bosai {

class Status {
 public:
  enum class Code {
    kOk,
    kInvalidArgument,  // bad input from a user, a file or a peer
    kNotFound,
    kAlreadyExists,
    kCorruption,  // stored or received data fails a check
    kIoError,
    kBusy,
    kPermissionDenied,  // not entrusted: untrusted root, revoked node, missing scope
    kCancelled,         // stopped on request (Ctrl-C) before it was done
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status Invalid(std::string msg) { return Status(Code::kInvalidArgument, std::move(msg)); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status Exists(std::string msg) { return Status(Code::kAlreadyExists, std::move(msg)); }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  // A corruption that SQLite finds in the database file itself (its pages), rather than in data
  // bosai checks: the file must be rebuilt (IsDamagedFile).
  static Status DamagedFile(std::string msg) {
    Status s(Code::kCorruption, std::move(msg));
    s.damaged_file_ = true;
    return s;
  }
  static Status IoError(std::string msg) { return Status(Code::kIoError, std::move(msg)); }
  static Status Busy(std::string msg) { return Status(Code::kBusy, std::move(msg)); }
  static Status PermissionDenied(std::string msg) {
    return Status(Code::kPermissionDenied, std::move(msg));
  }
  static Status Cancelled(std::string msg) { return Status(Code::kCancelled, std::move(msg)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  bool damaged_file() const { return damaged_file_; }

  // Prefixes the message with context, e.g. the file being read.
  Status WithContext(const std::string& context) const {
    if (ok()) return *this;
    Status s = *this;
    s.message_ = context + ": " + message_;
    return s;
  }
  // Appends what follows from the failure, e.g. what was done before it.
  Status WithNote(const std::string& note) const {
    if (ok()) return *this;
    Status s = *this;
    s.message_ += "; " + note;
    return s;
  }

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
  bool damaged_file_ = false;
};

// Either a value or a failed Status.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}  // NOLINT: implicit by design

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace bosai

#define BOSAI_RETURN_IF_ERROR(expr) \
  do {                              \
    ::bosai::Status _st = (expr);   \
    if (!_st.ok()) return _st;      \
  } while (0)

#define BOSAI_CONCAT_INNER(a, b) a##b
#define BOSAI_CONCAT(a, b) BOSAI_CONCAT_INNER(a, b)
#define BOSAI_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
#define BOSAI_ASSIGN_OR_RETURN(lhs, expr) \
  BOSAI_ASSIGN_OR_RETURN_IMPL(BOSAI_CONCAT(_res_, __LINE__), lhs, expr)
