import Foundation
import HiredisClient
import NIOCore
import TestSupport

/// A client for the shared test Redis, and a random key prefix; every key the body used under that
/// prefix is deleted afterwards. Never FLUSHALL/FLUSHDB/SCRIPT FLUSH on the shared server.
func withSharedRedis<Result>(
    poolSize: Int = 2,
    acquireTimeout: TimeAmount = .seconds(5),
    _ body: (RedisNodeClient, String) async throws -> Result
) async throws -> Result {
    let configuration = try RedisConfiguration(url: TestEnvironment.redisURL)
    let client = RedisNodeClient(configuration: configuration, poolSize: poolSize, acquireTimeout: acquireTimeout)
    defer { client.shutdown() }
    let prefix = "test:hiredis:\(TestEnvironment.uniqueSuffix()):"
    do {
        let result = try await body(client, prefix)
        try await deleteKeys(client, prefix: prefix)
        return result
    } catch {
        try? await deleteKeys(client, prefix: prefix)
        throw error
    }
}

private func deleteKeys(_ client: RedisNodeClient, prefix: String) async throws {
    let keys = try await client.send(["KEYS", RedisArgument(prefix + "*")]).checked().array ?? []
    let arguments: [RedisArgument] = keys.compactMap {
        if case .bulk(let bytes) = $0 { return RedisArgument(bytes: bytes) }
        return nil
    }
    if !arguments.isEmpty { try await client.send(["DEL"] + arguments).checked() }
}

/// A client for a scratch stack's Redis.
func privateClient(
    _ server: ScratchStack,
    poolSize: Int = 2,
    acquireTimeout: TimeAmount = .seconds(2),
    password: String? = nil
) -> RedisNodeClient {
    let configuration = RedisConfiguration(
        host: "127.0.0.1",
        port: server.redisPort,
        password: password,
        connectTimeout: .milliseconds(500),
        commandTimeout: .seconds(2)
    )
    return RedisNodeClient(configuration: configuration, poolSize: poolSize, acquireTimeout: acquireTimeout)
}

extension RedisArgument {
    init(_ prefix: String, _ suffix: String) { self.init(prefix + suffix) }
}
