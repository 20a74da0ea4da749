import BoxOfficeDomain
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// POST /v1/queue/tokens, GET /v1/queue/status, GET /v1/queue/events.
struct QueueController {
    let queue: QueueService
    /// Server-side check interval of an event stream, and its heartbeat interval.
    let streamInterval: Duration
    let heartbeatInterval: Duration

    struct TokenRequest: Decodable {
        let userId: String
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
        guard let userID = UUID(uuidString: body.userId) else { throw BoxOfficeError.invalidRequest("userId must be a UUID.") }
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

    /// Server-Sent Events: a `status` event whenever the status changes, a heartbeat comment
    /// regularly, and the end of the stream after ACTIVE (or when the token ends).
    @Sendable func events(request: Request, context: TicketRequestContext) async throws -> Response {
        let first = try QueueService.status(of: context.ticket)
        let queue = self.queue
        let interval = self.streamInterval
        let heartbeat = self.heartbeatInterval
        let logger = context.logger
        let body = ResponseBody { writer in
            var last = first
            try await writer.write(ByteBuffer(string: Self.event(first)))
            var sinceHeartbeat = Duration.zero
            while last.status != .active && !Task.isCancelled {
                try await Task.sleep(for: interval)
                sinceHeartbeat += interval
                let current: QueueStatus
                do {
                    current = try await queue.status(token: first.token)
                } catch let error as BoxOfficeError {
                    // The token ended or vanished while waiting: say so and close.
                    try await writer.write(ByteBuffer(string: "event: ended\ndata: {\"code\":\"\(ApiError(error).code)\"}\n\n"))
                    break
                } catch {
                    logger.warning("event stream could not read the queue", metadata: ["error": "\(error)"])
                    continue
                }
                if current != last {
                    try await writer.write(ByteBuffer(string: Self.event(current)))
                    last = current
                    sinceHeartbeat = .zero
                } else if sinceHeartbeat >= heartbeat {
                    try await writer.write(ByteBuffer(string: ": heartbeat\n\n"))
                    sinceHeartbeat = .zero
                }
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no"],
            body: body
        )
    }

    static func event(_ status: QueueStatus) -> String {
        "event: status\ndata: \(status.json)\n\n"
    }
}
