// SPDX-License-Identifier: MIT
#ifndef LOKIQT_FUZZSUPPORT_H
#define LOKIQT_FUZZSUPPORT_H

// What the fuzz targets share: a check that aborts (libFuzzer then saves the input that broke it), a UTF-8
// validator written apart from lokiqt's and Qt's to hold them against, and ways to turn fuzz input into the
// byte arrays and strings lokiqt takes.

#include <QtCore/QByteArray>
#include <QtCore/QString>

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <cstdlib>
#include <string>

// Not assert(): the fuzz build is optimized (NDEBUG), and a broken invariant must stop every run.
#define FUZZ_CHECK(cond) ((cond) ? void(0) : LokiFuzz::fail(#cond, __FILE__, __LINE__))

namespace LokiFuzz {

[[noreturn]] inline void fail(const char *what, const char *file, int line)
{
    std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", file, line, what);
    std::fflush(stderr);
    std::abort();
}

/** Well-formed UTF-8 as RFC 3629 defines it (the byte ranges of table 3-7 in the Unicode standard). */
inline bool isValidUtf8(const QByteArray &utf8)
{
    const auto *p = reinterpret_cast<const unsigned char *>(utf8.constData());
    const auto *end = p + utf8.size();
    while (p < end) {
        const unsigned char c = *p;
        if (c < 0x80) {
            ++p;
            continue;
        }
        int trail = 0;             // continuation bytes after the first
        unsigned char low = 0x80;  // the range of the second byte: narrower after E0, ED, F0 and F4, which
        unsigned char high = 0xbf; // rules out overlong forms, surrogates and code points above U+10FFFF
        if (c >= 0xc2 && c <= 0xdf) {
            trail = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            trail = 2;
            if (c == 0xe0)
                low = 0xa0;
            else if (c == 0xed)
                high = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            trail = 3;
            if (c == 0xf0)
                low = 0x90;
            else if (c == 0xf4)
                high = 0x8f;
        } else {
            return false; // a continuation byte, C0, C1 or F5..FF
        }
        if (end - p <= trail || p[1] < low || p[1] > high)
            return false;
        for (int i = 2; i <= trail; ++i) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
        }
        p += trail + 1;
    }
    return true;
}

/**
 * @p utf8 without the U+FEFF characters it starts with. Qt 6.4's JSON reader drops one of them from a string
 * (key or value) that holds no escape, as QString::fromUtf8 drops a byte order mark, and keeps it otherwise;
 * Loki keeps them always. Text compared with what Qt read goes through this on both sides, so lokiqt is not
 * blamed for Qt's reading.
 */
inline QByteArray withoutLeadingBoms(QByteArray utf8)
{
    while (utf8.startsWith("\xef\xbb\xbf"))
        utf8.remove(0, 3);
    return utf8;
}

inline QByteArray consumeBytes(FuzzedDataProvider &fdp, size_t maxLength)
{
    const std::string s = fdp.ConsumeRandomLengthString(maxLength);
    return QByteArray(s.data(), qsizetype(s.size()));
}

/**
 * A string of at most @p maxLength UTF-16 units, decoded from UTF-8 (the usual case: malformed input turns
 * into U+FFFD) or Latin-1, or taken as raw UTF-16 units, which reaches what no decoder makes: lone
 * surrogates.
 */
inline QString consumeString(FuzzedDataProvider &fdp, size_t maxLength)
{
    switch (fdp.ConsumeIntegralInRange(0, 3)) {
    case 0:
        return QString::fromLatin1(consumeBytes(fdp, maxLength));
    case 1: {
        const QByteArray units = consumeBytes(fdp, 2 * maxLength);
        QString out;
        for (qsizetype i = 0; i + 1 < units.size(); i += 2)
            out += QChar(char16_t(uchar(units[i]) | uchar(units[i + 1]) << 8));
        return out;
    }
    default:
        return QString::fromUtf8(consumeBytes(fdp, maxLength)); // never more units than bytes
    }
}

} // namespace LokiFuzz

#endif // LOKIQT_FUZZSUPPORT_H
