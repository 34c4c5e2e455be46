// SPDX-License-Identifier: MIT
// What a QML UI binds, seen through Qt's meta-object system alone (no Qt Qml needed): LokiClient's properties
// and their NOTIFY signals, and the fields of LokiClientCounters and LokiError as read-only gadget properties
// whose values are the C++ API's.
#include <lokiqt/lokiclient.h>

#include "lokitestreceiver.h"

#include <QtCore/QMetaProperty>
#include <QtTest/QSignalSpy>
#include <QtTest/QtTest>

using namespace std::chrono_literals;

namespace {
constexpr int longWait = 30000;

QVariant readGadget(const QMetaObject &mo, const void *gadget, const char *name)
{
    const int index = mo.indexOfProperty(name);
    if (index < 0)
        return QVariant();
    return mo.property(index).readOnGadget(gadget);
}

LokiConfig testConfig(const QUrl &url)
{
    LokiConfig config;
    config.url = url;
    config.labels = {{"app", "tst_qmlproperties"}};
    config.batch.maxWait = 50ms;
    config.retry.maxAttempts = 1000;
    config.retry.maxBackoff = 300ms;
    return config;
}
} // namespace

class tst_QmlProperties : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void clientPropertiesHaveNotifySignals()
    {
        const QMetaObject &mo = LokiClient::staticMetaObject;
        const struct
        {
            const char *property;
            const char *notify; // null: CONSTANT
        } expected[] = {
            {"state", "stateChanged(LokiClient::State)"},
            {"accepted", "countersChanged()"},
            {"sent", "countersChanged()"},
            {"dropped", "countersChanged()"},
            {"failed", "countersChanged()"},
            {"retried", "countersChanged()"},
            {"queued", "countersChanged()"},
            {"counters", "countersChanged()"},
            {"lastError", "errorOccurred(LokiError)"},
            {"spooling", nullptr},
        };
        for (const auto &e : expected) {
            const int index = mo.indexOfProperty(e.property);
            QVERIFY2(index >= 0, e.property);
            const QMetaProperty p = mo.property(index);
            QVERIFY2(p.isReadable(), e.property);
            QVERIFY2(!p.isWritable(), e.property);
            if (e.notify) {
                QVERIFY2(p.hasNotifySignal(), e.property);
                QCOMPARE(p.notifySignal().methodSignature(), QByteArray(e.notify));
            } else {
                QVERIFY2(p.isConstant(), e.property);
            }
        }
        QCOMPARE(mo.property(mo.indexOfProperty("counters")).metaType(),
                 QMetaType::fromType<LokiClientCounters>());
        QCOMPARE(mo.property(mo.indexOfProperty("lastError")).metaType(), QMetaType::fromType<LokiError>());
        // The same type under both names: existing code keeps writing LokiClient::Counters.
        QVERIFY((std::is_same_v<LokiClient::Counters, LokiClientCounters>));
        QVERIFY(QMetaType::fromType<LokiClientCounters>().flags() & QMetaType::IsGadget);
        QVERIFY(QMetaType::fromType<LokiError>().flags() & QMetaType::IsGadget);
    }

    void gadgetFieldsAreReadOnlyProperties()
    {
        // Every field of the counters is a property of the same name, with the field's value.
        LokiClientCounters c;
        const char *const fields[] = {
            "accepted", "sent",    "droppedNew", "droppedOldest", "droppedClosed", "timedOut",
            "rejected", "failed",  "retried",    "queued",        "truncated",     "demoted",
            "splits",   "expired", "corrupted",  "replayed",      "droppedNoSpace"};
        qint64 LokiClientCounters::*const members[] = {
            &LokiClientCounters::accepted,      &LokiClientCounters::sent,
            &LokiClientCounters::droppedNew,    &LokiClientCounters::droppedOldest,
            &LokiClientCounters::droppedClosed, &LokiClientCounters::timedOut,
            &LokiClientCounters::rejected,      &LokiClientCounters::failed,
            &LokiClientCounters::retried,       &LokiClientCounters::queued,
            &LokiClientCounters::truncated,     &LokiClientCounters::demoted,
            &LokiClientCounters::splits,        &LokiClientCounters::expired,
            &LokiClientCounters::corrupted,     &LokiClientCounters::replayed,
            &LokiClientCounters::droppedNoSpace};
        static_assert(std::size(fields) == std::size(members));
        for (size_t i = 0; i < std::size(members); ++i)
            c.*members[i] = qint64(100 + i);
        const QMetaObject &cmo = LokiClientCounters::staticMetaObject;
        QCOMPARE(cmo.propertyCount(), int(std::size(fields)) + 1); // + dropped
        for (size_t i = 0; i < std::size(fields); ++i) {
            const QMetaProperty p = cmo.property(cmo.indexOfProperty(fields[i]));
            QVERIFY2(p.isValid() && p.isReadable() && !p.isWritable(), fields[i]);
            QCOMPARE(p.readOnGadget(&c).toLongLong(), qint64(100 + i));
        }
        QCOMPARE(readGadget(cmo, &c, "dropped").toLongLong(), c.dropped());
        QVERIFY(c.dropped() > 0);

        const LokiError error(LokiError::Kind::Http, QStringLiteral("entry too far behind"), 12, 400, false,
                              3);
        const QMetaObject &emo = LokiError::staticMetaObject;
        QCOMPARE(readGadget(emo, &error, "kind").value<LokiError::Kind>(), LokiError::Kind::Http);
        QCOMPARE(readGadget(emo, &error, "httpStatus").toInt(), 400);
        QCOMPARE(readGadget(emo, &error, "message").toString(), QStringLiteral("entry too far behind"));
        QCOMPARE(readGadget(emo, &error, "entries").toInt(), 12);
        QCOMPARE(readGadget(emo, &error, "willRetry").toBool(), false);
        QCOMPARE(readGadget(emo, &error, "attempt").toInt(), 3);
        QCOMPARE(readGadget(emo, &error, "isError").toBool(), true);
        QCOMPARE(readGadget(emo, &error, "text").toString(), error.toString());
        const LokiError none;
        QCOMPARE(readGadget(emo, &none, "isError").toBool(), false);
        for (int i = emo.propertyOffset(); i < emo.propertyCount(); ++i)
            QVERIFY2(!emo.property(i).isWritable(), emo.property(i).name());
        QVERIFY(emo.indexOfMethod("toString()") >= 0); // invokable, from QML too
    }

    void notifySignalsFollowTheValues()
    {
        LokiTestReceiver receiver;
        QVERIFY(receiver.listen());
        LokiClient client(testConfig(receiver.url()));
        QSignalSpy counters(&client, &LokiClient::countersChanged);
        QSignalSpy states(&client, &LokiClient::stateChanged);
        QSignalSpy errors(&client, &LokiClient::errorOccurred);

        // A burst of sends: the counters property follows, announced by far fewer countersChanged than
        // changes (they are coalesced), the last one after the last change.
        constexpr int burst = 1000;
        for (int i = 0; i < burst; ++i)
            QCOMPARE(client.send(QStringLiteral("line %1").arg(i)), LokiClient::SendResult::Accepted);
        QTRY_COMPARE_WITH_TIMEOUT(receiver.entryCount(), burst, longWait);
        QTRY_COMPARE_WITH_TIMEOUT(client.property("counters").value<LokiClientCounters>().sent, qint64(burst),
                                  longWait);
        QVERIFY(!counters.isEmpty());
        QVERIFY2(counters.count() < burst, QByteArray::number(counters.count()));
        // The property holds the final values.
        QTRY_COMPARE_WITH_TIMEOUT(client.property("queued").toLongLong(), qint64(0), longWait);
        const LokiClientCounters c = client.property("counters").value<LokiClientCounters>();
        QCOMPARE(c.accepted, qint64(burst));
        QCOMPARE(c.sent, qint64(burst));
        QCOMPARE(client.property("sent").toLongLong(), qint64(burst));
        QVERIFY(!states.isEmpty());
        QCOMPARE(client.property("state").value<LokiClient::State>(), LokiClient::State::Idle);
        // The signal follows the value (it may come a little after the property has it).
        QTRY_COMPARE_WITH_TIMEOUT(states.constLast().at(0).value<LokiClient::State>(),
                                  LokiClient::State::Idle, longWait);
        QVERIFY(errors.isEmpty());
        QVERIFY(!client.property("lastError").value<LokiError>().isError());
        QCOMPARE(client.property("spooling").toBool(), false);

        // An outage: lastError's NOTIFY (errorOccurred) fires, and the property then has the failure.
        receiver.stop();
        QCOMPARE(client.send(QStringLiteral("during the outage")), LokiClient::SendResult::Accepted);
        QVERIFY(errors.wait(longWait));
        const LokiError last = client.property("lastError").value<LokiError>();
        QCOMPARE(last.kind(), LokiError::Kind::Network);
        QCOMPARE(readGadget(LokiError::staticMetaObject, &last, "willRetry").toBool(), true);
        QVERIFY(!last.message().isEmpty());
        QTRY_COMPARE_WITH_TIMEOUT(client.property("state").value<LokiClient::State>(),
                                  LokiClient::State::Retrying, longWait);
        QTRY_COMPARE_WITH_TIMEOUT(states.constLast().at(0).value<LokiClient::State>(),
                                  LokiClient::State::Retrying, longWait);
        QVERIFY(receiver.restart());
        QTRY_COMPARE_WITH_TIMEOUT(client.property("sent").toLongLong(), qint64(burst + 1), longWait);
    }
};

QTEST_MAIN(tst_QmlProperties)
#include "tst_qmlproperties.moc"
