import BoxOfficeDomain
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// POST /v1/queue/tokens, GET /v1/queue/challenge, GET /v1/queue/status, GET /v1/queue/events, DELETE /v1/queue/tokens/current.
struct QueueController {
    let queue: QueueService
    /// A fan who leaves gives back their holds too.
    let reservations: ReservationService
    /// nil in demo mode: the body's userId is trusted.
    let userAssertions: UserAssertionVerifier?
    /// The longest silence on an event stream (a heartbeat comment ends it).
    let heartbeat: Duration
    /// The instance's open streams, bounded by `MAX_EVENT_STREAMS`.
    let streams: EventStreamSlots

    struct TokenRequest: Decodable {
        /// Required in demo mode; with user assertions optional, and the assertion's user if given.
        let userId: String?
        let concertId: Int
        /// The answer to a challenge, while the concert asks for a proof of work.
        let proof: ProofOfWork.Proof?
        /// The user's code from a presale's draw, while its sale window is open.
        let presaleCode: String?
    }

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("tokens", use: self.issue)
        group.get("challenge", use: self.challenge)
        group.ticketGroup(queue: self.queue, .livePoll)
            .get("status", use: self.status)
        group.ticketGroup(queue: self.queue, .live)
            .get("events", use: self.events)
        group.ticketGroup("tokens/current", queue: self.queue, .live)
            .delete(use: self.leave)
    }

    @Sendable func issue(request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(TokenRequest.self, context: context)
        let userID = try await self.userAssertions.fan(request, claimed: body.userId)
        guard body.concertId > 0 else { throw BoxOfficeError.concertNotFound }
        let (status, isNew) = try await self.queue.issueToken(
            userID: userID, concertID: body.concertId, proof: body.proof, presaleCode: body.presaleCode)
        return Self.raw(json: status.json, status: isNew ? .created : .ok)
    }

    /// A proof-of-work challenge for the concert (`?concertId=`), at its current difficulty.
    @Sendable func challenge(request: Request, context: AppRequestContext) async throws -> Response {
        guard let concertID = request.uri.queryParameters.get("concertId", as: Int.self) else {
            throw BoxOfficeError.invalidRequest("concertId must be given as an integer query parameter.")
        }
        return try context.json(try await self.queue.challenge(concertID: concertID))
    }

    @Sendable func status(request: Request, context: TicketRequestContext) async throws -> Response {
        Self.raw(json: try QueueService.status(of: context.ticket).json, status: .ok)
    }

    /// The fan leaves: a waiter's place goes at once (everyone behind moves up); an admitted fan's
    /// HELD reservations for the concert are cancelled first (seats free at once), then the slot
    /// is freed for the next in line. Holds go first so that a database failure (503) leaves the
    /// token alive for a retry; a retry after the token ended gets 401 TOKEN_EXPIRED.
    @Sendable func leave(request: Request, context: TicketRequestContext) async throws -> Response {
        let ticket = context.ticket
        if case .active(let user, _) = ticket.state {
            _ = try await self.reservations.cancelHolds(userID: user, concertID: ticket.concertID)
        }
        try await self.queue.endToken(ticket.token)
        return Response(status: .noContent)
    }

    /// A pre-rendered JSON body (the hand-written queue status).
    static func raw(json: String, status: HTTPResponse.Status) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: json)))
    }

    /// Server-Sent Events, see `QueueEventStream`. The stream claims the token first, so errors
    /// (an ended token) still come as problem+json.
    @Sendable func events(request: Request, context: TicketRequestContext) async throws -> Response {
        try self.streams.admit()
        let (streamID, first) = try await QueueEventStream.start(queue: self.queue, token: context.ticket.token)
        let stream = QueueEventStream(queue: self.queue, heartbeat: self.heartbeat, slots: self.streams, logger: context.logger)
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no"],
            body: ResponseBody { writer in try await stream.run(streamID: streamID, first: first, writer: &writer) }
        )
    }
}
