import BoxOfficeDomain
import ConnectionPool
import HiredisClient
import Hummingbird
import LibpqClient
import Logging
import NIOCore

/// The one place where errors become responses: RFC 9457 problem+json with a stable `code`.
struct ProblemMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    struct Problem: Encodable {
        let type: String
        let title: String
        let status: Int
        let detail: String
        let code: String
        let instance: String?
    }

    func handle(_ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let apiError = Self.apiError(for: error)
            if case .serviceUnavailable = apiError {
                context.logger.warning("store unavailable", metadata: ["error": "\(error)"])
            }
            if let apiError {
                return Self.render(apiError, path: request.uri.path)
            }
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            return Self.render(status: 500, code: "INTERNAL_ERROR", title: "Internal error",
                               detail: "An unexpected error occurred; it has been logged.", path: request.uri.path)
        }
    }

    /// Maps every known error to an API error; nil means a bug (500).
    static func apiError(for error: any Error) -> ApiError? {
        switch error {
        case let error as ApiError:
            return error
        case let error as HTTPError:
            switch error.status {
            case .notFound: return .notFound("No such route.")
            case .contentTooLarge: return .payloadTooLarge
            case .badRequest: return .invalidRequest(error.body ?? "Bad request.")
            case .methodNotAllowed: return .notFound("No such route for this method.")
            default: return nil
            }
        case is NIOTooManyBytesError:
            return .payloadTooLarge
        case is PoolError:
            return .serviceUnavailable("The service is saturated; retry shortly.")
        case let error as RedisError:
            if case .connection = error { return .serviceUnavailable("Redis is unavailable; retry shortly.") }
            return nil
        case let error as PostgresError:
            switch error {
            case .connection: return .serviceUnavailable("PostgreSQL is unavailable; retry shortly.")
            case .server(let kind, _, _) where kind == .queryCanceled || kind == .adminShutdown || kind == .lockNotAvailable:
                return .serviceUnavailable("The database is busy; retry shortly.")
            default: return nil
            }
        default:
            return nil
        }
    }

    static func render(_ error: ApiError, path: String?) -> Response {
        var response = self.render(status: error.status, code: error.code, title: error.title, detail: error.detail, path: path)
        if case .serviceUnavailable = error { response.headers[.retryAfter] = "1" }
        return response
    }

    static func render(status: Int, code: String, title: String, detail: String, path: String?) -> Response {
        let problem = Problem(
            type: "https://boxoffice.example/problems/\(code.lowercased().replacingOccurrences(of: "_", with: "-"))",
            title: title, status: status, detail: detail, code: code, instance: path
        )
        let body = (try? JSON.encode(problem)) ?? #"{"status":\#(status),"code":"\#(code)"}"#
        return Response(
            status: HTTPResponse.Status(code: status),
            headers: [.contentType: "application/problem+json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: body))
        )
    }
}
