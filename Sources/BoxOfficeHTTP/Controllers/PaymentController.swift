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

    var endpoints: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .add(middleware: QueueTokenMiddleware(queue: self.queue, requirement: .activeOrEndedWithIdempotencyKey))
            .post(use: self.pay)
    }

    @Sendable func pay(request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(PaymentRequest.self, context: context)
        let ticket = try context.requireTicket()
        let key = request.headers[.idempotencyKey]
        if case .ended(let userID) = ticket.state {
            // Only a completed payment with this key may be replayed on an ended token.
            guard let key, let stored = try await self.payments.replay(userID: userID, reservationID: body.reservationId, idempotencyKey: key) else {
                throw ApiError.tokenExpired
            }
            return Responses.stored(stored)
        }
        return Responses.stored(try await self.payments.pay(ticket: ticket, reservationID: body.reservationId, idempotencyKey: key))
    }
}
