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
            guard container.contains(.amount) else { throw ApiError.invalidRequest("Missing field 'amount'.") }
            if let amount = try? container.decode(Int.self, forKey: .amount) {
                self.amount = amount
            } else {
                throw ApiError.invalidAmount("The amount must be a positive integer number of won.")
            }
        }

        enum CodingKeys: String, CodingKey { case amount }
    }

    struct History: Encodable { let entries: [LedgerEntry] }

    var endpoints: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .add(middleware: QueueTokenMiddleware(queue: self.queue, requirement: .live))
            .get(use: self.balance)
            .post("charge", use: self.charge)
            .get("history", use: self.history)
    }

    @Sendable func balance(request: Request, context: AppRequestContext) async throws -> Response {
        try Responses.json(try await self.balances.balance(userID: try context.requireUser()))
    }

    @Sendable func charge(request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(ChargeRequest.self, context: context)
        return Responses.stored(
            try await self.balances.charge(
                userID: try context.requireUser(), amount: body.amount, idempotencyKey: request.headers[.idempotencyKey]
            )
        )
    }

    @Sendable func history(request: Request, context: AppRequestContext) async throws -> Response {
        var limit = 50
        if let text = request.uri.queryParameters.get("limit") {
            guard let value = Int(text), (1...200).contains(value) else {
                throw ApiError.invalidRequest("limit must be an integer from 1 to 200.")
            }
            limit = value
        }
        return try Responses.json(History(entries: try await self.balances.history(userID: try context.requireUser(), limit: limit)))
    }
}
