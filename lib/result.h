/* SPDX-License-Identifier: Apache-2.0 */
// Errors as values: library code returns Result<T>; only the top level logs.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace vouch {

struct Error {
    int code = EINVAL; // errno value, positive
    std::string message;
};

// strerror() of an errno value of either sign (libbpf returns them negative).
inline std::string errno_message(int err) {
    return std::strerror(err < 0 ? -err : err);
}

inline Error make_error(int code, std::string message) {
    return Error{code < 0 ? -code : code, std::move(message)};
}

template <class T> class [[nodiscard]] Result {
  public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error error) : v_(std::move(error)) {}

    bool ok() const { return std::holds_alternative<T>(v_); }
    explicit operator bool() const { return ok(); }
    T &value() & { return std::get<T>(v_); }
    T &&value() && { return std::get<T>(std::move(v_)); }
    const T &value() const & { return std::get<T>(v_); }
    T &operator*() & { return value(); }
    const T &operator*() const & { return value(); }
    T *operator->() { return &value(); }
    const T *operator->() const { return &value(); }
    const Error &error() const { return std::get<Error>(v_); }

  private:
    std::variant<T, Error> v_;
};

template <> class [[nodiscard]] Result<void> {
  public:
    Result() = default;
    Result(Error error) : err_(std::move(error)), ok_(false) {}

    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const Error &error() const { return err_; }

  private:
    Error err_;
    bool ok_ = true;
};

} // namespace vouch
