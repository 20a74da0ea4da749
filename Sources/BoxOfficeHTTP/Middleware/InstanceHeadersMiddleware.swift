import BoxOfficeDomain
import HTTPTypes
import Hummingbird
import Logging

/// Outermost middleware: tags every response, errors included, with the instance and request ids,
/// and puts the request id into the request's log metadata. Errors are rendered here (after
/// `MetricsMiddleware` has counted them) so that they carry the headers too.
struct InstanceHeadersMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let instanceID: String

    func handle(_ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response) async throws -> Response {
        var context = context
        // Keep a caller's (or the load balancer's) id when it is sane, so logs join up across hops.
        if let incoming = request.headers[.requestID], Text.isPrintableToken(incoming) {
            context.requestID = incoming
        } else {
            var generator = SystemRandomNumberGenerator()
            context.requestID = Text.hex(generator.next())
        }
        context.logger[metadataKey: "request_id"] = .string(context.requestID)
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        response.headers[.instanceID] = self.instanceID
        response.headers[.requestID] = context.requestID
        return response
    }
}
