import BoxOfficeDomain
import Hummingbird

/// Guards `/v1/admin/`: `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time. Without
/// an `ADMIN_TOKEN` the admin API is off (403 ADMIN_DISABLED). A queue token is just a wrong token.
struct AdminTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let adminToken: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let adminToken = self.adminToken else { throw BoxOfficeError.adminDisabled }
        guard let given = QueueTokenMiddleware.bearerToken(request.headers[.authorization]),
            Self.constantTimeEqual(Array(given.utf8), Array(adminToken.utf8))
        else { throw BoxOfficeError.adminUnauthorized }
        return try await next(request, context)
    }

    /// Equal bytes, in a time that depends only on the lengths: no early exit at the first
    /// difference, so response times do not reveal how much of a guess was right.
    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: lhs.count ^ rhs.count)
        for index in 0..<max(lhs.count, rhs.count) {
            let left = index < lhs.count ? lhs[index] : 0
            let right = index < rhs.count ? rhs[index] : 0
            difference |= left ^ right
        }
        return difference == 0 && lhs.count == rhs.count
    }
}
