import BoxOfficeDomain
import Hummingbird
import Logging

/// Per-request state: the request id and, on protected routes, the caller's queue ticket.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var requestID: String = ""
    /// Set by `QueueTokenMiddleware` before a protected handler runs.
    public var ticket: QueueTicket?

    public init(source: Source) {
        self.coreContext = .init(source: source)
    }

    /// Request bodies over this size answer 413.
    public var maxUploadSize: Int { 64 * 1024 }

    /// The ticket of a protected route; its absence is a wiring bug, reported as a 401 rather than a crash.
    func requireTicket() throws -> QueueTicket {
        guard let ticket else { throw ApiError.tokenInvalid }
        return ticket
    }

    /// The ticket, which must have been issued for `concertID`: 403 WRONG_CONCERT otherwise.
    func requireTicket(forConcert concertID: Int) throws -> QueueTicket {
        let ticket = try self.requireTicket()
        guard ticket.concertID == concertID else { throw ApiError.wrongConcert }
        return ticket
    }

    /// The user of a protected route.
    func requireUser() throws -> String {
        guard let user = try self.requireTicket().userID else { throw ApiError.tokenInvalid }
        return user
    }
}
