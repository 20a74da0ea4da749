import BoxOfficeDomain
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// POST /v1/queue/tokens, GET /v1/queue/status, GET /v1/queue/events.
struct QueueController {
    let queue: QueueService
    /// nil in demo mode: the body's userId is trusted.
    let userAssertions: UserAssertionVerifier?
    /// The longest silence on an event stream (a heartbeat comment ends it).
    let heartbeat: Duration

    struct TokenRequest: Decodable {
        /// Required in demo mode; with user assertions optional, and the assertion's user if given.
        let userId: String?
        let concertId: Int
    }

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("tokens", use: self.issue)
        group.ticketGroup(queue: self.queue, .live)
            .get("status", use: self.status)
            .get("events", use: self.events)
    }

    @Sendable func issue(request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(TokenRequest.self, context: context)
        let userID: UUID
        if let userAssertions = self.userAssertions {
            userID = try await userAssertions.user(authorization: request.headers[.authorization])
            if let given = body.userId, UUID(uuidString: given) != userID { throw ApiError.userUnauthorized }
        } else {
            guard let given = body.userId.flatMap(UUID.init(uuidString:)) else { throw BoxOfficeError.invalidRequest("userId must be a UUID.") }
            userID = given
        }
        guard body.concertId > 0 else { throw BoxOfficeError.concertNotFound }
        let (status, isNew) = try await self.queue.issueToken(userID: userID, concertID: body.concertId)
        return Self.raw(json: status.json, status: isNew ? .created : .ok)
    }

    @Sendable func status(request: Request, context: TicketRequestContext) async throws -> Response {
        Self.raw(json: try QueueService.status(of: context.ticket).json, status: .ok)
    }

    /// A pre-rendered JSON body (the hand-written queue status).
    static func raw(json: String, status: HTTPResponse.Status) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: json)))
    }

    /// Server-Sent Events, see `QueueEventStream`. The stream claims the token first, so errors
    /// (an ended token) still come as problem+json.
    @Sendable func events(request: Request, context: TicketRequestContext) async throws -> Response {
        let (streamID, first) = try await QueueEventStream.start(queue: self.queue, token: context.ticket.token)
        let stream = QueueEventStream(queue: self.queue, heartbeat: self.heartbeat, logger: context.logger)
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no"],
            body: ResponseBody { writer in try await stream.run(streamID: streamID, first: first, writer: &writer) }
        )
    }
}
