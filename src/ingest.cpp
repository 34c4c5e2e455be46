// SPDX-License-Identifier: MIT
#include "ingest_p.h"

#include <QtCore/QCoreApplication>

#include <cstring>

namespace {
QString validateConfig(const LokiConfig &config)
{
    QString why;
    return config.isValid(&why) ? QString() : why;
}

QString fallbackName()
{
    const QString name = QCoreApplication::applicationName();
    return name.isEmpty() ? QStringLiteral("unknown_service") : name;
}

constexpr std::array<QtMsgType, 5> messageTypes{QtDebugMsg, QtInfoMsg, QtWarningMsg, QtCriticalMsg,
                                                QtFatalMsg};
} // namespace

// -- LokiStreamTable

LokiStreamTable::~LokiStreamTable()
{
    qDeleteAll(m_streams);
}

const LokiStreamInfo *LokiStreamTable::intern(const LokiRender::LabelMap &labels, qsizetype maxStreams)
{
    QByteArray key = LokiRender::streamKey(labels);
    QMutexLocker lock(&m_mutex);
    auto it = m_streams.constFind(key);
    if (it != m_streams.constEnd())
        return it.value();
    if (m_streams.size() >= maxStreams)
        return nullptr;
    auto *info = new LokiStreamInfo{key, LokiRender::jsonLabels(labels)};
    m_streams.insert(key, info);
    return info;
}

const LokiStreamInfo *LokiStreamTable::internRaw(const QByteArray &key, const QByteArray &json)
{
    QMutexLocker lock(&m_mutex);
    auto it = m_streams.constFind(key);
    if (it != m_streams.constEnd())
        return it.value();
    auto *info = new LokiStreamInfo{key, json};
    m_streams.insert(key, info);
    return info;
}

qsizetype LokiStreamTable::size() const
{
    QMutexLocker lock(&m_mutex);
    return m_streams.size();
}

// -- LokiIngest

LokiIngest::LokiIngest(const LokiConfig &config)
    : m_config(config)
    , m_configError(validateConfig(config))
    , m_fallbackName(fallbackName())
{
    m_defaultStream = m_streams.intern(withFallback(config.labels));
}

int LokiIngest::severity(QtMsgType type)
{
    switch (type) {
    case QtDebugMsg:
        return 0;
    case QtInfoMsg:
        return 1;
    case QtWarningMsg:
        return 2;
    case QtCriticalMsg:
        return 3;
    case QtFatalMsg:
        return 4;
    }
    return 0;
}

LokiRender::LabelMap LokiIngest::withFallback(LokiRender::LabelMap labels) const
{
    // Loki refuses a stream without labels; such entries get the one label Loki 3 would derive itself.
    if (labels.isEmpty())
        labels.insert(QStringLiteral("service_name"), m_fallbackName);
    return labels;
}

LokiIngested LokiIngest::rejected(const QString &why) const
{
    LokiIngested out;
    out.rejection = why;
    return out;
}

void LokiIngest::setLine(LokiIngested &ingested, QByteArray utf8) const
{
    if (utf8.size() > m_config.limits.maxLineBytes) {
        utf8 = LokiRender::truncateLine(utf8, m_config.limits.maxLineBytes);
        ingested.truncated = true;
    }
    ingested.entry.line = std::move(utf8);
}

QString LokiIngest::labelSetProblem(const LokiRender::LabelMap &labels) const
{
    const LokiConfig::Limits &limits = m_config.limits;
    if (labels.size() > limits.maxLabelNames)
        return QStringLiteral("%1 labels on one stream; at most %2 are allowed (Loki's "
                              "max_label_names_per_series)")
            .arg(labels.size())
            .arg(limits.maxLabelNames);
    for (auto it = labels.cbegin(); it != labels.cend(); ++it) {
        if (it.value().size() > limits.maxLabelValueLength)
            return QStringLiteral("the value of label '%1' is longer than %2 characters")
                .arg(it.key())
                .arg(limits.maxLabelValueLength);
    }
    return QString();
}

LokiIngested LokiIngest::entry(const LokiEntry &entry)
{
    if (!m_configError.isEmpty())
        return rejected(QStringLiteral("invalid configuration: ") + m_configError);
    const LokiConfig::Limits &limits = m_config.limits;
    for (auto it = entry.labels.cbegin(); it != entry.labels.cend(); ++it) {
        if (!LokiRender::isValidLabelName(it.key()))
            return rejected(QStringLiteral("label name '%1' breaks Loki's rules ([a-zA-Z_][a-zA-Z0-9_]*, "
                                           "not starting with __); try '%2'")
                                .arg(it.key(), LokiRender::sanitizeLabelName(it.key())));
        if (it.key().size() > limits.maxLabelNameLength)
            return rejected(QStringLiteral("label name '%1...' is longer than %2 characters")
                                .arg(it.key().left(32))
                                .arg(limits.maxLabelNameLength));
        if (it.value().size() > limits.maxLabelValueLength)
            return rejected(QStringLiteral("the value of label '%1' is longer than %2 characters")
                                .arg(it.key())
                                .arg(limits.maxLabelValueLength));
    }

    // Fields named in structuredMetadataFields become metadata; the others go into the line.
    LokiRender::FieldList fields = LokiRender::flattenFields(entry.fields);
    LokiIngested out;
    out.entry.timestampNs = entry.timestampNs;
    if (m_config.structuredMetadata && !m_config.structuredMetadataFields.isEmpty()) {
        for (auto it = fields.begin(); it != fields.end();) {
            if (m_config.structuredMetadataFields.contains(it->first)) {
                out.entry.metadata.append({it->first.toUtf8(), it->second.toUtf8()});
                it = fields.erase(it);
            } else {
                ++it;
            }
        }
    }
    QString line = LokiRender::renderLine(m_config.lineFormat, QString(), entry.line, fields);

    out.entry.stream = m_defaultStream;
    const bool mayPromote = !m_config.labelAllowList.isEmpty() && !fields.isEmpty();
    if (!entry.labels.isEmpty() || mayPromote) {
        const LokiRender::LabelMap labels = withFallback(LokiRender::composeLabels(
            m_config.labels, entry.labels, fields, m_config.labelAllowList, m_config.labelDenyList));
        // The entry's own labels are checked above; allow-listed fields join here, so the whole set is
        // checked.
        const QString problem = labelSetProblem(labels);
        if (!problem.isEmpty())
            return rejected(problem);
        out.entry.stream = streamFor(labels, &out.entry.metadata, &line, &out.demoted);
    }
    setLine(out, LokiRender::toUtf8Exact(line));
    return out;
}

LokiIngested LokiIngest::line(const QString &line) const
{
    if (!m_configError.isEmpty())
        return rejected(QStringLiteral("invalid configuration: ") + m_configError);
    LokiIngested out;
    out.entry.stream = m_defaultStream;
    if (m_config.lineFormat != LokiConfig::LineFormat::Plain)
        setLine(out,
                LokiRender::toUtf8Exact(LokiRender::renderLine(m_config.lineFormat, QString(), line, {})));
    else
        setLine(out, LokiRender::toUtf8Exact(line));
    return out;
}

LokiIngested LokiIngest::utf8(const QByteArray &line) const
{
    if (!m_configError.isEmpty())
        return rejected(QStringLiteral("invalid configuration: ") + m_configError);
    LokiIngested out;
    out.entry.stream = m_defaultStream;
    if (!LokiRender::isValidUtf8(line))
        setLine(out, LokiRender::toUtf8Exact(QString::fromUtf8(line))); // U+FFFD for junk
    else
        setLine(out, line);
    return out;
}

const LokiStreamInfo *LokiIngest::streamFor(const LokiRender::LabelMap &labels, LokiMetadata *metadata,
                                            QString *line, bool *demoted)
{
    if (const LokiStreamInfo *stream = m_streams.intern(labels, m_config.limits.maxStreams))
        return stream;
    // Over the cap: the labels beyond the static ones travel as metadata (or in the line), in the static
    // stream.
    *demoted = true;
    for (auto it = labels.cbegin(); it != labels.cend(); ++it) {
        if (m_config.labels.value(it.key()) == it.value())
            continue;
        if (m_config.structuredMetadata) {
            metadata->append({it.key().toUtf8(), it.value().toUtf8()});
        } else if (m_config.lineFormat == LokiConfig::LineFormat::Json && line->endsWith(QLatin1Char('}'))) {
            QByteArray pair(",\"");
            LokiRender::appendJsonEscaped(pair, it.key().toUtf8());
            pair += "\":\"";
            LokiRender::appendJsonEscaped(pair, it.value().toUtf8());
            pair += '"';
            line->insert(line->size() - 1, QString::fromUtf8(pair));
        } else {
            *line = LokiRender::renderLine(*line, {{LokiRender::logfmtKey(it.key()), it.value()}});
        }
    }
    return m_defaultStream;
}

LokiError LokiIngest::truncatedReport() const
{
    return LokiError(LokiError::Kind::Limit,
                     QStringLiteral("a line longer than %1 bytes was cut (reported once; "
                                    "counted in Counters::truncated)")
                         .arg(m_config.limits.maxLineBytes),
                     1);
}

LokiError LokiIngest::demotedReport() const
{
    return LokiError(LokiError::Kind::Limit,
                     QStringLiteral("more than %1 streams (LokiConfig::limits.maxStreams): extra labels "
                                    "now go into %2 instead of creating streams (reported once; "
                                    "counted in Counters::demoted)")
                         .arg(m_config.limits.maxStreams)
                         .arg(m_config.structuredMetadata ? QStringLiteral("structured metadata")
                                                          : QStringLiteral("the line")),
                     1);
}

// -- the message handler's path

LokiIngest::HandlerContext LokiIngest::handlerContext(const LokiMessageHandler::Options &options,
                                                      QStringList *problems)
{
    const LokiConfig::Limits &limits = m_config.limits;
    HandlerContext c;
    c.options = options;
    QString &levelLabel = c.options.levelLabel;
    const QString asked = levelLabel;
    if (!levelLabel.isEmpty() && !LokiRender::isValidLabelName(levelLabel)) {
        levelLabel = LokiRender::sanitizeLabelName(levelLabel);
        problems->append(
            QStringLiteral("LokiMessageHandler::Options::levelLabel '%1' breaks Loki's label name "
                           "rules ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __); using '%2'")
                .arg(asked, levelLabel));
    }
    if (levelLabel.size() > limits.maxLabelNameLength) {
        problems->append(
            QStringLiteral("LokiMessageHandler::Options::levelLabel '%1...' is longer than %2 "
                           "characters (limits.maxLabelNameLength); the level goes into the line")
                .arg(asked.left(32))
                .arg(limits.maxLabelNameLength));
        levelLabel.clear();
    }
    for (QtMsgType type : messageTypes) {
        if (!levelLabel.isEmpty() &&
            LokiMessageHandler::levelName(type).size() > limits.maxLabelValueLength) {
            problems->append(
                QStringLiteral("LokiMessageHandler::Options::levelLabel: the level '%1' is longer "
                               "than %2 characters (limits.maxLabelValueLength); the level goes "
                               "into the line")
                    .arg(LokiMessageHandler::levelName(type))
                    .arg(limits.maxLabelValueLength));
            levelLabel.clear();
        }
    }
    const auto labelCount = [this](const QString &name) {
        return m_config.labels.size() + (m_config.labels.contains(name) ? 0 : 1);
    };
    if (!levelLabel.isEmpty() && labelCount(levelLabel) > limits.maxLabelNames) {
        problems->append(
            QStringLiteral("LokiMessageHandler::Options::levelLabel '%1' would be label %2 of a "
                           "stream; at most %3 are allowed (limits.maxLabelNames); the level goes "
                           "into the line")
                .arg(levelLabel)
                .arg(labelCount(levelLabel))
                .arg(limits.maxLabelNames));
        levelLabel.clear();
    }

    const QString category = QStringLiteral("category");
    c.categoryIsLabel =
        m_config.labelAllowList.contains(category) && !m_config.labelDenyList.contains(category);
    if (c.categoryIsLabel) {
        LokiRender::LabelMap names = m_config.labels;
        if (!levelLabel.isEmpty())
            names.insert(levelLabel, QString());
        names.insert(category, QString());
        if (names.size() > limits.maxLabelNames) {
            problems->append(
                QStringLiteral("labelAllowList names 'category', but with it the message handler's "
                               "streams would have %1 labels; at most %2 are allowed "
                               "(limits.maxLabelNames); the category goes into the line")
                    .arg(names.size())
                    .arg(limits.maxLabelNames));
            c.categoryIsLabel = false;
        }
    }

    for (QtMsgType type : messageTypes) {
        LokiRender::LabelMap labels = m_config.labels;
        if (!levelLabel.isEmpty())
            labels.insert(levelLabel, LokiMessageHandler::levelName(type));
        const size_t level = size_t(severity(type));
        c.levelStreams[level] = m_streams.intern(withFallback(labels));
        c.levelLabels[level] = std::move(labels);
    }
    return c;
}

bool LokiIngest::categoryIsLabel(const HandlerContext &c, const char *category) const
{
    // A category label only while its value fits the limit; otherwise the category goes into the line.
    return c.categoryIsLabel && category && category[0] != '\0' &&
           qsizetype(std::strlen(category)) <= m_config.limits.maxLabelValueLength;
}

LokiMessageParts LokiIngest::messageParts(const HandlerContext &c, QtMsgType type,
                                          const QMessageLogContext &where, const QString *text)
{
    LokiMessageParts parts;
    parts.text = text;
    parts.category = where.category;
    parts.file = where.file;
    parts.function = where.function;
    parts.line = where.line;
    parts.type = type;
    parts.stream = c.levelStreams[size_t(severity(type))];
    const LokiMessageHandler::Options &options = c.options;
    quint8 flags = 0;
    if (options.levelLabel.isEmpty())
        flags |= LokiMessageParts::LevelField;
    if (options.includeContext)
        flags |= LokiMessageParts::ContextFields;
    // An allow-listed category too long for a label value goes into the line even without includeContext.
    if (c.categoryIsLabel && where.category && where.category[0] != '\0')
        flags |= LokiMessageParts::CategoryField;
    parts.flags = flags;
    return parts;
}

QString LokiIngest::messageLine(const LokiRawMessage &raw) const
{
    const LokiConfig::LineFormat format = m_config.lineFormat;
    LokiRender::FieldList fields;
    // Plain carries the level in the line only without a level label; logfmt and JSON always do, so that
    // `| logfmt` and `| json` find it.
    const QString level =
        format != LokiConfig::LineFormat::Plain ? LokiMessageHandler::levelName(raw.type) : QString();
    if ((raw.flags & LokiMessageParts::LevelField) && format == LokiConfig::LineFormat::Plain)
        fields.append({QStringLiteral("level"), LokiMessageHandler::levelName(raw.type)});
    if (raw.flags & LokiMessageParts::HasCategory)
        fields.append({QStringLiteral("category"), QString::fromUtf8(raw.category)});
    if (raw.flags & LokiMessageParts::ContextFields) {
        if (raw.flags & LokiMessageParts::HasFile)
            fields.append({QStringLiteral("file"), QString::fromUtf8(raw.file)});
        if (raw.line > 0)
            fields.append({QStringLiteral("line"), QString::number(raw.line)});
        if (raw.flags & LokiMessageParts::HasFunction)
            fields.append({QStringLiteral("function"), QString::fromUtf8(raw.function)});
    }
    return LokiRender::renderLine(format, level, raw.text, fields);
}

bool LokiIngest::cutLine(QByteArray &utf8) const
{
    if (utf8.size() <= m_config.limits.maxLineBytes)
        return false;
    utf8 = LokiRender::truncateLine(utf8, m_config.limits.maxLineBytes);
    return true;
}

bool LokiIngest::renderMessage(const LokiRawMessage &raw, LokiQueuedEntry &entry) const
{
    entry.stream = raw.stream;
    entry.line = LokiRender::toUtf8Exact(messageLine(raw));
    return cutLine(entry.line);
}

LokiIngested LokiIngest::message(const HandlerContext &c, QtMsgType type, const QMessageLogContext &where,
                                 const QString &message)
{
    const QString formatted =
        c.options.useMessagePattern ? qFormatLogMessage(type, where, message) : QString();
    const bool categoryLabel = categoryIsLabel(c, where.category);
    LokiMessageParts parts =
        messageParts(c, type, where, c.options.useMessagePattern ? &formatted : &message);
    if (categoryLabel)
        parts.flags &= quint8(~LokiMessageParts::CategoryField); // a label, not a field
    LokiRawMessage raw;
    raw.assign(parts);
    if (categoryLabel) // the category is the label's value, not a field
        raw.flags &= quint8(~LokiMessageParts::HasCategory);
    QString line = messageLine(raw);
    LokiIngested out;
    if (categoryLabel) {
        LokiRender::LabelMap labels = c.levelLabels[size_t(severity(type))];
        labels.insert(QStringLiteral("category"), QString::fromUtf8(where.category));
        out.entry.stream = streamFor(labels, &out.entry.metadata, &line, &out.demoted);
    } else {
        out.entry.stream = parts.stream;
    }
    setLine(out, LokiRender::toUtf8Exact(line));
    return out;
}
