import BoxOfficeDomain
import BoxOfficeStores
import Configuration
import Foundation

/// Every setting of an instance (defaults in the README), read once at start through
/// swift-configuration, each area from its own scope. A malformed value stops the instance with a
/// message naming the variable.
public struct AppConfiguration: Sendable {
    /// `HOST`, `PORT`.
    public var host: String
    public var port: Int
    /// `INSTANCE_ID`: in response headers, logs and PostgreSQL's application_name.
    public var instanceID: String
    /// `LOG_LEVEL`, `LOG_FORMAT` (json or text).
    public var logLevel: String
    public var logFormat: String
    /// `EVENT_HEARTBEAT_SECONDS`: the longest silence on a queue event stream (Docs/api.md: at most 15 s).
    public var eventHeartbeatSeconds: Int
    /// `MAX_EVENT_STREAMS`: the most queue event streams one instance keeps open (beyond: 503, the
    /// client polls). Streams are for fans near the front; each holds a connection and memory.
    public var maxEventStreams: Int
    public var stores: StoreSettings
    public var queue: QueueService.Settings
    public var reservations: ReservationService.Settings
    public var balances: BalanceService.Settings
    public var jobs: JobSettings
    /// `EVENTS_STREAM`, `OUTBOX_*`: the transactional outbox and its relay.
    public var events: EventSettings
    /// `WEBHOOK_*`: deliveries to the registered endpoints.
    public var webhooks: WebhookSettings
    /// `ALERT_*`: operator alerts.
    public var alerts: AlertSettings
    /// `USER_ASSERTION_KEY` / `USER_ASSERTION_JWKS`: who may speak for a user (unset: demo mode).
    public var userAssertions: UserAssertionSettings
    /// `ADMIN_TOKEN`: the bearer token of `/v1/admin/` (unset: the admin API is off).
    public var adminToken: String?
    /// `WEB_ROOT`: the folder of the pages (unset: `web/` of the working directory or the repository).
    public var webRoot: String?

    /// Variables whose values never reach a log or a description.
    public static let secretVariables: Set<String> = ["DATABASE_URL", "REDIS_URL", "USER_ASSERTION_KEY", "ADMIN_TOKEN", "CHALLENGE_SECRET"]

    public init(config: ConfigReader) throws {
        let reader = SettingsReader(config)
        self.host = reader.string("host", default: "0.0.0.0")
        self.port = try reader.int("port", default: 8080, in: 0...65535)
        self.instanceID = reader.string("instance.id", default: "\(ProcessInfo.processInfo.hostName)-\(getpid())")
        let log = reader.scoped(to: "log")
        self.logLevel = log.string("level", default: "info")
        self.logFormat = log.string("format", default: "json")
        self.eventHeartbeatSeconds = try reader.int("event.heartbeat.seconds", default: 10, in: 1...15)
        self.maxEventStreams = try reader.int("max.event.streams", default: 2_000, in: 0...1_000_000)
        self.stores = try StoreSettings(reader)
        self.queue = try QueueService.Settings(reader)
        self.reservations = try ReservationService.Settings(reader)
        self.balances = try BalanceService.Settings(reader)
        self.jobs = try JobSettings(reader)
        self.events = try EventSettings(reader)
        self.webhooks = try WebhookSettings(reader)
        self.alerts = try AlertSettings(reader)
        self.userAssertions = try UserAssertionSettings(reader)
        let adminToken = reader.string("admin.token", default: "", secret: true)
        guard adminToken.isEmpty || adminToken.utf8.count >= 16 else {
            throw ConfigurationError(description: "ADMIN_TOKEN must be at least 16 characters (make run generates one)")
        }
        self.adminToken = adminToken.isEmpty ? nil : adminToken
        let webRoot = reader.string("web.root", default: "")
        self.webRoot = webRoot.isEmpty ? nil : webRoot
    }

    /// From environment variables: the process's own, or a given set (tests).
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        try self.init(config: ConfigReader(provider: Self.environmentProvider(environment)))
    }

    /// The environment as a configuration provider that redacts the secret variables.
    public static func environmentProvider(_ environment: [String: String]) -> EnvironmentVariablesProvider {
        EnvironmentVariablesProvider(environmentVariables: environment, secretsSpecifier: .specific(Self.secretVariables))
    }
}

extension Stores {
    /// The store clients of an instance, named after it in PostgreSQL's pg_stat_activity.
    public init(configuration: AppConfiguration) throws {
        try self.init(settings: configuration.stores, applicationName: "boxoffice-\(configuration.instanceID)")
    }
}
