import BoxOfficeDomain
import Hummingbird

/// `/v1/admin/`: operators create concerts and dates, steer a concert's queue and read its figures.
struct AdminController {
    let administration: ConcertAdministration
    let queue: QueueService
    let presales: PresaleService
    /// Reloaded after a concert is created, so this instance knows it at once (others within a second).
    let adminToken: String?

    struct NewConcert: Decodable { let title: String; let artist: String }
    struct NewPresale: Decodable { let registrationClosesAt: String; let saleOpensAt: String; let saleClosesAt: String; let winners: Int }
    struct Registered: Encodable { let userIds: [String] }
    struct Arrivals: Encodable { let arrivals: [EarlyArrival] }
    struct NewDate: Decodable { let date: String; let prices: [Int]?; let tiers: [SeatPrices.Tier]? }
    struct DateCreated: Encodable { let concertId: Int; let date: String; let seats: Int }
    struct Stats: Encodable {
        let concertId: Int
        let waiting: Int
        let active: Int
        let admittedPerSecond: Double
        let estimatedDrainSeconds: Int?
        let held: Int
        let sold: Int
        let available: Int
        let revenue: Int

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(self.concertId, forKey: .concertId)
            try container.encode(self.waiting, forKey: .waiting)
            try container.encode(self.active, forKey: .active)
            try container.encode((self.admittedPerSecond * 10).rounded() / 10, forKey: .admittedPerSecond)
            try container.encode(self.estimatedDrainSeconds, forKey: .estimatedDrainSeconds)  // null while the line is paused or not open yet
            try container.encode(self.held, forKey: .held)
            try container.encode(self.sold, forKey: .sold)
            try container.encode(self.available, forKey: .available)
            try container.encode(self.revenue, forKey: .revenue)
        }

        enum CodingKeys: String, CodingKey {
            case concertId, waiting, active, admittedPerSecond, estimatedDrainSeconds, held, sold, available, revenue
        }
    }

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        let concerts = group.add(middleware: AdminTokenMiddleware(adminToken: self.adminToken)).group("concerts")
        concerts.post(use: self.createConcert)
        concerts.post(":concertId/dates", use: self.addDate)
        concerts.get(":concertId/queue", use: self.queueSettings)
        concerts.patch(":concertId/queue", use: self.updateQueueSettings)
        concerts.get(":concertId/stats", use: self.stats)
        concerts.post(":concertId/presale", use: self.createPresale)
        concerts.post(":concertId/presale/draw", use: self.drawPresale)
        concerts.get(":concertId/presale/registrations", use: self.presaleRegistrations)
        concerts.get(":concertId/opening/arrivals", use: self.earlyArrivals)
    }

    /// Who arrived before the committed opening and when each was admitted: with the revealed seed,
    /// what anyone needs to check the opening's order.
    @Sendable func earlyArrivals(request: Request, context: AppRequestContext) async throws -> Response {
        try context.json(Arrivals(arrivals: try await self.queue.earlyArrivals(concertID: try context.parameters.concertID())))
    }

    @Sendable func createPresale(request: Request, context: AppRequestContext) async throws -> Response {
        let concertID = try context.parameters.concertID()
        let body = try await request.decodeJSON(NewPresale.self, context: context)
        let presale = try await self.presales.create(
            concertID: concertID, registrationClosesAt: body.registrationClosesAt, saleOpensAt: body.saleOpensAt,
            saleClosesAt: body.saleClosesAt, winners: body.winners)
        return try context.json(PresaleView(presale), status: .created)
    }

    /// The draw, once, after registration has closed: the seed is revealed with the result.
    @Sendable func drawPresale(request: Request, context: AppRequestContext) async throws -> Response {
        try context.json(PresaleView(try await self.presales.draw(concertID: try context.parameters.concertID())))
    }

    /// Every registered user id: with the revealed seed, what anyone needs to recompute the draw.
    @Sendable func presaleRegistrations(request: Request, context: AppRequestContext) async throws -> Response {
        try context.json(Registered(userIds: try await self.presales.registrations(concertID: try context.parameters.concertID())))
    }

    @Sendable func createConcert(request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(NewConcert.self, context: context)
        let concert = try await self.administration.createConcert(title: body.title, artist: body.artist)
        return try context.json(concert, status: .created)
    }

    @Sendable func addDate(request: Request, context: AppRequestContext) async throws -> Response {
        let concertID = try context.parameters.concertID()
        let body = try await request.decodeJSON(NewDate.self, context: context)
        try await self.administration.addDate(concertID: concertID, date: body.date, prices: body.prices, tiers: body.tiers)
        return try context.json(DateCreated(concertId: concertID, date: CalendarDate.parse(body.date)!, seats: SeatPrices.seats), status: .created)
    }

    @Sendable func queueSettings(request: Request, context: AppRequestContext) async throws -> Response {
        try context.json(try await self.queue.queueSettings(concertID: try context.parameters.concertID()))
    }

    @Sendable func updateQueueSettings(request: Request, context: AppRequestContext) async throws -> Response {
        let concertID = try context.parameters.concertID()
        let patch = try await request.decodeJSON(QueueSettingsPatch.self, context: context)
        return try context.json(try await self.queue.updateQueueSettings(concertID: concertID, patch: patch))
    }

    @Sendable func stats(request: Request, context: AppRequestContext) async throws -> Response {
        let concertID = try context.parameters.concertID()
        // PostgreSQL and Redis at once.
        async let sales = self.administration.salesFigures(concertID: concertID)
        async let line = self.queue.queueFigures(concertID: concertID)
        let (figures, queue) = try await (sales, line)
        return try context.json(Stats(
            concertId: concertID, waiting: queue.waiting, active: queue.active, admittedPerSecond: queue.admittedPerSecond,
            estimatedDrainSeconds: queue.estimatedDrainSeconds, held: figures.held, sold: figures.sold, available: figures.available,
            revenue: figures.revenue))
    }
}
