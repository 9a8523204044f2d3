/* SPDX-License-Identifier: Apache-2.0 */
// How vouchctl prints measurement log entries, whether they came from vouchd
// over D-Bus or from a log file: one writer for each output form, so both
// sources print alike.
#pragma once

#include <cstdio>
#include <string>

#include "lib/log_record.h"

namespace vouch::ctl {

// The entry as a line of the kernel's ascii_runtime_measurements: "%2u" PCR,
// and a signature field for the templates that carry one, empty or not.
// Strings are written as they are (a file's path byte for byte, a newline
// too, as the kernel prints it), unless `for_terminal`: then the path goes
// through printable(), so that one entry is one line and a name sends no
// escape sequence to the terminal. An ima-buf entry (vouch's own records)
// ends with its buffer in hex, as the kernel prints it, or on a terminal with
// the buffer as quoted text through printable().
std::string log_ascii(const LogRecord &r, bool for_terminal = false);
// An ima-buf entry's buffer as text (vouch's records are ASCII).
std::string buffer_text(const LogRecord &r);

// The entry as one line of compact JSON, keys in this order: index, pcr,
// template_hash, template, digest, path, signature, [buffer, buffer_hex,]
// violation; buffer and buffer_hex only for an ima-buf entry (its buffer as
// text and in hex; path is then the record's name). Strings go
// through utf8_safe(), as vouchd's D-Bus strings do: a byte that is not UTF-8
// is written as the text \xNN.
std::string log_json(const LogRecord &r);

// A JSON array of entries, written as they come (a log read from vouchd
// arrives in pages): "[", then each entry on a line of its own, then "]".
class LogJsonWriter {
  public:
    explicit LogJsonWriter(std::FILE *out) : out_(out) { std::fputs("[", out_); }
    LogJsonWriter(const LogJsonWriter &) = delete;
    LogJsonWriter &operator=(const LogJsonWriter &) = delete;
    // Closes the array if finish() was not called (an error part way), so
    // what was printed still parses.
    ~LogJsonWriter() { finish(); }

    void add(const LogRecord &r);
    void finish();

  private:
    std::FILE *out_;
    bool empty_ = true;
    bool done_ = false;
};

} // namespace vouch::ctl
