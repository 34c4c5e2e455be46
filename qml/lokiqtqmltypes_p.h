// SPDX-License-Identifier: MIT
#ifndef LOKIQT_LOKIQTQMLTYPES_P_H
#define LOKIQT_LOKIQTQMLTYPES_P_H

// The QML module LokiQt: lokiqt's types as QML sees them. The library itself knows nothing of QML (it links
// only Qt Core and Network), so each type is registered here through a QML_FOREIGN wrapper, which
// qt_add_qml_module (qmltyperegistrar) turns into the module's registration. Available since Qt 6.2:
// QML_FOREIGN, QML_NAMED_ELEMENT, QML_UNCREATABLE, QML_VALUE_TYPE and QML_FOREIGN_NAMESPACE (<QtQml/qqml.h>
// has them in every Qt 6).

#include <lokiqt/lokiclient.h>
#include <lokiqt/lokierror.h>

#include <QtQml/qqml.h>

// LokiClient: read from QML (its properties, signals and invokables), never made there. C++ creates the
// client (it owns a thread and must outlive every QML object that uses it) and hands it in, e.g. as an
// initial or context property. Its enums: LokiClient.Idle, LokiClient.Sending, ... (State),
// LokiClient.Accepted, ...
struct LokiClientForeign
{
    Q_GADGET
    QML_FOREIGN(LokiClient)
    QML_NAMED_ELEMENT(LokiClient)
    QML_UNCREATABLE("A LokiClient is created in C++ and handed to QML (an initial or context property)")
};

// LokiError as a value type: client.lastError.message, the error argument of onErrorOccurred. Value types
// have lower-case names in QML; they are not created in QML (Qt 6.2's QML_VALUE_TYPE also makes it
// uncreatable).
struct LokiErrorForeign
{
    Q_GADGET
    QML_FOREIGN(LokiError)
    QML_VALUE_TYPE(lokiError)
};

// LokiError's enum Kind, for comparisons: error.kind === LokiError.Network.
namespace LokiErrorForeignEnums {
Q_NAMESPACE
QML_FOREIGN_NAMESPACE(LokiError)
QML_NAMED_ELEMENT(LokiError)
} // namespace LokiErrorForeignEnums

// LokiClient::Counters (LokiClientCounters) as a value type: client.counters.sent, client.counters.dropped.
struct LokiCountersForeign
{
    Q_GADGET
    QML_FOREIGN(LokiClientCounters)
    QML_VALUE_TYPE(lokiCounters)
};

#endif // LOKIQT_LOKIQTQMLTYPES_P_H
