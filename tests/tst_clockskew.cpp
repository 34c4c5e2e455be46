// SPDX-License-Identifier: MIT
#include "clockskew_p.h"

#include <QtTest/QtTest>

namespace {
const QDateTime now(QDate(2026, 11, 27), QTime(10, 0, 0), Qt::UTC);
constexpr qint64 second = 1000;
constexpr qint64 minute = 60 * second;
constexpr qint64 day = 24 * 60 * minute;
constexpr qint64 threshold = 5 * minute; // LokiConfig::clockSkewThreshold's default

QByteArray httpDate(const QDateTime &when)
{
    return when.toUTC().toString(QStringLiteral("ddd, dd MMM yyyy hh:mm:ss 'GMT'")).toLatin1();
}
} // namespace

class tst_ClockSkew : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void learn_data()
    {
        QTest::addColumn<QByteArray>("date");
        QTest::addColumn<qint64>("currentOffsetMs");
        QTest::addColumn<qint64>("thresholdMs");
        QTest::addColumn<bool>("changes");
        QTest::addColumn<qint64>("expectedOffsetMs");
        QTest::addColumn<QString>("messagePart");

        // A device without a real-time clock that booted in 1970, or one a few years behind.
        const QDateTime inSevenYears = now.addYears(7);
        QTest::newRow("years behind: starts correcting")
            << httpDate(inSevenYears) << 0ll << threshold << true << now.msecsTo(inSevenYears)
            << QStringLiteral("7 years");
        QTest::newRow("56 years behind") << httpDate(now.addYears(56)) << 0ll << threshold << true
                                         << now.msecsTo(now.addYears(56)) << QStringLiteral("56 years");
        QTest::newRow("days ahead: starts correcting") << httpDate(now.addDays(-3)) << 0ll << threshold
                                                       << true << -3 * day << QStringLiteral("ahead of");
        QTest::newRow("days behind") << httpDate(now.addDays(3)) << 0ll << threshold << true << 3 * day
                                     << QStringLiteral("3 days");
        QTest::newRow("just beyond the threshold") << httpDate(now.addSecs(5 * 60 + 1)) << 0ll << threshold
                                                   << true << 5 * minute + second << QStringLiteral("behind");
        QTest::newRow("within threshold: nothing changes")
            << httpDate(now.addSecs(4 * 60)) << 0ll << threshold << false << 0ll << QString();
        QTest::newRow("within threshold ahead")
            << httpDate(now.addSecs(-299)) << 0ll << threshold << false << 0ll << QString();
        QTest::newRow("at the threshold exactly")
            << httpDate(now.addSecs(300)) << 0ll << threshold << false << 0ll << QString();
        QTest::newRow("correction in force, confirmed")
            << httpDate(now.addDays(3).addSecs(2)) << 3 * day << threshold << false << 0ll << QString();
        QTest::newRow("correction in force, changes") << httpDate(now.addDays(4)) << 3 * day << threshold
                                                      << true << 4 * day << QStringLiteral("4 days");
        QTest::newRow("back in agreement: correction ends")
            << httpDate(now.addSecs(10)) << 3 * day << threshold << true << 0ll << QStringLiteral("agrees");
        QTest::newRow("back in agreement exactly")
            << httpDate(now) << -3 * day << threshold << true << 0ll << QStringLiteral("no longer corrected");
        QTest::newRow("unparsable Date")
            << QByteArray("yesterday") << 0ll << threshold << false << 0ll << QString();
        QTest::newRow("Date in another format (RFC 850)")
            << QByteArray("Sunday, 06-Nov-94 08:49:37 GMT") << 0ll << threshold << false << 0ll << QString();
        QTest::newRow("no Date header") << QByteArray() << 0ll << threshold << false << 0ll << QString();
        QTest::newRow("threshold 0 = off")
            << httpDate(now.addYears(7)) << 0ll << 0ll << false << 0ll << QString();
        QTest::newRow("negative threshold = off")
            << httpDate(now.addYears(7)) << 0ll << -1ll << false << 0ll << QString();
        QTest::newRow("small threshold")
            << httpDate(now.addSecs(3)) << 0ll << 1000ll << true << 3 * second << QStringLiteral("3 s");
    }
    void learn()
    {
        QFETCH(QByteArray, date);
        QFETCH(qint64, currentOffsetMs);
        QFETCH(qint64, thresholdMs);
        QFETCH(bool, changes);
        QFETCH(qint64, expectedOffsetMs);
        QFETCH(QString, messagePart);
        const auto change = LokiClockSkew::learn(date, now, currentOffsetMs, thresholdMs);
        QCOMPARE(change.has_value(), changes);
        if (!changes)
            return;
        QCOMPARE(change->offsetMs, expectedOffsetMs);
        QVERIFY2(change->message.contains(messagePart), qPrintable(change->message));
    }

    void parseHttpDate()
    {
        const QDateTime parsed = LokiClockSkew::parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT");
        QVERIFY(parsed.isValid());
        QCOMPARE(parsed, QDateTime(QDate(1994, 11, 6), QTime(8, 49, 37), Qt::UTC));
        QVERIFY(!LokiClockSkew::parseHttpDate("Sun, 06 Nov 1994 25:49:37 GMT").isValid());
        QVERIFY(!LokiClockSkew::parseHttpDate("").isValid());
    }
};

QTEST_GUILESS_MAIN(tst_ClockSkew)
#include "tst_clockskew.moc"
