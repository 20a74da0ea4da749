import Foundation

/// One fan of the rehearsal: what the fan's page (web/fan.js) knows about its visit. Each fan has
/// at most one step in flight, so a fan is only ever touched by one task at a time.
final class Fan: @unchecked Sendable {
    enum Phase {
        case arriving, waiting, done
    }

    /// What this fan does besides waiting and buying, drawn at arrival.
    enum Fate {
        case buys
        /// Leaves the line on purpose (DELETE /v1/queue/tokens/current) at `at`.
        case givesUp(at: ContinuousClock.Instant)
        /// Closes the tab at `at`: stops polling without a word (the server drops it as idle).
        case vanishes(at: ContinuousClock.Instant)
        /// Is admitted and holds seats, then leaves without paying.
        case abandonsCart
    }

    let index: Int
    let userID = UUID().uuidString.lowercased()
    var phase = Phase.arriving
    var fate = Fate.buys
    var token: String?
    /// The last status the fan saw.
    var status: QueueStatusReply?
    /// Wall-clock ms of the arrival, the promise at arrival (seconds; nil before the opening).
    var arrivedAtMilliseconds = 0
    var promisedSeconds: Int?
    var promisedPosition: Int?
    var arrivedBeforeOpening = false
    /// The page leaves streams alone until then after a refusal (STREAM_RETRY_SECONDS).
    var noStreamUntil = ContinuousClock.Instant.now

    init(index: Int) {
        self.index = index
    }
}

/// The queue status shape, as much of it as a fan's page reads. Read by looking for its few fields
/// in the text: Foundation's JSONDecoder cost the generator more CPU than the servers spent
/// answering (the first 100,000-fan run: one core of two, the polls queued behind it).
struct QueueStatusReply: Sendable {
    let token: String
    let status: String
    let position: Int?
    let estimatedWaitSeconds: Int?
    let pollAfterSeconds: Int
    let soldOut: Bool?

    init?(json text: Substring) {
        func raw(_ key: String) -> Substring? {
            guard let start = text.range(of: "\"\(key)\":")?.upperBound else { return nil }
            let rest = text[start...]
            let end = rest.firstIndex { $0 == "," || $0 == "}" } ?? rest.endIndex
            return rest[..<end]
        }
        func string(_ key: String) -> String? {
            guard let value = raw(key), value.first == "\"" else { return nil }
            return String(value.dropFirst().dropLast())
        }
        guard let token = string("token"), let status = string("status"), let poll = raw("pollAfterSeconds").flatMap({ Int($0) }) else {
            return nil
        }
        self.token = token
        self.status = status
        self.position = raw("position").flatMap { Int($0) }
        self.estimatedWaitSeconds = raw("estimatedWaitSeconds").flatMap { Int($0) }
        self.pollAfterSeconds = poll
        self.soldOut = raw("soldOut").map { $0 == "true" }
    }

    /// The page's rule (web/fan.js `wantsStream`): a stream only when the turn is due within 30 s.
    var wantsStream: Bool {
        self.status == "WAITING" && self.soldOut != true && self.position != nil && (self.estimatedWaitSeconds ?? .max) <= 30
    }
}

struct DatesReply: Decodable {
    struct BookableDate: Decodable {
        let date: String
        let availableSeats: Int
    }
    let dates: [BookableDate]
}

struct SeatsReply: Decodable {
    struct Seat: Decodable {
        let number: Int
        let status: String
    }
    let seats: [Seat]
}

struct ReservationReply: Decodable {
    let reservationId: String
    let amount: Int
}

struct ProblemReply: Decodable {
    let code: String?
}
