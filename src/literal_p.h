// SPDX-License-Identifier: MIT
#ifndef LOKIQT_LITERAL_P_H
#define LOKIQT_LITERAL_P_H

// Comparisons of a C string with a string literal, in line: for the message handler's path, where a call
// into the C library per message (strcmp, strncmp) costs more than the few bytes it looks at. Each stops at
// the first byte that differs, so it never reads past the end of the shorter string.

#include <cstddef>

namespace LokiLiteral {
/** Whether @p text is @p literal. */
template<std::size_t N>
inline bool equals(const char *text, const char (&literal)[N])
{
    for (std::size_t i = 0; i < N; ++i) {
        if (text[i] != literal[i])
            return false;
    }
    return true;
}

/** Whether @p text starts with @p literal. */
template<std::size_t N>
inline bool startsWith(const char *text, const char (&literal)[N])
{
    for (std::size_t i = 0; i + 1 < N; ++i) {
        if (text[i] != literal[i])
            return false;
    }
    return true;
}
} // namespace LokiLiteral

#endif // LOKIQT_LITERAL_P_H
