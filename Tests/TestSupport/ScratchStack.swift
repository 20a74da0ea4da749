import Foundation
import NIOCore
import NIOPosix
import Subprocess

/// A PostgreSQL and/or Redis of a test's own, for tests that stop, restart or reconfigure a
/// server (the shared test stack must never be restarted). The servers are started, stopped and
/// deleted by `scripts/services.sh scratch`, the same script that runs every other local stack,
/// on free ports with the data in a temporary directory.
public final class ScratchStack: Sendable {
    public enum Server: String, Sendable, CaseIterable {
        case postgres, redis
    }

    public let postgresPort: Int
    public let redisPort: Int
    public let directory: String
    /// Lines appended to redis.conf on every start, e.g. `["requirepass s3cret"]`.
    public let redisConfig: [String]

    public var redisURL: String { "redis://127.0.0.1:\(self.redisPort)/0" }
    /// The `boxoffice` database as its owner, the `boxoffice` role (trust authentication).
    public var databaseURL: String { "postgres://boxoffice@127.0.0.1:\(self.postgresPort)/boxoffice" }

    /// Starts `servers`, runs `body`, then stops them and deletes their data whatever `body` did.
    public static func with<Result>(
        _ servers: [Server],
        redisConfig: [String] = [],
        _ body: (ScratchStack) async throws -> Result
    ) async throws -> Result {
        let stack = try await Self.start(servers, redisConfig: redisConfig)
        do {
            let result = try await body(stack)
            await stack.destroy()
            return result
        } catch {
            await stack.destroy()
            throw error
        }
    }

    private static func start(_ servers: [Server], redisConfig: [String]) async throws -> ScratchStack {
        var lastError: (any Error)?
        // Another process may take a free port between probing and binding: retry on new ones.
        for _ in 0..<3 {
            let stack = try await ScratchStack(
                postgresPort: freeTCPPort(), redisPort: freeTCPPort(), redisConfig: redisConfig)
            do {
                for server in servers { try await stack.start(server) }
                return stack
            } catch {
                lastError = error
                await stack.destroy()
            }
        }
        throw lastError ?? TestServerError("the scratch stack did not start")
    }

    private init(postgresPort: Int, redisPort: Int, redisConfig: [String]) throws {
        self.postgresPort = postgresPort
        self.redisPort = redisPort
        self.redisConfig = redisConfig
        // Short paths: PostgreSQL's Unix socket path must stay under ~107 bytes.
        self.directory = "/tmp/boxoffice-scratch-\(TestEnvironment.uniqueSuffix(length: 10))"
    }

    public func start(_ server: Server) async throws { try await self.services("start", server) }

    /// Stops the server (PostgreSQL: fast shutdown; Redis: SIGTERM); the data stays.
    public func stop(_ server: Server) async throws { try await self.services("stop", server) }

    /// Stop, then start on the same port with the same data. Clients see their connections drop.
    public func restart(_ server: Server) async throws { try await self.services("restart", server) }

    /// `kill -9` of the Redis server, as a crash: no shutdown, no final save.
    public func crashRedis() async throws {
        let pidFile = self.directory + "/redis/redis.pid"
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { throw TestServerError("no redis pid in \(pidFile)") }
        kill(pid, SIGKILL)
        let deadline = ContinuousClock.now + .seconds(10)
        while kill(pid, 0) == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
    }

    /// What `redis-cli PING` prints (PONG, or an error such as LOADING), without any
    /// connection setup of its own, so it sees exactly what the server answers.
    public func redisPing() async throws -> String {
        let result = try await run(
            .name("redis-cli"), arguments: ["-p", String(self.redisPort), "PING"],
            output: .string(limit: 4096), error: .string(limit: 4096)
        )
        return (result.standardOutput + result.standardError).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Stops both servers and deletes the directory.
    public func destroy() async {
        try? await self.services("destroy", nil)
    }

    private func services(_ action: String, _ server: Server?) async throws {
        let script = ProcessInfo.processInfo.environment["BOXOFFICE_SERVICES_SCRIPT"].map { StackScript(path: $0) }
            ?? StackScript("services.sh")
        try await script(
            ["scratch", action, server?.rawValue ?? "all"],
            environment: [
                "PG_PORT": String(self.postgresPort),
                "REDIS_PORT": String(self.redisPort),
                "SCRATCH_DIR": self.directory,
                "REDIS_EXTRA_CONFIG": self.redisConfig.joined(separator: "\n"),
            ])
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
public func freeTCPPort() async throws -> Int {
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .bind(host: "127.0.0.1", port: 0).get()
    let port = channel.localAddress?.port
    // Closed before returning: until then the port accepts connections that nobody answers.
    try await channel.close()
    guard let port else { throw TestServerError("no local port") }
    return port
}
