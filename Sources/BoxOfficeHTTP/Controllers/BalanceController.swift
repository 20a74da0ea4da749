import BoxOfficeDomain
import HTTPTypes
import Hummingbird

/// GET /v1/balance, POST /v1/balance/charge, GET /v1/balance/history (any live token).
struct BalanceController {
    let balances: BalanceService
    let queue: QueueService

    /// `amount` is decoded leniently so a non-integer answers INVALID_AMOUNT, as the contract says,
    /// rather than the generic INVALID_REQUEST for wrong types.
    struct ChargeRequest: Decodable {
        let amount: Int

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            guard container.contains(.amount) else { throw BoxOfficeError.invalidRequest("Missing field 'amount'.") }
            guard let amount = try? container.decode(Int.self, forKey: .amount) else {
                throw BoxOfficeError.invalidAmount("The amount must be a positive integer number of won.")
            }
            self.amount = amount
        }

        enum CodingKeys: String, CodingKey { case amount }
    }

    struct History: Encodable { let entries: [LedgerEntry] }

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.ticketGroup(queue: self.queue, .live)
            .get(use: self.balance)
            .post("charge", use: self.charge)
            .get("history", use: self.history)
    }

    @Sendable func balance(request: Request, context: TicketRequestContext) async throws -> Response {
        try context.json(try await self.balances.balance(userID: context.userID))
    }

    @Sendable func charge(request: Request, context: TicketRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(ChargeRequest.self, context: context)
        return try context.json(
            try await self.balances.charge(userID: context.userID, amount: body.amount, idempotencyKey: request.headers[.idempotencyKey])
        )
    }

    @Sendable func history(request: Request, context: TicketRequestContext) async throws -> Response {
        var limit = 50
        if let text = request.uri.queryParameters.get("limit") {
            guard let value = Int(text), (1...200).contains(value) else {
                throw BoxOfficeError.invalidRequest("limit must be an integer from 1 to 200.")
            }
            limit = value
        }
        return try context.json(History(entries: try await self.balances.history(userID: context.userID, limit: limit)))
    }
}
