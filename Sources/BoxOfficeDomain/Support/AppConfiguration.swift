import Foundation

/// Every setting of an instance, read from environment variables (defaults in parentheses in the README).
public struct AppConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var databaseURL: String
    public var redisURL: String
    public var instanceID: String
    public var holdSeconds: Int
    public var activeSeconds: Int
    public var activeCapacity: Int
    public var admitPerSecond: Double
    public var waitingIdleSeconds: Int
    public var maxSeatsPerReservation: Int
    public var maxCharge: Int
    public var maxBalance: Int
    public var endedTokenSeconds: Int
    public var idempotencyKeySeconds: Int
    public var databasePoolSize: Int
    public var redisPoolSize: Int
    public var poolTimeoutMilliseconds: Int
    public var statementTimeoutMilliseconds: Int
    public var lockTimeoutMilliseconds: Int
    public var redisTimeoutMilliseconds: Int
    public var promoteIntervalMilliseconds: Int
    public var sweepIntervalMilliseconds: Int
    public var logLevel: String
    public var logFormat: String

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let reader = EnvironmentReader(environment: environment)
        self.host = reader.string("HOST", default: "0.0.0.0")
        self.port = try reader.int("PORT", default: 8080, range: 0...65535)
        self.databaseURL = reader.string("DATABASE_URL", default: "postgres://boxoffice:boxoffice@127.0.0.1:55432/boxoffice")
        self.redisURL = reader.string("REDIS_URL", default: "redis://127.0.0.1:56379/0")
        self.instanceID = reader.string("INSTANCE_ID", default: "\(ProcessInfo.processInfo.hostName)-\(getpid())")
        self.holdSeconds = try reader.int("HOLD_SECONDS", default: 300, range: 1...86_400)
        self.activeSeconds = try reader.int("ACTIVE_SECONDS", default: 300, range: 1...86_400)
        self.activeCapacity = try reader.int("ACTIVE_CAPACITY", default: 6_000, range: 1...10_000_000)
        self.admitPerSecond = try reader.double("ADMIT_PER_SECOND", default: 100, range: 0.001...1_000_000)
        self.waitingIdleSeconds = try reader.int("WAITING_IDLE_SECONDS", default: 60, range: 1...86_400)
        self.maxSeatsPerReservation = try reader.int("MAX_SEATS_PER_RESERVATION", default: 4, range: 1...50)
        self.maxCharge = try reader.int("MAX_CHARGE", default: 10_000_000, range: 1...Int(Int32.max) * 1000)
        self.maxBalance = try reader.int("MAX_BALANCE", default: 1_000_000_000, range: 1...Int.max / 4)
        self.endedTokenSeconds = try reader.int("ENDED_TOKEN_SECONDS", default: 86_400, range: 1...30 * 86_400)
        self.idempotencyKeySeconds = try reader.int("IDEMPOTENCY_KEY_SECONDS", default: 86_400, range: 60...365 * 86_400)
        self.databasePoolSize = try reader.int("DB_POOL_SIZE", default: 8, range: 1...256)
        self.redisPoolSize = try reader.int("REDIS_POOL_SIZE", default: 2, range: 1...256)
        self.poolTimeoutMilliseconds = try reader.int("POOL_TIMEOUT_MS", default: 3_000, range: 1...600_000)
        self.statementTimeoutMilliseconds = try reader.int("DB_STATEMENT_TIMEOUT_MS", default: 5_000, range: 1...600_000)
        self.lockTimeoutMilliseconds = try reader.int("DB_LOCK_TIMEOUT_MS", default: 2_000, range: 1...600_000)
        self.redisTimeoutMilliseconds = try reader.int("REDIS_TIMEOUT_MS", default: 2_000, range: 1...600_000)
        self.promoteIntervalMilliseconds = try reader.int("PROMOTE_INTERVAL_MS", default: 250, range: 10...60_000)
        self.sweepIntervalMilliseconds = try reader.int("SWEEP_INTERVAL_MS", default: 1_000, range: 10...600_000)
        self.logLevel = reader.string("LOG_LEVEL", default: "info")
        self.logFormat = reader.string("LOG_FORMAT", default: "json")
    }
}

public struct ConfigurationError: Error, CustomStringConvertible {
    public let description: String
}

/// Reads typed values; a set but malformed variable is an error rather than a silent default.
struct EnvironmentReader {
    let environment: [String: String]

    func string(_ name: String, default value: String) -> String {
        guard let raw = self.environment[name], !raw.isEmpty else { return value }
        return raw
    }

    func int(_ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let raw = self.environment[name], !raw.isEmpty else { return value }
        guard let parsed = Int(raw), range.contains(parsed) else {
            throw ConfigurationError(description: "\(name)=\(raw) must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return parsed
    }

    func double(_ name: String, default value: Double, range: ClosedRange<Double>) throws -> Double {
        guard let raw = self.environment[name], !raw.isEmpty else { return value }
        guard let parsed = Double(raw), range.contains(parsed) else {
            throw ConfigurationError(description: "\(name)=\(raw) must be a number in \(range.lowerBound)...\(range.upperBound)")
        }
        return parsed
    }
}
