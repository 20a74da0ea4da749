import BoxOfficeDomain
import HTTPTypes
import Hummingbird

/// POST /v1/payments (ACTIVE; a retry with its Idempotency-Key also after the token ended).
struct PaymentController {
    let payments: PaymentService
    let queue: QueueService

    struct PaymentRequest: Decodable {
        let reservationId: String
    }

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.ticketGroup(queue: self.queue, .activeOrEndedWithIdempotencyKey)
            .post(use: self.pay)
    }

    @Sendable func pay(request: Request, context: TicketRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(PaymentRequest.self, context: context)
        let key = request.headers[.idempotencyKey]
        if case .ended = context.ticket.state {
            // Only a completed payment with this key may be replayed on an ended token.
            guard let key, let receipt = try await self.payments.replay(userID: context.userID, reservationID: body.reservationId, idempotencyKey: key) else {
                throw BoxOfficeError.tokenExpired
            }
            return try context.json(receipt, status: .created)
        }
        let receipt = try await self.payments.pay(ticket: context.ticket, reservationID: body.reservationId, idempotencyKey: key)
        return try context.json(receipt, status: .created)
    }
}
