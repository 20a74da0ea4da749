import BoxOfficeDomain
import ConnectionPool
import HiredisClient
import Hummingbird
import LibpqClient
import NIOCore

/// Turns every error a handler throws into an `ApiError`, so each response is problem+json and
/// `MetricsMiddleware` (outside this one) counts it under its real status. Domain outcomes map
/// through `ApiError.init(_:)`; a store that is down or saturated becomes 503 with Retry-After;
/// anything else is a bug: logged, and a 500.
struct ErrorMappingMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let apiError = Self.apiError(for: error)
            if apiError.status == .serviceUnavailable {
                context.logger.warning("store unavailable", metadata: ["error": "\(error)"])
            } else if apiError == .internalError {
                context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            }
            throw apiError
        }
    }

    static func apiError(for error: any Error) -> ApiError {
        switch error {
        case let error as ApiError:
            return error
        case let error as BoxOfficeError:
            return ApiError(error)
        case let error as HTTPError:
            switch error.status {
            case .notFound: return .notFound("No such route.")
            case .methodNotAllowed: return .notFound("No such route for this method.")
            case .contentTooLarge: return .payloadTooLarge
            case .badRequest: return .invalidRequest(error.body ?? "Bad request.")
            default: return .internalError
            }
        case is NIOTooManyBytesError:
            return .payloadTooLarge
        case is PoolError:
            return .serviceUnavailable("The service is saturated; retry shortly.")
        case let error as RedisError where error.isUnavailable:
            return .serviceUnavailable("Redis is unavailable; retry shortly.")
        case let error as PostgresError where error.isUnavailable:
            return .serviceUnavailable("PostgreSQL is unavailable or busy; retry shortly.")
        default:
            return .internalError
        }
    }
}
