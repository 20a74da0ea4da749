import BoxOfficeDomain
import Hummingbird

/// GET /v1/concerts (public) and the dates and seat maps (ACTIVE token for that concert).
struct CatalogController {
    let catalog: CatalogService
    let queue: QueueService

    struct ConcertList: Encodable { let concerts: [Concert] }
    struct DateList: Encodable { let concertId: Int; let dates: [DateAvailability] }
    struct SeatMap: Encodable { let concertId: Int; let date: String; let seats: [SeatView] }

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get(use: self.concerts)
        group.ticketGroup(":concertId/dates", queue: self.queue, .active)
            .get(use: self.dates)
            .get(":date/seats", use: self.seats)
    }

    @Sendable func concerts(request: Request, context: AppRequestContext) async throws -> Response {
        try context.json(ConcertList(concerts: try await self.catalog.concerts()))
    }

    @Sendable func dates(request: Request, context: TicketRequestContext) async throws -> Response {
        let concertID = try context.parameters.concertID()
        try context.requireConcert(concertID)
        return try context.json(DateList(concertId: concertID, dates: try await self.catalog.dates(concertID: concertID)))
    }

    @Sendable func seats(request: Request, context: TicketRequestContext) async throws -> Response {
        let concertID = try context.parameters.concertID()
        try context.requireConcert(concertID)
        let date = try context.parameters.calendarDate()
        return try context.json(SeatMap(concertId: concertID, date: date, seats: try await self.catalog.seats(concertID: concertID, date: date)))
    }
}
