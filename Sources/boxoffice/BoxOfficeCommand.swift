import ArgumentParser
import BoxOfficeDomain
import BoxOfficeStores
import BoxOfficeHTTP
import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus

@main
struct BoxOfficeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boxoffice",
        abstract: "Concert ticketing API: waiting queue, seat holds, balance and payments.",
        discussion: "Every setting comes from environment variables; see the README.",
        subcommands: [Serve.self, Migrate.self, Seed.self, Check.self, Concerts.self, Queue.self, Lua.self],
        defaultSubcommand: Serve.self
    )
}

/// Settings and logging shared by every subcommand.
enum Bootstrap {
    static func configuration() throws -> AppConfiguration {
        do {
            return try AppConfiguration()
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }

    static func logger(_ configuration: AppConfiguration, label: String) -> Logger {
        let level = Logger.Level(rawValue: configuration.logLevel.lowercased()) ?? .info
        let instance = configuration.instanceID
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = configuration.logFormat == "text"
                ? StreamLogHandler.standardOutput(label: label) : JSONLogHandler(label: label, level: level)
            handler.logLevel = level
            handler[metadataKey: "instance"] = .string(instance)
            return handler
        }
        return Logger(label: label)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP API with the queue promoter and hold sweeper.")

    func run() async throws {
        let configuration = try Bootstrap.configuration()
        let logger = Bootstrap.logger(configuration, label: "boxoffice")
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let app = try await buildApplication(configuration: configuration, logger: logger, registry: registry)
        logger.info("starting", metadata: ["port": "\(configuration.port)"])
        try await app.runService()
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply database migrations (safe to run from several instances at once).")

    func run() async throws {
        let configuration = try Bootstrap.configuration()
        let logger = Bootstrap.logger(configuration, label: "boxoffice.migrate")
        let stores = try Stores(configuration: configuration)
        defer { stores.shutdown() }
        try await Migrator(database: stores.database, logger: logger).migrate()
    }
}

struct Seed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Load the demo concerts, dates and seats (idempotent).")

    func run() async throws {
        let configuration = try Bootstrap.configuration()
        let logger = Bootstrap.logger(configuration, label: "boxoffice.seed")
        let stores = try Stores(configuration: configuration)
        defer { stores.shutdown() }
        try await Seeder(database: stores.database, logger: logger).seed()
    }
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the seat and money invariants; prints a JSON report and fails when one is broken."
    )

    func run() async throws {
        let configuration = try Bootstrap.configuration()
        let stores = try Stores(configuration: configuration)
        defer { stores.shutdown() }
        let report = try await InvariantChecker(database: stores.database).check()
        print(try JSON.encode(report))
        if !report.isHealthy { throw ExitCode(2) }
    }
}

struct Lua: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the source of one of the queue's Lua scripts, or the keys it declares (for redis-cli and redis-benchmark).",
        shouldDisplay: false
    )

    @Argument(help: "Script name: queue-issue, queue-status, queue-promote, queue-extend or queue-end.")
    var name: String

    @Option(help: "Print the keys the script declares for this concert's line instead (space-separated, in KEYS order).")
    var keys: Int?

    func run() throws {
        guard let script = QueueScripts.all.first(where: { $0.name == self.name }) else {
            throw ValidationError("unknown script \(self.name); known: \(QueueScripts.all.map(\.name).joined(separator: ", "))")
        }
        if let concertID = self.keys {
            print(QueueKeys.Line.allCases.map { QueueKeys(concertID: concertID)[$0] }.joined(separator: " "))
        } else {
            print(script.source)
        }
    }
}
