import BoxOfficeDomain
import Foundation
import HTTPTypes
import Hummingbird

/// Authenticates a route with its queue token (one Redis round trip) and puts the ticket into the
/// context, for the `TicketRequestContext` group behind it. Concert matching (WRONG_CONCERT) is the
/// handler's job: only it knows which concert the request addresses.
struct QueueTokenMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    enum Requirement: Sendable {
        /// WAITING or ACTIVE.
        case live
        /// WAITING or ACTIVE, for a status poll: a waiter behind the front of a line may be answered
        /// from the instance's snapshot of the line (QueueService.inspect).
        case livePoll
        /// ACTIVE only (catalog, holds, payments).
        case active
        /// ACTIVE, or ENDED when the request carries an Idempotency-Key: a payment retry must
        /// still get its stored answer after the payment ended the token.
        case activeOrEndedWithIdempotencyKey
    }

    let queue: QueueService
    let requirement: Requirement

    func handle(_ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response) async throws -> Response {
        guard let token = Self.bearerToken(request.headers[.authorization]),
            let ticket = try await self.queue.inspect(token: token, poll: self.requirement == .livePoll)
        else { throw BoxOfficeError.tokenInvalid }
        switch (ticket.state, self.requirement) {
        case (.unknown, _):
            throw BoxOfficeError.tokenInvalid
        case (.ended, .activeOrEndedWithIdempotencyKey) where request.headers[.idempotencyKey] != nil:
            break
        case (.ended, _):
            throw BoxOfficeError.tokenExpired
        case (.waiting, .active), (.waiting, .activeOrEndedWithIdempotencyKey):
            throw BoxOfficeError.notAdmitted
        case (.waiting, .live), (.waiting, .livePoll), (.active, _):
            break
        }
        var context = context
        context.ticket = ticket
        return try await next(request, context)
    }

    /// The token of an `Authorization: Bearer <token>` header.
    /// The token of `Bearer <token>` (the scheme in any case, blanks around the token ignored).
    /// Byte by byte: every poll runs it, and Foundation's `trimmingCharacters(in:)` with
    /// `lowercased()` took 3.6% of an instance's CPU under polling (perf, Docs/benchmarks.md).
    static func bearerToken(_ header: String?) -> String? {
        guard let header else { return nil }
        let bytes = header.utf8
        func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        var index = bytes.startIndex
        while index != bytes.endIndex, isBlank(bytes[index]) { index = bytes.index(after: index) }
        for expected in "bearer".utf8 {
            guard index != bytes.endIndex, bytes[index] | 0x20 == expected else { return nil }
            index = bytes.index(after: index)
        }
        guard index != bytes.endIndex, isBlank(bytes[index]) else { return nil }
        while index != bytes.endIndex, isBlank(bytes[index]) { index = bytes.index(after: index) }
        var end = bytes.endIndex
        while end != index, isBlank(bytes[bytes.index(before: end)]) { end = bytes.index(before: end) }
        return index == end ? nil : String(header[index..<end])
    }
}

extension RouterMethods<AppRequestContext> {
    /// A group of routes behind the queue token check, whose handlers get a `TicketRequestContext`.
    func ticketGroup(_ path: RouterPath = "", queue: QueueService, _ requirement: QueueTokenMiddleware.Requirement) -> RouterGroup<TicketRequestContext> {
        self.group(path)
            .add(middleware: QueueTokenMiddleware(queue: queue, requirement: requirement))
            .group(context: TicketRequestContext.self)
    }
}
