import HTTPTypes
import Hummingbird

/// Browsers' EventSource cannot send headers, so `GET /v1/queue/events?token=T` is accepted
/// (Docs/api.md, "The waiting line"). This outermost middleware turns it into `Authorization: Bearer T` and drops
/// the query, so the token check is the usual one and no log line or metric ever sees the token.
/// A request that already has an Authorization header keeps it. Every spelling of the path the
/// router sends to the stream (`//v1/queue/events`, `/v1//queue/events`, `/v1/queue/events/`) is
/// matched, so a token in the query of any of them is moved out of it just the same.
struct EventStreamQueryTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    static var path: String { "/v1/queue/events" }
    private static var components: [Substring] { Self.path.split(separator: "/") }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path.split(separator: "/") == Self.components, let query = request.uri.query, !query.isEmpty else {
            return try await next(request, context)
        }
        var head = request.head
        head.path = Self.path
        if head.headerFields[.authorization] == nil, let token = request.uri.queryParameters.get("token"), !token.isEmpty {
            head.headerFields[.authorization] = "Bearer \(token)"
        }
        return try await next(Request(head: head, body: request.body), context)
    }
}
