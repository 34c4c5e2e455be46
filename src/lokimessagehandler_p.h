// SPDX-License-Identifier: MIT
#ifndef LOKIQT_LOKIMESSAGEHANDLER_P_H
#define LOKIQT_LOKIMESSAGEHANDLER_P_H

#include <lokiqt/lokimessagehandler.h>

#include <QtCore/QtGlobal>

class LokiClient;

/** What the rest of the library may ask of the message handler. */
class LokiMessageHandlerPrivate
{
public:
    /**
     * Any thread; called first thing by ~LokiClient. When the handler is installed for @p client, uninstalls
     * it as uninstall() does (waiting for messages being handled), so that no later message reaches the
     * destroyed client.
     */
    static void clientDestroyed(LokiClient *client);

    /** install(), returning the generation it installed (0 when it installed nothing) and @p optionsOk. */
    static quint64 install(LokiClient *client, const LokiMessageHandler::Options &options, bool *optionsOk);
    /** uninstall(), only when the installed generation is still @p generation. */
    static void uninstall(quint64 generation);

    /** The install lock held: takes the installed state away and frees it once no message uses it. */
    static void detachLocked();
    /** The install lock held: takes our handler out of Qt's chain when it is the current one. */
    static void unlinkLocked();
};

#endif // LOKIQT_LOKIMESSAGEHANDLER_P_H
