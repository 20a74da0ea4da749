import BoxOfficeDomain
import Hummingbird

/// GET /v1/concerts (public) and the dates and seat maps (ACTIVE token for that concert).
struct CatalogController {
    let catalog: CatalogService
    let queue: QueueService

    struct ConcertList: Encodable { let concerts: [Concert] }
    struct DateList: Encodable { let concertId: Int; let dates: [DateAvailability] }
    struct SeatMap: Encodable { let concertId: Int; let date: String; let seats: [SeatView] }

    var endpoints: RouteCollection<AppRequestContext> {
        let protected = RouteCollection(context: AppRequestContext.self)
            .add(middleware: QueueTokenMiddleware(queue: self.queue, requirement: .active))
            .get(":concertId/dates", use: self.dates)
            .get(":concertId/dates/:date/seats", use: self.seats)
        let routes = RouteCollection(context: AppRequestContext.self)
            .get(use: self.concerts)
        routes.addRoutes(protected)
        return routes
    }

    @Sendable func concerts(request: Request, context: AppRequestContext) async throws -> Response {
        try Responses.json(ConcertList(concerts: try await self.catalog.concerts()))
    }

    @Sendable func dates(request: Request, context: AppRequestContext) async throws -> Response {
        let concertID = try context.parameters.concertID()
        _ = try context.requireTicket(forConcert: concertID)
        return try Responses.json(DateList(concertId: concertID, dates: try await self.catalog.dates(concertID: concertID)))
    }

    @Sendable func seats(request: Request, context: AppRequestContext) async throws -> Response {
        let concertID = try context.parameters.concertID()
        _ = try context.requireTicket(forConcert: concertID)
        guard let date = context.parameters.get("date").flatMap(CalendarDate.parse) else {
            throw ApiError.invalidRequest("The date must be a calendar date written YYYY-MM-DD.")
        }
        return try Responses.json(SeatMap(concertId: concertID, date: date, seats: try await self.catalog.seats(concertID: concertID, date: date)))
    }
}
