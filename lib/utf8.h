/* SPDX-License-Identifier: Apache-2.0 */
// D-Bus strings and JSON text must be valid UTF-8; file paths need not be.
// vouchd escapes what it sends on the bus with utf8_safe(), and vouchctl
// escapes what it reads from a log file with the same function, so a path
// prints the same whichever way it came.
#pragma once

#include <string>
#include <string_view>

namespace vouch {

// A valid string (without NUL) passes unchanged; in any other, each byte that
// is not part of a valid sequence is written as \xNN (two lowercase hex
// digits), so that the path stays recognisable. A backslash passes as it is:
// a name that already holds the text "\xNN" reads the same as the byte.
std::string utf8_safe(std::string_view s);

// For text read by people (a journal MESSAGE, a terminal, one record per
// line): utf8_safe(), and control characters (C0, DEL, C1) written as \xNN
// too, so that a file name can neither break a line nor send a terminal an
// escape sequence. Exact bytes belong in a field of their own.
std::string printable(std::string_view s);

} // namespace vouch
