import Foundation
import LibpqClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Failures of the private test servers' helpers.
public struct TestServerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

// MARK: - Redis

/// A redis-server of its own, on a free port with its data in a temporary directory, for tests that
/// stop, restart or reconfigure a server (the shared test server must never be restarted).
///
/// Call `shutdown()` when done (or use `PrivateRedisServer.with`); it kills the server and deletes
/// the directory.
public final class PrivateRedisServer: @unchecked Sendable {
    public let port: Int
    public let directory: URL
    /// Extra redis-server arguments, e.g. `["--requirepass", "secret"]`.
    public let extraArguments: [String]
    public var url: String { "redis://127.0.0.1:\(self.port)/0" }

    private let lock = NSLock()
    private var process: ChildProcess?
    private var isShutDown = false

    public static var executable: String {
        ProcessInfo.processInfo.environment["REDIS_SERVER"] ?? "/usr/bin/redis-server"
    }

    /// Starts a server and waits until it accepts connections.
    public static func start(arguments: [String] = []) async throws -> PrivateRedisServer {
        try await offload {
            var lastError: (any Error)?
            // Another process may take the free port between probing and binding: retry.
            for _ in 0..<3 {
                let server = try PrivateRedisServer(port: freeTCPPort(), extraArguments: arguments)
                do {
                    try server.startBlocking()
                    return server
                } catch {
                    lastError = error
                    server.shutdownBlocking()
                }
            }
            throw lastError ?? TestServerError("redis-server did not start")
        }
    }

    /// Starts a server, runs `body`, then shuts the server down whatever `body` did.
    public static func with<Result>(
        arguments: [String] = [],
        _ body: (PrivateRedisServer) async throws -> Result
    ) async throws -> Result {
        let server = try await Self.start(arguments: arguments)
        do {
            let result = try await body(server)
            await server.shutdown()
            return result
        } catch {
            await server.shutdown()
            throw error
        }
    }

    private init(port: Int, extraArguments: [String]) throws {
        self.port = port
        self.extraArguments = extraArguments
        self.directory = try makeTemporaryDirectory(prefix: "boxoffice-redis")
    }

    deinit {
        self.shutdownBlocking()
    }

    /// Kills the server (SIGTERM) and waits for it to exit; the data directory stays.
    public func stop() async {
        try? await offload { self.stopBlocking() }
    }

    /// Starts the server again on the same port.
    public func start() async throws {
        try await offload { try self.startBlocking() }
    }

    /// Stop, then start on the same port. Clients see their connections drop.
    public func restart() async throws {
        try await offload {
            self.stopBlocking()
            try self.startBlocking()
        }
    }

    /// Stops the server and deletes its directory.
    public func shutdown() async {
        try? await offload { self.shutdownBlocking() }
    }

    public func shutdownBlocking() {
        self.stopBlocking()
        let alreadyDone = self.lock.withLock {
            defer { self.isShutDown = true }
            return self.isShutDown
        }
        if !alreadyDone { try? FileManager.default.removeItem(at: self.directory) }
    }

    public func stopBlocking() {
        let process = self.lock.withLock {
            defer { self.process = nil }
            return self.process
        }
        guard let process else { return }
        process.send(SIGTERM)
        if !process.wait(timeout: 10) {
            process.send(SIGKILL)
            _ = process.wait(timeout: 10)
        }
    }

    public func startBlocking() throws {
        try self.lock.withLock {
            if self.isShutDown { throw TestServerError("server is shut down") }
            if self.process != nil { throw TestServerError("redis-server already running") }
            self.process = try ChildProcess.spawn(
                Self.executable,
                [
                    "--port", String(self.port),
                    "--bind", "127.0.0.1",
                    "--save", "",
                    "--appendonly", "no",
                    "--daemonize", "no",
                    "--dir", self.directory.path,
                    "--logfile", self.directory.appendingPathComponent("redis.log").path,
                ] + self.extraArguments,
                output: self.directory.appendingPathComponent("redis.out").path
            )
        }
        let deadline = Date().addingTimeInterval(10)
        while !canConnect(port: self.port) {
            let running = self.lock.withLock { self.process?.isRunning ?? false }
            if !running || Date() > deadline {
                let log = (try? String(contentsOf: self.directory.appendingPathComponent("redis.log"), encoding: .utf8)) ?? ""
                self.stopBlocking()
                throw TestServerError("redis-server on port \(self.port) did not start: \(log.suffix(800))")
            }
            usleep(20_000)
        }
    }
}

// MARK: - PostgreSQL

/// A PostgreSQL cluster of its own (initdb into a temporary directory, trust auth, 127.0.0.1 on a
/// free port, socket in the directory), with role and database `boxoffice`, for tests that stop or
/// restart the server. When running as root, initdb and pg_ctl run as the `postgres` user.
///
/// Call `shutdown()` when done (or use `PrivatePostgresServer.with`).
public final class PrivatePostgresServer: @unchecked Sendable {
    public let port: Int
    public let directory: URL
    public var dataDirectory: URL { self.directory.appendingPathComponent("data") }
    public var logFile: URL { self.directory.appendingPathComponent("postgres.log") }
    /// The `boxoffice` database as the `boxoffice` role (a superuser on this private cluster).
    public var url: String { "postgres://boxoffice@127.0.0.1:\(self.port)/boxoffice" }

    private let lock = NSLock()
    private var isRunning = false
    private var isShutDown = false

    public static var binDirectory: String {
        ProcessInfo.processInfo.environment["PG_BIN_DIR"] ?? "/usr/lib/postgresql/15/bin"
    }

    private static var runsAsRoot: Bool { getuid() == 0 }

    /// initdb, start, and create database `boxoffice`; a few seconds.
    public static func start() async throws -> PrivatePostgresServer {
        try await offload {
            var lastError: (any Error)?
            for _ in 0..<3 {
                let server = try PrivatePostgresServer(port: freeTCPPort())
                do {
                    try server.initialise()
                    try server.startBlocking()
                    try server.createDatabase()
                    return server
                } catch {
                    lastError = error
                    server.shutdownBlocking()
                }
            }
            throw lastError ?? TestServerError("postgres did not start")
        }
    }

    /// Starts a cluster, runs `body`, then shuts the cluster down whatever `body` did.
    public static func with<Result>(_ body: (PrivatePostgresServer) async throws -> Result) async throws -> Result {
        let server = try await Self.start()
        do {
            let result = try await body(server)
            await server.shutdown()
            return result
        } catch {
            await server.shutdown()
            throw error
        }
    }

    private init(port: Int) throws {
        self.port = port
        self.directory = try makeTemporaryDirectory(prefix: "boxoffice-pg")
        if Self.runsAsRoot {
            try FileManager.default.setAttributes(
                [.ownerAccountName: "postgres", .groupOwnerAccountName: "postgres", .posixPermissions: 0o700],
                ofItemAtPath: self.directory.path
            )
        }
    }

    deinit {
        self.shutdownBlocking()
    }

    /// pg_ctl stop -m fast: connections are closed, the data stays.
    public func stop() async throws {
        try await offload { try self.stopBlocking(mode: "fast") }
    }

    public func start() async throws {
        try await offload { try self.startBlocking() }
    }

    /// pg_ctl restart -m fast, keeping the data.
    public func restart() async throws {
        try await offload {
            try self.pgCtl(["restart", "-m", "fast", "-l", self.logFile.path])
            self.lock.withLock { self.isRunning = true }
        }
    }

    /// Stops the server (immediate) and deletes its directory.
    public func shutdown() async {
        try? await offload { self.shutdownBlocking() }
    }

    public func shutdownBlocking() {
        let (running, alreadyDone) = self.lock.withLock {
            defer { self.isShutDown = true }
            return (self.isRunning, self.isShutDown)
        }
        if alreadyDone { return }
        if running { try? self.stopBlocking(mode: "immediate") }
        try? FileManager.default.removeItem(at: self.directory)
    }

    public func stopBlocking(mode: String) throws {
        try self.pgCtl(["stop", "-m", mode])
        self.lock.withLock { self.isRunning = false }
    }

    public func startBlocking() throws {
        try self.pgCtl(["start", "-l", self.logFile.path])
        self.lock.withLock { self.isRunning = true }
    }

    private func initialise() throws {
        try self.runAsOwner(
            Self.binDirectory + "/initdb",
            ["-D", self.dataDirectory.path, "-U", "boxoffice", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"]
        )
        let settings = """

            # PrivatePostgresServer (tests)
            port = \(self.port)
            listen_addresses = '127.0.0.1'
            unix_socket_directories = '\(self.directory.path)'
            max_connections = 60
            shared_buffers = 16MB
            fsync = off
            synchronous_commit = off
            full_page_writes = off

            """
        // Appending keeps the file's owner (postgres) and mode.
        let handle = try FileHandle(forWritingTo: self.dataDirectory.appendingPathComponent("postgresql.conf"))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(settings.utf8))
    }

    private func createDatabase() throws {
        let connection = try PostgresConnection(
            configuration: PostgresConfiguration(url: "postgres://boxoffice@127.0.0.1:\(self.port)/postgres")
        )
        defer { connection.close() }
        try connection.simple("CREATE DATABASE boxoffice")
    }

    private func pgCtl(_ arguments: [String]) throws {
        try self.runAsOwner(Self.binDirectory + "/pg_ctl", ["-D", self.dataDirectory.path, "-w", "-t", "60", "-s"] + arguments)
    }

    /// Runs a PostgreSQL tool as the cluster's owner, from the cluster's directory.
    private func runAsOwner(_ executable: String, _ arguments: [String]) throws {
        let command = Self.runsAsRoot ? ["/usr/sbin/runuser", "-u", "postgres", "--", executable] + arguments : [executable] + arguments
        let output = self.directory.appendingPathComponent("tool-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: output) }
        let process = try ChildProcess.spawn(command[0], Array(command.dropFirst()), output: output.path, directory: self.directory.path)
        guard process.wait(timeout: 120) else {
            process.send(SIGKILL)
            throw TestServerError("\(executable) \(arguments.joined(separator: " ")) did not finish")
        }
        guard process.exitStatus == 0 else {
            let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
            let log = (try? String(contentsOf: self.logFile, encoding: .utf8)) ?? ""
            throw TestServerError(
                "\(executable) \(arguments.joined(separator: " ")) exited \(process.exitStatus.map(String.init) ?? "?"): \(text.suffix(800)) \(log.suffix(800))"
            )
        }
    }
}

// MARK: - Child processes

/// A child process started with posix_spawn and reaped with waitpid.
///
/// Not Foundation's `Process`: on Linux it learns of a child's exit through SIGCHLD, which other
/// threads of a test process (NIO, pools) may swallow, so `waitUntilExit` can spin forever; and
/// its children inherit the spawning thread's blocked signals, so they ignore SIGTERM. Here the
/// child gets an empty signal mask and default handlers, no inherited descriptors above stderr,
/// and the parent polls `waitpid` for its own pid only.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    private let lock = NSLock()
    private var status: Int32?

    private init(pid: pid_t) { self.pid = pid }

    /// Starts `executable` with stdin from /dev/null and stdout+stderr appended to `output`.
    public static func spawn(_ executable: String, _ arguments: [String], output: String, directory: String? = nil) throws -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // glibc >= 2.34 has these, but Swift does not import the _np declarations: look them up.
        if let closeFrom = spawnCloseFrom {
            _ = closeFrom(&actions, 3)
        }
        if let directory {
            guard let changeDirectory = spawnChangeDirectory else {
                throw TestServerError("posix_spawn_file_actions_addchdir_np is not available")
            }
            _ = changeDirectory(&actions, directory)
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD, SIGPIPE, SIGUSR1, SIGUSR2] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let environment: [UnsafeMutablePointer<CChar>?] =
            ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { environment.forEach { free($0) } }
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environment)
        guard result == 0 else { throw TestServerError("posix_spawn \(executable) failed: \(String(cString: strerror(result)))") }
        return ChildProcess(pid: pid)
    }

    /// The exit code, or 128+signal; nil while running.
    public var exitStatus: Int32? {
        self.reap()
    }

    public var isRunning: Bool { self.reap() == nil }

    public func send(_ signal: Int32) {
        if self.isRunning { kill(self.pid, signal) }
    }

    /// Waits up to `timeout` seconds for the process to exit; true if it did.
    @discardableResult
    public func wait(timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while self.reap() == nil {
            if Date() > deadline { return false }
            usleep(5_000)
        }
        return true
    }

    private func reap() -> Int32? {
        self.lock.withLock {
            if let status = self.status { return status }
            var raw: Int32 = 0
            let result = waitpid(self.pid, &raw, WNOHANG)
            if result == self.pid {
                let signal = raw & 0x7f
                self.status = signal == 0 ? (raw >> 8) & 0xff : 128 + signal
            } else if result < 0 && errno == ECHILD {
                self.status = -1  // reaped by someone else
            }
            return self.status
        }
    }
}

// MARK: - Helpers

/// Runs blocking work (process spawning, waiting) on a thread of its own, so it does not hold one
/// of the few threads of Swift's cooperative pool.
public func offload<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Swift.Result { try body() })
        }
        thread.start()
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
public func freeTCPPort() throws -> Int {
    let descriptor = socket(AF_INET, socketStreamType, 0)
    guard descriptor >= 0 else { throw TestServerError("socket() failed: \(errno)") }
    defer { close(descriptor) }
    var address = loopbackAddress(port: 0)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw TestServerError("bind() failed: \(errno)") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    guard named == 0 else { throw TestServerError("getsockname() failed: \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// True when something accepts TCP connections on 127.0.0.1:`port`.
public func canConnect(port: Int) -> Bool {
    let descriptor = socket(AF_INET, socketStreamType, 0)
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    var address = loopbackAddress(port: port)
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    return result == 0
}

private typealias SpawnCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
private typealias SpawnChangeDirectory = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

#if canImport(Darwin)
nonisolated(unsafe) private let defaultSymbols = UnsafeMutableRawPointer(bitPattern: -2)  // RTLD_DEFAULT
#else
nonisolated(unsafe) private let defaultSymbols: UnsafeMutableRawPointer? = nil  // RTLD_DEFAULT
#endif
private let spawnCloseFrom: SpawnCloseFrom? = dlsym(defaultSymbols, "posix_spawn_file_actions_addclosefrom_np")
    .map { unsafeBitCast($0, to: SpawnCloseFrom.self) }
private let spawnChangeDirectory: SpawnChangeDirectory? = dlsym(defaultSymbols, "posix_spawn_file_actions_addchdir_np")
    .map { unsafeBitCast($0, to: SpawnChangeDirectory.self) }

#if canImport(Glibc)
private let socketStreamType = Int32(SOCK_STREAM.rawValue)
#else
private let socketStreamType = SOCK_STREAM
#endif

private func loopbackAddress(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
    return address
}

private func makeTemporaryDirectory(prefix: String) throws -> URL {
    // Short paths: PostgreSQL's Unix socket path must stay under ~107 bytes.
    let base = URL(fileURLWithPath: "/tmp", isDirectory: true)
    let directory = base.appendingPathComponent("\(prefix)-\(TestEnvironment.uniqueSuffix(length: 10))", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
    return directory
}
