import BoxOfficeDomain
import Hummingbird

/// `/v1/admin/webhooks` and `/v1/admin/events/{eventId}/redeliver`: operators register endpoints,
/// read their delivery log and send an event again.
struct WebhookController {
    let webhooks: WebhookService
    let adminToken: String?

    struct NewEndpoint: Decodable { let url: String; let events: [String] }

    struct EndpointView: Encodable {
        let id: String
        let url: String
        let events: [String]
        let enabled: Bool
        let disabledReason: String?
        let createdAt: String
        /// Only in the answer to the registration.
        let secret: String?

        init(_ endpoint: WebhookEndpoint, secret: String? = nil) {
            self.id = endpoint.id
            self.url = endpoint.url
            self.events = endpoint.events
            self.enabled = endpoint.enabled
            self.disabledReason = endpoint.disabledReason
            self.createdAt = Timestamp.format(endpoint.createdAt)
            self.secret = secret
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(self.id, forKey: .id)
            try container.encode(self.url, forKey: .url)
            try container.encode(self.events, forKey: .events)
            try container.encode(self.enabled, forKey: .enabled)
            try container.encode(self.disabledReason, forKey: .disabledReason)
            try container.encode(self.createdAt, forKey: .createdAt)
            try container.encodeIfPresent(self.secret, forKey: .secret)
        }

        enum CodingKeys: String, CodingKey { case id, url, events, enabled, disabledReason, createdAt, secret }
    }

    struct Endpoints: Encodable { let webhooks: [EndpointView] }

    struct AttemptView: Encodable {
        let eventId: String
        let type: String
        let attempt: Int
        let attemptedAt: String
        let httpStatus: Int?
        let error: String?
        let durationMs: Int
        let nextAttemptAt: String?

        init(_ attempt: WebhookAttempt) {
            self.eventId = attempt.eventID
            self.type = attempt.type
            self.attempt = attempt.attempt
            self.attemptedAt = Timestamp.format(attempt.attemptedAt)
            self.httpStatus = attempt.httpStatus
            self.error = attempt.error
            self.durationMs = attempt.durationMilliseconds
            self.nextAttemptAt = attempt.nextAttemptAt.map(Timestamp.format)
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(self.eventId, forKey: .eventId)
            try container.encode(self.type, forKey: .type)
            try container.encode(self.attempt, forKey: .attempt)
            try container.encode(self.attemptedAt, forKey: .attemptedAt)
            try container.encode(self.httpStatus, forKey: .httpStatus)
            try container.encode(self.error, forKey: .error)
            try container.encode(self.durationMs, forKey: .durationMs)
            try container.encode(self.nextAttemptAt, forKey: .nextAttemptAt)
        }

        enum CodingKeys: String, CodingKey { case eventId, type, attempt, attemptedAt, httpStatus, error, durationMs, nextAttemptAt }
    }

    struct Attempts: Encodable { let deliveries: [AttemptView] }
    struct Redelivery: Encodable { let eventId: String; let deliveries: Int }

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        let admin = group.add(middleware: AdminTokenMiddleware(adminToken: self.adminToken))
        admin.post("webhooks", use: self.register)
        admin.get("webhooks", use: self.list)
        admin.delete("webhooks/:webhookId", use: self.delete)
        admin.get("webhooks/:webhookId/deliveries", use: self.deliveries)
        admin.post("events/:eventId/redeliver", use: self.redeliver)
    }

    @Sendable func register(request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(NewEndpoint.self, context: context)
        let (endpoint, secret) = try await self.webhooks.register(url: body.url, events: body.events)
        return try context.json(EndpointView(endpoint, secret: secret), status: .created)
    }

    @Sendable func list(request: Request, context: AppRequestContext) async throws -> Response {
        try context.json(Endpoints(webhooks: try await self.webhooks.list().map { EndpointView($0) }))
    }

    @Sendable func delete(request: Request, context: AppRequestContext) async throws -> Response {
        try await self.webhooks.delete(id: context.parameters.get("webhookId") ?? "")
        return Response(status: .noContent)
    }

    @Sendable func deliveries(request: Request, context: AppRequestContext) async throws -> Response {
        let limitText = request.uri.queryParameters.get("limit") ?? "50"
        guard let limit = Int(limitText) else { throw BoxOfficeError.invalidRequest("limit must be between 1 and 500.") }
        let attempts = try await self.webhooks.attempts(endpointID: context.parameters.get("webhookId") ?? "", limit: limit)
        return try context.json(Attempts(deliveries: attempts.map(AttemptView.init)))
    }

    @Sendable func redeliver(request: Request, context: AppRequestContext) async throws -> Response {
        let eventID = context.parameters.get("eventId") ?? ""
        let queued = try await self.webhooks.redeliver(eventID: eventID)
        return try context.json(Redelivery(eventId: eventID, deliveries: queued), status: .accepted)
    }
}
