import HTTPTypes
import Hummingbird

/// RFC 9112 §9.6: a server that receives `Connection: close` answers with `Connection: close` and
/// then closes (which NIO does). NIO closes without saying so, and a client that reuses
/// connections (wrk, some load balancers) then counts the close as a read error.
struct ConnectionCloseMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        if Self.asksToClose(request.headers[values: .connection]) { response.headers[.connection] = "close" }
        return response
    }

    /// Whether any `Connection` field lists the `close` option (comma-separated, any case).
    static func asksToClose(_ values: [String]) -> Bool {
        values.contains { $0.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).lowercased() == "close" } }
    }
}
