import Foundation
import HiredisClient

/// Where the shared test servers started by `make test` (scripts/services.sh test) listen.
///
/// Many suites use these servers at the same time, so tests must isolate themselves: random key
/// prefixes in Redis (never FLUSHALL, FLUSHDB or SCRIPT FLUSH) and temporary or uniquely named
/// tables in PostgreSQL. Tests that stop, restart or reconfigure a server use a `ScratchStack`.
public enum TestEnvironment {
    public static let defaultRedisURL = "redis://127.0.0.1:16380/0"
    public static let defaultDatabaseURL = "postgres://boxoffice:boxoffice@127.0.0.1:15433/boxoffice"

    /// `BOXOFFICE_TEST_REDIS_URL`, or the test stack's Redis.
    public static var redisURL: String {
        Self.value("BOXOFFICE_TEST_REDIS_URL") ?? Self.defaultRedisURL
    }

    /// `BOXOFFICE_TEST_REDIS_CLUSTER_NODES`: the test Redis Cluster's seed nodes (`host:port,...`,
    /// scripts/cluster.sh test), set by `make test`. Instances of `TestStack` use the cluster
    /// instead of the single Redis when it is set, and the cluster's own tests run only then.
    public static var redisClusterNodes: String? {
        Self.value("BOXOFFICE_TEST_REDIS_CLUSTER_NODES")
    }

    /// The cluster's seeds when the suites run against the cluster (`BOXOFFICE_TEST_REDIS_MODE=cluster`,
    /// the second pass of `make test`): app instances and `TestDatabase.redis()` then use it.
    public static var clusterSeeds: [RedisNodeAddress]? {
        guard Self.value("BOXOFFICE_TEST_REDIS_MODE") == "cluster", let nodes = Self.redisClusterNodes else { return nil }
        return nodes.split(separator: ",").compactMap { RedisNodeAddress($0) }
    }

    /// True in the PostgreSQL HA pass of `make test` (`BOXOFFICE_TEST_PG_MODE=ha`): the database URL
    /// then names the three Patroni nodes of scripts/patroni.sh test, and the failover suites run.
    public static var postgresHA: Bool {
        Self.value("BOXOFFICE_TEST_PG_MODE") == "ha"
    }

    /// `BOXOFFICE_TEST_DATABASE_URL`, or the test stack's PostgreSQL.
    public static var databaseURL: String {
        Self.value("BOXOFFICE_TEST_DATABASE_URL") ?? Self.defaultDatabaseURL
    }

    /// A short random name part (lowercase letters and digits) for keys, tables and databases.
    public static func uniqueSuffix(length: Int = 12) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return String((0..<length).map { _ in alphabet.randomElement()! })
    }

    private static func value(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        return value
    }
}
