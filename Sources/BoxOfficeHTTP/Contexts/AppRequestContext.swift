import BoxOfficeDomain
import Foundation
import Hummingbird
import Logging

extension JSONEncoder {
    /// The encoder of every JSON response body, set once. Sorted keys make the bytes a function of the
    /// value, so an idempotent replay renders exactly as the first answer did.
    static let api: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }()
}

/// What every BoxOffice request context offers: the request id and the response encoder.
public protocol BoxOfficeRequestContext: RequestContext where Encoder == JSONEncoder {
    var requestID: String { get }
}

extension BoxOfficeRequestContext {
    /// Request bodies over this size answer 413.
    public var maxUploadSize: Int { 64 * 1024 }

    public var responseEncoder: JSONEncoder { .api }

    /// `value` as a JSON response with `status`.
    func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: try self.responseEncoder.encode(value)))
        )
    }
}

/// The context of every request: the request id and, once `QueueTokenMiddleware` has checked the
/// bearer token, the caller's ticket (which `TicketRequestContext` then carries non-optionally).
public struct AppRequestContext: BoxOfficeRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var requestID: String = ""
    public var ticket: QueueTicket?

    public init(source: Source) {
        self.coreContext = .init(source: source)
    }
}

/// The context of a route behind `QueueTokenMiddleware`: the ticket is there, never optional.
public struct TicketRequestContext: BoxOfficeRequestContext, ChildRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let requestID: String
    public let ticket: QueueTicket
    /// The ticket's user.
    public let userID: String

    public init(context: AppRequestContext) throws {
        // Only a route group without the token middleware gets here without a ticket: a wiring bug,
        // answered as 401 rather than a crash.
        guard let ticket = context.ticket, let userID = ticket.userID else { throw ApiError(.tokenInvalid) }
        self.coreContext = context.coreContext
        self.requestID = context.requestID
        self.ticket = ticket
        self.userID = userID
    }

    /// The ticket, which must have been issued for `concertID`: 403 WRONG_CONCERT otherwise.
    func requireConcert(_ concertID: Int) throws {
        guard self.ticket.concertID == concertID else { throw BoxOfficeError.wrongConcert }
    }
}
