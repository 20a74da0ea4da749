import Testing

/// Which passes of `make test` run a suite besides the first (one Redis, one PostgreSQL), declared
/// on the suite: `@Suite("...", .tags(.redisCluster, .postgresHA))`. scripts/test.sh reads these
/// declarations to choose the suites of each pass.
extension Tag {
    /// Runs again on the Redis Cluster (`BOXOFFICE_TEST_REDIS_MODE=cluster`): its instances or
    /// helpers use Redis, and it does not stop or reconfigure a server of its own.
    @Tag public static var redisCluster: Self
    /// Runs again on PostgreSQL under Patroni (`BOXOFFICE_TEST_PG_MODE=ha`): PostgreSQL decides its
    /// outcome (holds, charges, payments, the sweeper, sold out, events).
    @Tag public static var postgresHA: Self
}
