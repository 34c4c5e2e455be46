// SPDX-License-Identifier: MIT
#ifndef LOKIQT_LOKIANSWER_P_H
#define LOKIQT_LOKIANSWER_P_H

// Pure readers of Loki's error answers: what a 400 body says about the entries of the push.

#include <QtCore/QByteArray>

namespace LokiAnswer {

/**
 * How many entries of a push of @p batchEntries entries Loki refused, read from the body of its 400 answer;
 * Loki stored the others. -1 when the body does not tell (then every entry must count as refused).
 *
 * Loki 2.9's distributor validates each entry and stores the valid ones; its answer lists one reason per
 * refused entry, grouped by text (util.GroupedErrors): a single reason as it is, else
 * `N errors like: <reason>` joined by `; `. Only reasons that refuse exactly one entry count (timestamp too
 * old or too new, line too long, structured metadata refused); any other reason (a stream's labels, which
 * refuse all its entries; a malformed body) or any text it cannot read gives -1. The ingester's answer
 * `... total ignored: N out of M for stream: {...}` counts when M is @p batchEntries (the push was that one
 * stream). A total above @p batchEntries gives -1.
 *
 * Give it the whole body: a cut one may undercount.
 */
int refusedEntries(const QByteArray &body, int batchEntries);

} // namespace LokiAnswer

#endif // LOKIQT_LOKIANSWER_P_H
