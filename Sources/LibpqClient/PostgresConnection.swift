import CLibpq
import ConnectionPool
import Foundation

/// One blocking libpq connection.
///
/// Not thread-safe: `BlockingConnectionPool` confines each instance to one worker thread.
/// Every query is parameterised: statements are prepared once per connection (keyed by their SQL
/// text) and run as prepared statements, so user data never becomes part of SQL text.
///
/// Every call is sent with libpq's asynchronous API and its reply awaited with `poll` up to
/// `replyTimeoutMilliseconds`: a server that stops answering (blackholed, not restarted) fails
/// the call within that bound rather than after the kernel's retransmission timeout (about 15
/// minutes). TCP keepalives and `tcp_user_timeout` make the kernel notice a dead peer too.
public final class PostgresConnection: BlockingConnection {
    private let handle: OpaquePointer
    private let replyTimeoutMilliseconds: Int
    private var preparedStatements: [String: String] = [:]
    private var inTransaction = false
    /// Set by the notice receiver when the server gave up waiting for the synchronous standby.
    fileprivate var unreplicatedCommit = false
    public private(set) var isUsable = true

    public init(configuration: PostgresConfiguration) throws {
        let keywords = [
            "dbname", "connect_timeout", "application_name", "options",
            "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout",
        ]
        let options = "-c statement_timeout=\(configuration.statementTimeoutMilliseconds) -c lock_timeout=\(configuration.lockTimeoutMilliseconds) -c TimeZone=UTC -c DateStyle=ISO -c client_min_messages=warning"
        // An idle connection to a vanished host is found by keepalive probes within about 5 + 3 x 2
        // seconds; unacknowledged data gives up after the reply timeout.
        let values = [
            configuration.url, String(configuration.connectTimeoutSeconds), configuration.applicationName, options,
            "1", "5", "2", "3", String(configuration.replyTimeoutMilliseconds),
        ]
        // expand_dbname=1: the url in "dbname" is parsed as a full connection string; later
        // keywords override it, so the timeouts apply whatever the url says.
        let connection = withCStrings(keywords) { keywordPointers in
            withCStrings(values) { valuePointers in
                PQconnectdbParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let connection else { throw PostgresError.connection("cannot allocate libpq connection") }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(connection)).trimmingCharacters(in: .whitespacesAndNewlines)
            PQfinish(connection)
            throw PostgresError.connection(message)
        }
        self.handle = connection
        self.replyTimeoutMilliseconds = configuration.replyTimeoutMilliseconds
        // Unretained: the receiver lives as long as the handle, which `close` finishes.
        PQsetNoticeReceiver(connection, receiveNotice, Unmanaged.passUnretained(self).toOpaque())
    }

    /// The server this connection reached ("host:port"): with several hosts in the URL, the one
    /// libpq chose (the primary, under target_session_attrs=read-write).
    public var server: String {
        let host = PQhost(self.handle).map { String(cString: $0) } ?? "?"
        let port = PQport(self.handle).map { String(cString: $0) } ?? "?"
        return "\(host):\(port)"
    }

    public func close() {
        PQfinish(self.handle)
    }

    /// Runs one parameterised statement and returns its rows.
    @discardableResult
    public func query(_ query: PostgresQuery) throws -> PostgresRows {
        guard self.isUsable else { throw PostgresError.connection("connection already failed") }
        let name = try self.prepare(query.sql, parameterCount: query.binds.count)
        let texts = query.binds.map { $0.postgresText }
        let sent = withOptionalCStrings(texts) { values in
            PQsendQueryPrepared(self.handle, name, Int32(texts.count), values, nil, nil, 0)
        }
        return try self.consume(self.reply(sent: sent))
    }

    /// Runs `body` inside BEGIN/COMMIT; any thrown error rolls back and is rethrown.
    public func transaction<Result>(_ body: (PostgresConnection) throws -> Result) throws -> Result {
        precondition(!self.inTransaction, "nested transactions are not supported")
        try self.simple("BEGIN")
        self.inTransaction = true
        defer { self.inTransaction = false }
        do {
            let result = try body(self)
            try self.simple("COMMIT")
            return result
        } catch {
            if self.isUsable { try? self.simple("ROLLBACK") }
            throw error
        }
    }

    /// A statement without parameters through the simple protocol (BEGIN, COMMIT, DDL scripts
    /// with several statements). Never pass user data here.
    public func simple(_ sql: String) throws {
        guard self.isUsable else { throw PostgresError.connection("connection already failed") }
        _ = try self.consume(self.reply(sent: PQsendQuery(self.handle, sql)))
    }

    /// The channels of the notifications that arrived on this connection (after `LISTEN`), waiting
    /// up to `milliseconds` for the first when none is there yet; empty when none came. For a
    /// connection of its own (`PostgresNotificationListener`): a pooled one never waits idle.
    public func notifications(waitingUpTo milliseconds: Int) throws -> [String] {
        guard self.isUsable else { throw PostgresError.connection("connection already failed") }
        var channels = self.takeNotifications()
        guard channels.isEmpty else { return channels }
        var descriptor = pollfd(fd: PQsocket(self.handle), events: Int16(POLLIN), revents: 0)
        if poll(&descriptor, 1, Int32(clamping: milliseconds)) < 0 && errno != EINTR { throw self.connectionFailure() }
        if descriptor.revents != 0 {
            guard PQconsumeInput(self.handle) == 1, PQstatus(self.handle) == CONNECTION_OK else { throw self.connectionFailure() }
            channels = self.takeNotifications()
        }
        return channels
    }

    private func takeNotifications() -> [String] {
        var channels: [String] = []
        while let notification = PQnotifies(self.handle) {
            channels.append(String(cString: notification.pointee.relname))
            PQfreemem(notification)
        }
        return channels
    }

    private func prepare(_ sql: String, parameterCount: Int) throws -> String {
        if let name = self.preparedStatements[sql] { return name }
        let name = "s\(self.preparedStatements.count)"
        _ = try self.consume(self.reply(sent: PQsendPrepare(self.handle, name, sql, Int32(parameterCount), nil)))
        self.preparedStatements[sql] = name
        return name
    }

    /// The result of the call just sent (`sent`: what PQsend* returned), like PQexec's: the last of
    /// its results. Waits for input with `poll` until the reply deadline; past it the connection
    /// is given up (a late reply could no longer be matched to its call).
    private func reply(sent: Int32) throws -> OpaquePointer? {
        // A warning belongs to the call that got it: one left by a call that then failed must not
        // fail the next.
        self.unreplicatedCommit = false
        guard sent == 1 else { return nil }
        let deadline = ContinuousClock.now + .milliseconds(self.replyTimeoutMilliseconds)
        var last: OpaquePointer?
        while true {
            do {
                try self.awaitInput(until: deadline)
            } catch {
                if let last { PQclear(last) }
                throw error
            }
            guard let result = PQgetResult(self.handle) else { return last }
            if let last { PQclear(last) }
            last = result
        }
    }

    /// Reads input until libpq has a whole result (`PQisBusy` is 0), or fails the connection.
    private func awaitInput(until deadline: ContinuousClock.Instant) throws {
        while PQisBusy(self.handle) == 1 {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else {
                self.isUsable = false
                throw PostgresError.connection("no reply from PostgreSQL within \(self.replyTimeoutMilliseconds) ms")
            }
            var descriptor = pollfd(fd: PQsocket(self.handle), events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(min((remaining / .milliseconds(1)).rounded(.up), Double(Int32.max)))
            if poll(&descriptor, 1, milliseconds) < 0 && errno != EINTR { throw self.connectionFailure() }
            if descriptor.revents != 0 && PQconsumeInput(self.handle) == 0 { throw self.connectionFailure() }
        }
    }

    private func consume(_ result: OpaquePointer?) throws -> PostgresRows {
        guard let result else {
            throw self.connectionFailure()
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            if self.unreplicatedCommit {
                self.unreplicatedCommit = false
                throw PostgresError.server(
                    kind: .unreplicatedCommit, sqlState: "01000",
                    message: "committed on the primary only: the wait for the synchronous standby was canceled")
            }
            return Self.rows(of: result)
        default:
            if PQstatus(self.handle) != CONNECTION_OK { throw self.connectionFailure() }
            // "C" and "M" are PG_DIAG_SQLSTATE and PG_DIAG_MESSAGE_PRIMARY (char macros Swift cannot import).
            let sqlState = Self.field(result, Int32(UInt8(ascii: "C"))) ?? "XX000"
            let message = Self.field(result, Int32(UInt8(ascii: "M")))
                ?? String(cString: PQresultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines)
            let kind = ServerErrorKind(sqlState: sqlState)
            // A read-only answer means this server is (or became) a standby: after a failover the
            // next connection, with target_session_attrs=read-write, finds the new primary.
            if kind == .adminShutdown || kind == .readOnlyTransaction || sqlState.hasPrefix("08") { self.isUsable = false }
            throw PostgresError.server(kind: kind, sqlState: sqlState, message: message)
        }
    }

    private func connectionFailure() -> PostgresError {
        self.isUsable = false
        let message = String(cString: PQerrorMessage(self.handle)).trimmingCharacters(in: .whitespacesAndNewlines)
        return PostgresError.connection(message.isEmpty ? "connection lost" : message)
    }

    private static func field(_ result: OpaquePointer, _ code: Int32) -> String? {
        PQresultErrorField(result, code).map { String(cString: $0) }
    }

    private static func rows(of result: OpaquePointer) -> PostgresRows {
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        let columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
        var rows: [PostgresRow] = []
        rows.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            var values: [String?] = []
            values.reserveCapacity(columnCount)
            for column in 0..<columnCount {
                if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                    values.append(nil)
                } else {
                    values.append(String(cString: PQgetvalue(result, Int32(row), Int32(column))))
                }
            }
            rows.append(PostgresRow(columns: columns, values: values))
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        return PostgresRows(columns: columns, rows: rows, affectedRows: affected)
    }
}

/// libpq's notice receiver. A commit whose wait for the synchronous standby is canceled (by
/// statement_timeout, or a terminating backend) still succeeds, with only a WARNING saying it may
/// not be on the standby: the call then fails as `unreplicatedCommit`, so nothing is acknowledged
/// to a client that a failover could lose (a retry with the same Idempotency-Key finds it if it survived).
private func receiveNotice(_ context: UnsafeMutableRawPointer?, _ result: OpaquePointer?) {
    guard let context, let result,
        let message = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map({ String(cString: $0) })
    else { return }
    if message.hasPrefix("canceling") && message.contains("synchronous replication") {
        Unmanaged<PostgresConnection>.fromOpaque(context).takeUnretainedValue().unreplicatedCommit = true
    }
}

/// NUL-terminated copies of `strings`, with a trailing NULL pointer as libpq's keyword arrays need.
private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    withOptionalCStrings(strings + [nil]) { body($0) }
}

private func withOptionalCStrings<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0)! } }
    defer { copies.forEach { free($0) } }
    let pointers = copies.map { $0.map { UnsafePointer($0) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
