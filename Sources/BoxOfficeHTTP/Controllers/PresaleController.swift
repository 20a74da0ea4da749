import BoxOfficeDomain
import Foundation
import Hummingbird

/// The presale shape of the API: times as RFC 3339, the seed null until the draw.
struct PresaleView: Encodable {
    let concertId: Int
    let registrationClosesAt: String
    let saleOpensAt: String
    let saleClosesAt: String
    let winners: Int
    let registered: Int
    let seedCommitment: String
    let seed: String?
    let drawnAt: String?

    init(_ presale: Presale) {
        self.concertId = presale.concertID
        self.registrationClosesAt = Timestamp.format(presale.registrationClosesAt)
        self.saleOpensAt = Timestamp.format(presale.saleOpensAt)
        self.saleClosesAt = Timestamp.format(presale.saleClosesAt)
        self.winners = presale.winners
        self.registered = presale.registered
        self.seedCommitment = presale.seedCommitment
        self.seed = presale.seed
        self.drawnAt = presale.drawnAt.map(Timestamp.format)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.concertId, forKey: .concertId)
        try container.encode(self.registrationClosesAt, forKey: .registrationClosesAt)
        try container.encode(self.saleOpensAt, forKey: .saleOpensAt)
        try container.encode(self.saleClosesAt, forKey: .saleClosesAt)
        try container.encode(self.winners, forKey: .winners)
        try container.encode(self.registered, forKey: .registered)
        try container.encode(self.seedCommitment, forKey: .seedCommitment)
        try container.encode(self.seed, forKey: .seed)  // null, not absent
        try container.encode(self.drawnAt, forKey: .drawnAt)
    }

    enum CodingKeys: String, CodingKey {
        case concertId, registrationClosesAt, saleOpensAt, saleClosesAt, winners, registered, seedCommitment, seed, drawnAt
    }
}

/// The public side of the verifiable draws: a presale (`GET /v1/concerts/{id}/presale`, registering,
/// the result) and a scheduled opening's commitment (`GET /v1/concerts/{id}/opening`). The
/// operator's side is in AdminController.
struct PresaleController {
    let presales: PresaleService
    let queue: QueueService
    /// nil in demo mode: the body's (or path's) userId is trusted.
    let userAssertions: UserAssertionVerifier?

    struct Registration: Decodable { let userId: String? }
    struct Entry: Encodable {
        let status: String
        let code: String?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(self.status, forKey: .status)
            try container.encode(self.code, forKey: .code)  // null, not absent
        }

        enum CodingKeys: String, CodingKey { case status, code }
    }

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get(":concertId/presale", use: self.presale)
        group.get(":concertId/opening", use: self.opening)
        group.post(":concertId/presale/registrations", use: self.register)
        group.get(":concertId/presale/registrations/:userId", use: self.entry)
    }

    @Sendable func presale(request: Request, context: AppRequestContext) async throws -> Response {
        try context.json(PresaleView(try await self.presales.presale(concertID: try context.parameters.concertID())))
    }

    @Sendable func opening(request: Request, context: AppRequestContext) async throws -> Response {
        try context.json(try await self.queue.openingCommitment(concertID: try context.parameters.concertID()))
    }

    @Sendable func register(request: Request, context: AppRequestContext) async throws -> Response {
        let concertID = try context.parameters.concertID()
        let body = try await request.decodeJSON(Registration.self, context: context)
        let user = try await self.userAssertions.fan(request, claimed: body.userId)
        let isNew = try await self.presales.register(concertID: concertID, user: user)
        let entry = try await self.presales.entry(concertID: concertID, user: user)
        return try context.json(Entry(status: entry.status.rawValue, code: entry.code), status: isNew ? .created : .ok)
    }

    @Sendable func entry(request: Request, context: AppRequestContext) async throws -> Response {
        let concertID = try context.parameters.concertID()
        let user = try await self.userAssertions.fan(request, claimed: context.parameters.get("userId"))
        let entry = try await self.presales.entry(concertID: concertID, user: user)
        return try context.json(Entry(status: entry.status.rawValue, code: entry.code))
    }
}
