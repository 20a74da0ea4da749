import BoxOfficeDomain
import Hummingbird

/// POST /v1/reservations (ACTIVE), GET /v1/reservations and GET and DELETE /v1/reservations/{id}
/// (owner, live token). Sibling groups, so that each request passes exactly one token check.
struct ReservationController {
    let reservations: ReservationService
    let queue: QueueService

    struct HoldBody: Decodable {
        let concertId: Int
        let date: String
        let seatNumbers: [Int]
    }

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.ticketGroup(queue: self.queue, .active)
            .post(use: self.hold)
        group.ticketGroup(queue: self.queue, .live)
            .get(use: self.list)
        group.ticketGroup(":reservationId", queue: self.queue, .live)
            .get(use: self.get)
            .delete(use: self.cancel)
    }

    @Sendable func hold(request: Request, context: TicketRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(HoldBody.self, context: context)
        try context.requireConcert(body.concertId)
        guard let date = CalendarDate.parse(body.date) else { throw CalendarDate.invalid }
        let reservation = try await self.reservations.hold(
            ticket: context.ticket, date: date, seatNumbers: body.seatNumbers, idempotencyKey: request.headers[.idempotencyKey])
        return try context.json(reservation, status: .created)
    }

    struct ReservationList: Encodable {
        let reservations: [Reservation]
    }

    @Sendable func list(request: Request, context: TicketRequestContext) async throws -> Response {
        let reservations = try await self.reservations.reservations(userID: context.userID, concertID: context.ticket.concertID)
        return try context.json(ReservationList(reservations: reservations))
    }

    @Sendable func get(request: Request, context: TicketRequestContext) async throws -> Response {
        let id = context.parameters.get("reservationId") ?? ""
        return try context.json(try await self.reservations.reservation(id: id, userID: context.userID))
    }

    @Sendable func cancel(request: Request, context: TicketRequestContext) async throws -> Response {
        let id = context.parameters.get("reservationId") ?? ""
        return try context.json(try await self.reservations.cancel(id: id, userID: context.userID))
    }
}
