import BoxOfficeDomain
import BoxOfficeHTTP
import Testing

/// Settings from the environment through swift-configuration: names, defaults, fail-fast checks, secrets.
@Suite("AppConfiguration from environment variables")
struct AppConfigurationTests {
    @Test("unset and empty variables give the documented defaults")
    func defaults() throws {
        let configuration = try AppConfiguration(environment: ["PORT": "", "HOLD_SECONDS": ""])
        #expect(configuration.port == 8080)
        #expect(configuration.reservations.holdSeconds == 300)
        #expect(configuration.reservations.maxSeatsPerReservation == 4)
        #expect(configuration.queue.admitPerSecond == 100)
        #expect(configuration.stores.databasePoolSize == 8)
        #expect(configuration.stores.redisURL == "redis://127.0.0.1:16379/0")
        #expect(configuration.jobs.promoteInterval == .milliseconds(250))
        #expect(configuration.logFormat == "json")
    }

    @Test("every area reads its own variables, scoped ones included")
    func scopedNames() throws {
        let configuration = try AppConfiguration(environment: [
            "HOST": "127.0.0.1", "PORT": "9000", "INSTANCE_ID": "a1", "LOG_LEVEL": "debug", "LOG_FORMAT": "text",
            "DATABASE_URL": "postgres://u:p@db:5432/x", "REDIS_URL": "redis://r:6379/2",
            "DB_POOL_SIZE": "3", "DB_STATEMENT_TIMEOUT_MS": "700", "DB_LOCK_TIMEOUT_MS": "300",
            "REDIS_POOL_SIZE": "5", "REDIS_TIMEOUT_MS": "900", "POOL_TIMEOUT_MS": "1200",
            "ACTIVE_CAPACITY": "7", "ADMIT_PER_SECOND": "2.5", "ACTIVE_SECONDS": "30",
            "WAITING_IDLE_SECONDS": "20", "ENDED_TOKEN_SECONDS": "40", "MAX_WAITING": "0",
            "HOLD_SECONDS": "60", "MAX_SEATS_PER_RESERVATION": "2", "MAX_CHARGE": "500", "MAX_BALANCE": "900",
            "PROMOTE_INTERVAL_MS": "50", "SWEEP_INTERVAL_MS": "75", "IDEMPOTENCY_KEY_SECONDS": "120",
        ])
        #expect(configuration.host == "127.0.0.1" && configuration.port == 9000 && configuration.instanceID == "a1")
        #expect(configuration.logLevel == "debug" && configuration.logFormat == "text")
        let stores = configuration.stores
        #expect(stores.databaseURL == "postgres://u:p@db:5432/x" && stores.redisURL == "redis://r:6379/2")
        #expect(stores.databasePoolSize == 3 && stores.statementTimeoutMilliseconds == 700 && stores.lockTimeoutMilliseconds == 300)
        #expect(stores.redisPoolSize == 5 && stores.redisTimeoutMilliseconds == 900 && stores.poolTimeoutMilliseconds == 1200)
        let queue = configuration.queue
        #expect(queue.activeCapacity == 7 && queue.admitPerSecond == 2.5 && queue.activeSeconds == 30)
        #expect(queue.waitingIdleSeconds == 20 && queue.endedTokenSeconds == 40 && queue.maxWaiting == 0)
        #expect(configuration.reservations.holdSeconds == 60 && configuration.reservations.maxSeatsPerReservation == 2)
        #expect(configuration.balances.maxCharge == 500 && configuration.balances.maxBalance == 900)
        #expect(configuration.jobs.promoteInterval == .milliseconds(50) && configuration.jobs.sweepInterval == .milliseconds(75))
        #expect(configuration.jobs.idempotencyKeySeconds == 120)
    }

    @Test(
        "a malformed or out-of-range value stops the start with a message naming the variable",
        arguments: [
            ("PORT", "http", "PORT=http must be an integer in 0...65535"),
            ("DB_POOL_SIZE", "0", "DB_POOL_SIZE=0 must be an integer in 1...256"),
            ("REDIS_TIMEOUT_MS", "1.5", "REDIS_TIMEOUT_MS=1.5 must be an integer in 1...600000"),
            ("ADMIT_PER_SECOND", "fast", "ADMIT_PER_SECOND=fast must be a number in 0.001...1000000.0"),
            ("MAX_SEATS_PER_RESERVATION", "51", "MAX_SEATS_PER_RESERVATION=51 must be an integer in 1...50"),
            ("PROMOTE_INTERVAL_MS", "5", "PROMOTE_INTERVAL_MS=5 must be an integer in 10...60000"),
        ]
    )
    func failsFast(variable: String, value: String, message: String) {
        #expect(throws: ConfigurationError.self) { try AppConfiguration(environment: [variable: value]) }
        do {
            _ = try AppConfiguration(environment: [variable: value])
        } catch {
            #expect("\(error)" == message)
        }
    }

    @Test("store URLs are secrets: the provider redacts them where it describes its values")
    func secretsAreRedacted() {
        let provider = AppConfiguration.environmentProvider([
            "DATABASE_URL": "postgres://boxoffice:hunter2@db/boxoffice", "REDIS_URL": "redis://:hunter3@r:6379/0", "PORT": "9000",
        ])
        let text = provider.debugDescription
        #expect(!text.contains("hunter2") && !text.contains("hunter3"), "\(text)")
        #expect(text.contains("PORT=9000"))
    }
}
