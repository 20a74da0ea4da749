import CHiredis
import ConnectionPool
import Foundation

/// One blocking hiredis connection.
///
/// Not thread-safe: `BlockingConnectionPool` confines each instance to one worker thread.
/// After any I/O error `isUsable` turns false and the pool replaces the connection, because
/// hiredis leaves a context unusable once its `err` is set.
public final class RedisConnection: BlockingConnection {
    public typealias PipelinedRequest = RedisRequest
    public typealias PipelinedReply = RedisReply

    private let context: UnsafeMutablePointer<redisContext>
    public private(set) var isUsable = true

    public init(configuration: RedisConfiguration) throws {
        guard let context = redisConnectWithTimeout(configuration.host, Int32(configuration.port), timeval(configuration.connectTimeout)) else {
            throw RedisError.connect("cannot allocate redis context")
        }
        self.context = context
        if context.pointee.err != 0 {
            let message = Self.errorString(context)
            redisFree(context)
            throw RedisError.connect("\(configuration.host):\(configuration.port): \(message)")
        }
        redisSetTimeout(context, timeval(configuration.commandTimeout))
        do {
            // A refused AUTH or SELECT means this connection cannot be used: a connection error.
            if let password = configuration.password {
                var auth: [RedisArgument] = ["AUTH"]
                if let user = configuration.username { auth.append(RedisArgument(user)) }
                auth.append(RedisArgument(password))
                if case .error(let message) = try self.send(auth) { throw RedisError.connection("AUTH failed: \(message)") }
            }
            if configuration.database != 0,
                case .error(let message) = try self.send(["SELECT", RedisArgument(configuration.database)])
            {
                throw RedisError.connection("SELECT \(configuration.database) failed: \(message)")
            }
        } catch {
            redisFree(context)
            throw error
        }
    }

    public func close() {
        redisFree(self.context)
    }

    /// Sends one command and waits for its reply. An error reply is returned, not thrown.
    public func send(_ arguments: [RedisArgument]) throws -> RedisReply {
        try self.pipeline([arguments])[0]
    }

    /// Writes all commands, then reads all replies: one network round trip for the batch.
    public func pipeline(_ commands: [[RedisArgument]]) throws -> [RedisReply] {
        guard self.isUsable else { throw RedisError.connection("connection already failed") }
        for command in commands {
            let status = Self.withArgv(command) { argc, argv, lengths in
                redisAppendCommandArgv(self.context, argc, argv, lengths)
            }
            if status != REDIS_OK { throw self.ioFailure() }
        }
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(self.context, &raw) == REDIS_OK, let raw else { throw self.ioFailure() }
            replies.append(Self.decode(raw.assumingMemoryBound(to: redisReply.self)))
            freeReplyObject(raw)
        }
        return replies
    }

    /// Runs a Lua script by its SHA1, loading it on first use and again after `NOSCRIPT`
    /// (a restarted or flushed server forgets its script cache).
    public func run(_ script: RedisScript, keys: [RedisArgument], arguments: [RedisArgument]) throws -> RedisReply {
        let sha = try script.sha ?? self.load(script)
        let reply = try self.send(Self.evalsha(sha, keys: keys, arguments: arguments))
        if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
            let reloaded = try self.load(script)
            return try self.send(Self.evalsha(reloaded, keys: keys, arguments: arguments))
        }
        return reply
    }

    private func load(_ script: RedisScript) throws -> String {
        let reply = try self.send(["SCRIPT", "LOAD", RedisArgument(script.source)]).checked()
        guard let sha = reply.string else { throw RedisError.unexpectedReply("SCRIPT LOAD answered \(reply)") }
        script.sha = sha
        return sha
    }

    /// Runs a batch as one pipeline: scripts as EVALSHA (loaded first if new), commands as they are.
    /// A script the server forgot (`NOSCRIPT`) is reloaded and run again on its own.
    public func execute(_ requests: [RedisRequest]) -> [Result<RedisReply, any Error>] {
        do {
            var commands: [[RedisArgument]] = []
            commands.reserveCapacity(requests.count)
            for request in requests {
                switch request {
                case .command(let arguments):
                    commands.append(arguments)
                case .script(let script, let keys, let arguments):
                    commands.append(Self.evalsha(try script.sha ?? self.load(script), keys: keys, arguments: arguments))
                }
            }
            let replies = try self.pipeline(commands)
            return zip(requests, replies).map { request, reply in
                if case .script(let script, let keys, let arguments) = request, case .error(let message) = reply,
                    message.hasPrefix("NOSCRIPT")
                {
                    return Result { try self.run(script, keys: keys, arguments: arguments) }
                }
                return .success(reply)
            }
        } catch {
            return requests.map { _ in .failure(error) }
        }
    }

    private static func evalsha(_ sha: String, keys: [RedisArgument], arguments: [RedisArgument]) -> [RedisArgument] {
        ["EVALSHA", RedisArgument(sha), RedisArgument(keys.count)] + keys + arguments
    }

    private func ioFailure() -> RedisError {
        self.isUsable = false
        return RedisError.connection(Self.errorString(self.context))
    }

    private static func errorString(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// Lays all arguments out in one buffer and hands hiredis pointers into it; hiredis copies
    /// the bytes into its output buffer before returning.
    private static func withArgv<R>(
        _ arguments: [RedisArgument],
        _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R
    ) -> R {
        var storage: [UInt8] = []
        storage.reserveCapacity(arguments.reduce(0) { $0 + $1.bytes.count })
        var offsets: [Int] = []
        var lengths: [Int] = []
        for argument in arguments {
            offsets.append(storage.count)
            lengths.append(argument.bytes.count)
            storage.append(contentsOf: argument.bytes)
        }
        if storage.isEmpty { storage.append(0) }  // a valid base pointer even for empty arguments
        return storage.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { base in
                var pointers: [UnsafePointer<CChar>?] = offsets.map { base + $0 }
                return pointers.withUnsafeMutableBufferPointer { argv in
                    body(Int32(arguments.count), argv.baseAddress!, lengths)
                }
            }
        }
    }

    private static func decode(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let value = reply.pointee
        switch value.type {
        case REDIS_REPLY_STATUS:
            return .status(String(decoding: UnsafeRawBufferPointer(start: value.str, count: value.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: UnsafeRawBufferPointer(start: value.str, count: value.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            return .integer(value.integer)
        case REDIS_REPLY_STRING:
            return .bulk(Array(UnsafeRawBufferPointer(start: value.str, count: value.len)))
        case REDIS_REPLY_ARRAY:
            var elements: [RedisReply] = []
            elements.reserveCapacity(value.elements)
            for index in 0..<value.elements {
                elements.append(Self.decode(value.element[index]!))
            }
            return .array(elements)
        default:
            return .null
        }
    }
}

extension timeval {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
