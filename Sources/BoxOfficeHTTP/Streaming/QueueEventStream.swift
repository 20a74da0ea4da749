import BoxOfficeDomain
import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import ServiceLifecycle
import Synchronization

/// The streams an instance has open, bounded by `MAX_EVENT_STREAMS`: a stream holds a connection
/// and memory for as long as its fan waits, so a line of 100,000 must not hold 100,000 of them
/// (issue 22: at 8,000 streams haproxy's connection cap cut off every other route). Beyond the
/// limit the route answers 503 with Retry-After and the fan's page polls instead. The count moves
/// where a stream really runs (`QueueEventStream.run`), so a response whose body never runs leaks
/// nothing; streams starting at the same moment may pass the limit by a few.
final class EventStreamSlots: Sendable {
    let limit: Int
    private let open = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    var count: Int { self.open.load(ordering: .relaxed) }

    /// Throws 503 SERVICE_UNAVAILABLE (Retry-After 10 s) when the instance's streams are all taken.
    func admit() throws {
        guard self.count < self.limit else {
            throw ApiError(.serviceUnavailable, "SERVICE_UNAVAILABLE", "Too many event streams",
                           "This instance serves its most event streams (\(self.limit)); poll GET /v1/queue/status instead.", retryAfter: 10)
        }
    }

    func enter() { self.open.add(1, ordering: .relaxed) }
    func leave() { self.open.subtract(1, ordering: .relaxed) }
}

/// The body of `GET /v1/queue/events` (Docs/api.md, "The waiting line"): a `status` event whenever the waiter's
/// status changes, a heartbeat comment at least every `heartbeat`, and the end of the stream after
/// ACTIVE, when the token ends, when a newer stream claims the token, or when the instance shuts
/// down (so a rolling restart never waits for open streams; EventSource reconnects elsewhere).
///
/// Cost: the status is read about every `pollAfterSeconds` of the last status, as often as a
/// polling client would ask, and not at all between reads; a failed read is retried at the same
/// pace while heartbeats go on.
struct QueueEventStream: Sendable {
    let queue: QueueService
    let heartbeat: Duration
    let slots: EventStreamSlots
    let logger: Logger

    /// Why a stream ended before ACTIVE, sent as `event: ended` with this `code`.
    enum EndCode: String {
        /// A newer stream for the same token took over (one stream per token).
        case streamReplaced = "STREAM_REPLACED"
    }

    static let open = Meter(label: "boxoffice_event_streams_open")

    /// Claims the token for a new stream and returns its first status; throws like `status`.
    static func start(queue: QueueService, token: String) async throws -> (streamID: String, first: QueueStatus) {
        let streamID = UUID().uuidString
        guard let first = try await queue.watch(token: token, streamID: streamID, claim: true) else {
            throw BoxOfficeError.tokenInvalid  // unreachable: a claim is never superseded
        }
        return (streamID, first)
    }

    func run(streamID: String, first: QueueStatus, writer: inout any ResponseBodyWriter) async throws {
        Self.open.increment()
        self.slots.enter()
        defer {
            Self.open.decrement()
            self.slots.leave()
        }
        let clock = ContinuousClock()
        var last = first
        try await writer.write(ByteBuffer(string: Self.event(first)))
        var nextRead = clock.now + .seconds(first.pollAfterSeconds)
        var nextHeartbeat = clock.now + self.heartbeat
        streaming: while last.status != .active {
            let wake = min(nextRead, nextHeartbeat)
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(until: wake, clock: clock) }
            } catch {
                // Graceful shutdown (or the client went away): end the stream now.
                break
            }
            if clock.now >= nextRead {
                // Writes stay outside the look's error handling: a client that has gone makes them
                // throw, which ends the stream and frees its slot at once.
                switch await self.look(token: first.token, streamID: streamID) {
                case .replaced:
                    try await writer.write(ByteBuffer(string: Self.ended(EndCode.streamReplaced.rawValue)))
                    break streaming
                case .ended(let code):
                    try await writer.write(ByteBuffer(string: Self.ended(code)))
                    break streaming
                case .unavailable:
                    break
                case .status(let current) where current != last:
                    try await writer.write(ByteBuffer(string: Self.event(current)))
                    last = current
                    nextHeartbeat = clock.now + self.heartbeat
                case .status:
                    break
                }
                nextRead = clock.now + .seconds(last.pollAfterSeconds)
            }
            if clock.now >= nextHeartbeat {
                try await writer.write(ByteBuffer(string: ": heartbeat\n\n"))
                nextHeartbeat = clock.now + self.heartbeat
            }
        }
        try await writer.finish(nil)
    }

    /// What one look at the token found.
    enum Look {
        case status(QueueStatus)
        /// Another stream claimed the token.
        case replaced
        /// The token ended or vanished while waiting (the problem code).
        case ended(String)
        /// A store is down: the stream stays (heartbeats go on) and looks again later.
        case unavailable
    }

    func look(token: String, streamID: String) async -> Look {
        do {
            guard let current = try await self.queue.watch(token: token, streamID: streamID, claim: false) else { return .replaced }
            return .status(current)
        } catch let error as BoxOfficeError {
            return .ended(ApiError(error).code)
        } catch {
            self.logger.warning("event stream could not read the queue", metadata: ["error": "\(error)"])
            return .unavailable
        }
    }

    static func event(_ status: QueueStatus) -> String {
        "event: status\ndata: \(status.json)\n\n"
    }

    static func ended(_ code: String) -> String {
        "event: ended\ndata: {\"code\":\"\(code)\"}\n\n"
    }
}
