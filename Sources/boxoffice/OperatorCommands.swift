import ArgumentParser
import BoxOfficeDomain
import BoxOfficeStores
import BoxOfficeHTTP
import Foundation
import Logging

/// `boxoffice concerts ...` and `boxoffice queue ...`: event operations for operators without HTTP
/// access, through the same domain code as the admin API (same checks, same refusals).
struct Concerts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create concerts and their dates, list concerts.", subcommands: [Create.self, AddDate.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a concert; prints it as JSON (with its new id).")
        @Option(help: "Title, 1 to 200 characters.") var title: String
        @Option(help: "Artist, 1 to 200 characters.") var artist: String

        func run() async throws {
            try await OperatorTools.with { tools in
                print(try JSON.encode(try await tools.administration.createConcert(title: self.title, artist: self.artist)))
            }
        }
    }

    struct AddDate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-date", abstract: "Add a date with its 50 seats, all or nothing.",
            discussion: "Either --prices with 50 comma-separated prices, or --tier FROM-TO:PRICE (repeated) covering seats 1-50 once.")
        @Argument(help: "Concert id.") var concertID: Int
        @Argument(help: "Date, YYYY-MM-DD, today or later.") var date: String
        @Option(help: "50 comma-separated seat prices in won.") var prices: String?
        @Option(name: .customLong("tier"), help: "Seats FROM-TO at PRICE, e.g. 1-10:198000.") var tiers: [String] = []

        func run() async throws {
            let prices = try self.prices.map { text in
                try text.split(separator: ",").map { item -> Int in
                    guard let price = Int(item.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("'\(item)' is not a whole number") }
                    return price
                }
            }
            let tiers = try self.tiers.map(Self.tier)
            try await OperatorTools.with { tools in
                try await tools.administration.addDate(
                    concertID: self.concertID, date: self.date, prices: prices, tiers: tiers.isEmpty ? nil : tiers)
                print("added \(self.date) to concert \(self.concertID) with \(SeatPrices.seats) seats")
            }
        }

        static func tier(_ text: String) throws -> SeatPrices.Tier {
            let parts = text.split(separator: ":")
            let seats = parts.first?.split(separator: "-") ?? []
            guard parts.count == 2, seats.count == 2, let from = Int(seats[0]), let to = Int(seats[1]), let price = Int(parts[1]) else {
                throw ValidationError("a tier is FROM-TO:PRICE, e.g. 1-10:198000 (got '\(text)')")
            }
            return SeatPrices.Tier(from: from, to: to, price: price)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the concerts as JSON.")

        func run() async throws {
            try await OperatorTools.with { tools in
                for concert in try await tools.catalog.concerts() { print(try JSON.encode(concert)) }
            }
        }
    }
}

struct Queue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show or change a concert's queue settings and figures.", subcommands: [Show.self, Set.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The concert's queue settings and its line right now, as JSON.")
        @Argument(help: "Concert id.") var concertID: Int

        func run() async throws {
            try await OperatorTools.with { tools in
                print(try JSON.encode(try await tools.queue.queueSettings(concertID: self.concertID)))
                let figures = try await tools.queue.queueFigures(concertID: self.concertID)
                print(#"{"waiting":\#(figures.waiting),"active":\#(figures.active),"admittedPerSecond":\#(figures.admittedPerSecond)}"#)
            }
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change settings: paused, opensAt, activeCapacity, admitPerSecond, activeSeconds, waitingIdleSeconds, maxWaiting, queueShards.",
            discussion: "Example: boxoffice queue set 1 paused=false admitPerSecond=50 opensAt=2027-03-01T10:00:00Z (opensAt=null: open now)")
        @Argument(help: "Concert id.") var concertID: Int
        @Argument(help: "key=value pairs.") var settings: [String]

        func run() async throws {
            var object: [String: Any] = [:]
            for setting in self.settings {
                let parts = setting.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw ValidationError("a setting is key=value (got '\(setting)')") }
                object[parts[0]] =
                    switch parts[1] {
                    case "true": true
                    case "false": false
                    case "null": NSNull()
                    default: Double(parts[1]).map { $0 as Any } ?? parts[1]
                    }
            }
            let patch: QueueSettingsPatch
            do {
                patch = try JSONDecoder().decode(QueueSettingsPatch.self, from: try JSONSerialization.data(withJSONObject: object))
            } catch {
                throw ValidationError("settings \(self.settings): a value has the wrong type (\(error))")
            }
            try await OperatorTools.with { tools in
                print(try JSON.encode(try await tools.queue.updateQueueSettings(concertID: self.concertID, patch: patch)))
            }
        }
    }
}

/// The services an operator command needs (the instance's own, from `AppDependencies`), with their
/// stores shut down afterwards; domain refusals become a message and exit status 1.
enum OperatorTools {
    static func with(_ body: (AppDependencies) async throws -> Void) async throws {
        let configuration = try Bootstrap.configuration()
        let stores = try Stores(configuration: configuration)
        defer { stores.shutdown() }
        let tools = AppDependencies(
            configuration: configuration, stores: ServiceStores(stores, configuration: configuration), logger: Logger(label: "boxoffice.operator"))
        do {
            try await body(tools)
        } catch let error as BoxOfficeError {
            FileHandle.standardError.write(Data("error: \(Self.describe(error))\n".utf8))
            throw ExitCode.failure
        }
    }

    static func describe(_ error: BoxOfficeError) -> String {
        switch error {
        case .invalidRequest(let detail): detail
        case .concertNotFound: "no concert with this id"
        case .dateExists: "the concert already has this date"
        default: "\(error)"
        }
    }
}
