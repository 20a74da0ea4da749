import Foundation
import HiredisClient
import Testing
import TestSupport

@Suite("Redis URL parsing and AUTH")
struct RedisConfigurationTests {
    @Test func urlWithHostPortAndDatabaseIsParsed() throws {
        let configuration = try RedisConfiguration(url: "redis://cache.example.com:6390/3")
        #expect(configuration.host == "cache.example.com")
        #expect(configuration.port == 6390)
        #expect(configuration.database == 3)
        #expect(configuration.username == nil)
        #expect(configuration.password == nil)
    }

    @Test func urlWithoutPortOrDatabaseUsesDefaults() throws {
        let configuration = try RedisConfiguration(url: "redis://127.0.0.1")
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.port == 6379)
        #expect(configuration.database == 0)
        #expect(try RedisConfiguration(url: "redis://127.0.0.1:7000/").database == 0)
    }

    @Test func urlWithPasswordOnlyHasNoUsername() throws {
        let configuration = try RedisConfiguration(url: "redis://:s3cret@localhost:6380/1")
        #expect(configuration.username == nil)
        #expect(configuration.password == "s3cret")
        #expect(configuration.port == 6380)
        #expect(configuration.database == 1)
    }

    @Test func urlWithUserAndPercentEncodedPasswordIsDecoded() throws {
        let configuration = try RedisConfiguration(url: "redis://alice:p%40ss%3Aw%2Frd@localhost/2")
        #expect(configuration.username == "alice")
        #expect(configuration.password == "p@ss:w/rd")
        #expect(configuration.database == 2)
    }

    @Test(arguments: [
        "http://localhost:6379/0",
        "rediss://localhost:6379/0",
        "redis://localhost:6379/abc",
        "redis://localhost:6379/-1",
        "redis://localhost:6379/1.5",
        "redis:///0",
        "not a url",
        "",
    ])
    func badSchemeHostOrDatabaseIsInvalidURL(url: String) {
        #expect(throws: RedisError.invalidURL(url)) { try RedisConfiguration(url: url) }
    }

    @Test func sharedTestServerURLParses() throws {
        let configuration = try RedisConfiguration(url: TestEnvironment.redisURL)
        #expect(!configuration.host.isEmpty)
    }

    @Test(.timeLimit(.minutes(1)))
    func authWithRightPasswordWorksAndWrongPasswordFailsToConnect() async throws {
        try await ScratchStack.with([.redis], redisConfig: ["requirepass s3cret"]) { server in
            // Password only, and default user + password (Redis 6 ACL form).
            for url in ["redis://:s3cret@127.0.0.1:\(server.redisPort)/0", "redis://default:s3cret@127.0.0.1:\(server.redisPort)/5"] {
                let client = RedisNodeClient(configuration: try RedisConfiguration(url: url), poolSize: 1, acquireTimeout: .seconds(2))
                defer { client.shutdown() }
                #expect(try await client.send(["PING"]) == .status("PONG"), "\(url)")
            }
            // The database in the URL is SELECTed after AUTH.
            let selected = RedisNodeClient(
                configuration: try RedisConfiguration(url: "redis://:s3cret@127.0.0.1:\(server.redisPort)/5"), poolSize: 1,
                acquireTimeout: .seconds(2))
            defer { selected.shutdown() }
            try await selected.send(["SET", "in-db-5", "1"]).checked()
            let defaultDatabase = RedisNodeClient(
                configuration: try RedisConfiguration(url: "redis://:s3cret@127.0.0.1:\(server.redisPort)/0"), poolSize: 1,
                acquireTimeout: .seconds(2))
            defer { defaultDatabase.shutdown() }
            #expect(try await defaultDatabase.send(["EXISTS", "in-db-5"]) == .integer(0))

            // Without a password, commands are refused (NOAUTH error reply).
            let anonymous = privateClient(server, poolSize: 1)
            defer { anonymous.shutdown() }
            let refused = try await anonymous.send(["GET", "x"])
            if case .error(let message) = refused {
                #expect(message.hasPrefix("NOAUTH"))
            } else {
                Issue.record("expected NOAUTH, got \(refused)")
            }

            // A wrong password: connecting fails, and never yields a usable connection.
            let wrong = try RedisConfiguration(url: "redis://:wrong@127.0.0.1:\(server.redisPort)/0")
            var thrown: RedisError?
            do {
                _ = try RedisConnection(configuration: wrong)
            } catch let error as RedisError {
                thrown = error
            }
            let error = try #require(thrown, "connecting with a wrong password succeeded")
            guard case .connection = error else {
                Issue.record("wrong password: expected RedisError.connection, got \(error)")
                return
            }
            #expect(error.description.contains("WRONGPASS"), "\(error)")
        }
    }
}
