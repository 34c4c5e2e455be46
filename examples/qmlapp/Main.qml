// SPDX-License-Identifier: MIT
// The QML example's window content: buttons that log at each level, and a live panel of the LokiClient's
// properties. Every value is a binding: it follows the client's NOTIFY signals (stateChanged,
// countersChanged, errorOccurred); nothing polls.
//
// C++ hands in the client (a LokiClient is created in C++ and is uncreatable in QML), the logger and the push
// URL as required properties: main.cpp, and tests/tst_qmlapp.cpp.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import LokiQt

Pane {
    id: root

    required property LokiClient client
    required property QtObject logger // AppLogger: debug(), info(), warning(), error(), burst()
    required property string pushUrl
    property int burstLines: 1000

    function stateName(state) {
        switch (state) {
        case LokiClient.Idle: return "Idle"
        case LokiClient.Sending: return "Sending"
        case LokiClient.Retrying: return "Retrying"
        case LokiClient.Closed: return "Closed"
        }
        return "?"
    }

    // Room for the error banner too: the window keeps the size it starts with.
    implicitWidth: 620
    implicitHeight: content.implicitHeight + topPadding + bottomPadding + (banner.visible ? 0 : 48)

    ColumnLayout {
        id: content
        anchors.fill: parent
        spacing: 12

        // The banner: the latest error, until dismissed (a new error shows it again).
        Rectangle {
            id: banner
            objectName: "errorBanner"
            property bool dismissed: false
            visible: root.client.lastError.isError && !dismissed
            Layout.fillWidth: true
            implicitHeight: bannerText.implicitHeight + 16
            color: "#fde7e9"
            border.color: "#c42b1c"
            radius: 4
            Label {
                id: bannerText
                objectName: "errorBannerText"
                anchors.fill: parent
                anchors.margins: 8
                text: root.client.lastError.text
                wrapMode: Text.Wrap
                color: "#8a1c12"
            }
            Connections {
                target: root.client
                function onErrorOccurred(error) { banner.dismissed = false }
            }
            TapHandler { onTapped: banner.dismissed = true }
        }

        GroupBox {
            title: "Log (category app.qml)"
            Layout.fillWidth: true
            ColumnLayout {
                anchors.fill: parent
                TextField {
                    id: message
                    objectName: "messageField"
                    Layout.fillWidth: true
                    text: "Hello from qmlapp"
                }
                RowLayout {
                    Button { objectName: "debugButton"; text: "Debug"; onClicked: root.logger.debug(message.text) }
                    Button { objectName: "infoButton"; text: "Info"; onClicked: root.logger.info(message.text) }
                    Button {
                        objectName: "warningButton"; text: "Warning"
                        onClicked: root.logger.warning(message.text)
                    }
                    Button { objectName: "errorButton"; text: "Error"; onClicked: root.logger.error(message.text) }
                    Button {
                        objectName: "burstButton"
                        text: "Burst: " + root.burstLines + " lines"
                        onClicked: root.logger.burst(root.burstLines)
                    }
                }
            }
        }

        GroupBox {
            title: "Loki client"
            Layout.fillWidth: true
            GridLayout {
                anchors.fill: parent
                columns: 2
                columnSpacing: 16

                Label { text: "Pushes to:" }
                Label { objectName: "pushUrlValue"; text: root.pushUrl }
                Label { text: "State:" }
                Label { objectName: "stateValue"; text: root.stateName(root.client.state) }
                Label { text: "Queued:" }
                Label { objectName: "queuedValue"; text: root.client.counters.queued }
                Label { text: "Sent:" }
                Label { objectName: "sentValue"; text: root.client.counters.sent }
                Label { text: "Dropped:" }
                Label { objectName: "droppedValue"; text: root.client.counters.dropped }
                Label { text: "Failed:" }
                Label { objectName: "failedValue"; text: root.client.counters.failed }
                Label { text: "Retried pushes:" }
                Label { objectName: "retriedValue"; text: root.client.counters.retried }
                Label { text: "Last error:" }
                Label {
                    objectName: "lastErrorValue"
                    Layout.fillWidth: true
                    wrapMode: Text.Wrap
                    text: root.client.lastError.isError ? root.client.lastError.text : "none"
                    color: root.client.lastError.kind === LokiError.Network ? "#c42b1c" : palette.windowText
                }
            }
        }
    }
}
