@testable import BoxOfficeHTTP
import ConnectionPool
import HiredisClient
import LibpqClient
import Testing

/// Which store failures become 503 SERVICE_UNAVAILABLE (retry later) and which stay bugs (500).
/// Each class also has a test against a real server in that state (StoreFaultTests); this table
/// covers the ones a test cannot easily provoke (LOADING, MISCONF, a cluster that is down).
@Suite("Store errors: 503 when the store cannot serve now, 500 only for bugs")
struct StoreErrorMappingTests {
    @Test("Redis error replies that mean 'not now' are 503", arguments: [
        "OOM command not allowed when used memory > 'maxmemory'.",
        "LOADING Redis is loading the dataset in memory",
        "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk.",
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
        "READONLY You can't write against a read only replica.",
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
        "CLUSTERDOWN The cluster is down",
        "TRYAGAIN Multiple keys request during rehashing of slot",
        "NOREPLICAS Not enough good replicas to write.",
    ])
    func redisUnavailable(reply: String) {
        let error = RedisError.server(reply)
        #expect(error.isUnavailable)
        #expect(ErrorMappingMiddleware<AppRequestContext>.apiError(for: error).status.code == 503)
    }

    @Test("other Redis error replies are bugs: 500", arguments: [
        "ERR wrong number of arguments for 'get' command",
        "WRONGTYPE Operation against a key holding the wrong kind of value",
        "NOSCRIPT No matching script.",
        "OOMPH not a real code",
    ])
    func redisBug(reply: String) {
        #expect(!RedisError.server(reply).isUnavailable)
        #expect(ErrorMappingMiddleware<AppRequestContext>.apiError(for: RedisError.server(reply)) == .internalError)
    }

    @Test("PostgreSQL states that mean 'not now' are 503", arguments: [
        "57P01", "57P02", "57P03",  // admin shutdown, crash shutdown, cannot connect now
        "25006",  // read-only transaction (a standby, default_transaction_read_only)
        "53300", "53200", "53100",  // too many connections, out of memory, disk full
        "08006", "08003",  // connection failure, connection does not exist
        "57014", "55P03",  // statement timeout, lock timeout
        "40001", "40P01",  // serialization failure, deadlock (after the client's retries)
    ])
    func postgresUnavailable(sqlState: String) {
        let error = PostgresError.server(kind: ServerErrorKind(sqlState: sqlState), sqlState: sqlState, message: "x")
        #expect(error.isUnavailable, "\(sqlState)")
        #expect(ErrorMappingMiddleware<AppRequestContext>.apiError(for: error).status.code == 503, "\(sqlState)")
    }

    @Test("PostgreSQL errors that are bugs stay 500", arguments: ["23505", "42P01", "22P02", "42601", "XX000"])
    func postgresBug(sqlState: String) {
        let error = PostgresError.server(kind: ServerErrorKind(sqlState: sqlState), sqlState: sqlState, message: "x")
        #expect(!error.isUnavailable)
        #expect(ErrorMappingMiddleware<AppRequestContext>.apiError(for: error) == .internalError)
    }

    @Test("lost connections and saturated pools are 503 with Retry-After")
    func connectionsAndPools() {
        for error: any Error in [RedisError.connection("reset"), PostgresError.connection("refused"), PoolError.timedOut(pool: "redis")] {
            let mapped = ErrorMappingMiddleware<AppRequestContext>.apiError(for: error)
            #expect(mapped.status.code == 503 && mapped.retryAfter != nil, "\(error)")
        }
    }
}
