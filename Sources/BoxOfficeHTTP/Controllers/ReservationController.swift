import BoxOfficeDomain
import Hummingbird

/// POST /v1/reservations (ACTIVE), GET and DELETE /v1/reservations/{id} (owner, live token).
struct ReservationController {
    let reservations: ReservationService
    let queue: QueueService

    struct HoldRequest: Decodable {
        let concertId: Int
        let date: String
        let seatNumbers: [Int]
    }

    var endpoints: RouteCollection<AppRequestContext> {
        let hold = RouteCollection(context: AppRequestContext.self)
            .add(middleware: QueueTokenMiddleware(queue: self.queue, requirement: .active))
            .post(use: self.hold)
        let routes = RouteCollection(context: AppRequestContext.self)
            .add(middleware: QueueTokenMiddleware(queue: self.queue, requirement: .live))
            .get(":reservationId", use: self.get)
            .delete(":reservationId", use: self.cancel)
        routes.addRoutes(hold)
        return routes
    }

    @Sendable func hold(request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(HoldRequest.self, context: context)
        let ticket = try context.requireTicket(forConcert: body.concertId)
        guard let date = CalendarDate.parse(body.date) else {
            throw ApiError.invalidRequest("The date must be a calendar date written YYYY-MM-DD.")
        }
        let reservation = try await self.reservations.hold(
            userID: try context.requireUser(), token: ticket.token, concertID: body.concertId, date: date, seatNumbers: body.seatNumbers
        )
        return try Responses.json(reservation, status: .created)
    }

    @Sendable func get(request: Request, context: AppRequestContext) async throws -> Response {
        let id = context.parameters.get("reservationId") ?? ""
        return try Responses.json(try await self.reservations.reservation(id: id, userID: try context.requireUser()))
    }

    @Sendable func cancel(request: Request, context: AppRequestContext) async throws -> Response {
        let id = context.parameters.get("reservationId") ?? ""
        return try Responses.json(try await self.reservations.cancel(id: id, userID: try context.requireUser()))
    }
}
