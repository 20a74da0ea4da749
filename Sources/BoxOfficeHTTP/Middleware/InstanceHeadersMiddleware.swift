import HTTPTypes
import Hummingbird
import Logging

/// Outermost middleware: tags every response, errors included, with the instance and request ids,
/// and puts the request id into the request's log metadata.
struct InstanceHeadersMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let instanceID: String

    func handle(_ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response) async throws -> Response {
        var context = context
        // Keep a caller's (or the load balancer's) id when it is sane, so logs join up across hops.
        if let incoming = request.headers[.requestID], (1...128).contains(incoming.utf8.count),
            incoming.utf8.allSatisfy({ (0x21...0x7E).contains($0) })
        {
            context.requestID = incoming
        } else {
            context.requestID = Self.newID()
        }
        context.logger[metadataKey: "request_id"] = .string(context.requestID)
        var response = try await next(request, context)
        response.headers[.instanceID] = self.instanceID
        response.headers[.requestID] = context.requestID
        return response
    }

    static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        let value = generator.next() as UInt64
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
