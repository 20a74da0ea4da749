import BoxOfficeDomain
import Foundation
import HiredisClient

/// Events to a Redis stream (`EVENTS_STREAM`), one entry per event in outbox order, capped near
/// `EVENTS_STREAM_MAXLEN` entries (XADD MAXLEN ~). Entry fields: `id` (the event id consumers
/// deduplicate on), `type`, `createdAt`, `data` (JSON). One key, so it works alike on one Redis and
/// on a cluster. Read it with XREAD, or XREADGROUP for consumer groups (Docs/operations.md).
public struct RedisStreamPublisher: EventPublisher {
    let redis: RedisClient
    let stream: String
    let maxLength: Int

    public init(redis: RedisClient, stream: String, maxLength: Int) {
        self.redis = redis
        self.stream = stream
        self.maxLength = maxLength
    }

    public func publish(_ events: [OutboxEvent]) async throws {
        let commands: [[RedisArgument]] = events.map { event in
            [
                "XADD", RedisArgument(self.stream), "MAXLEN", "~", RedisArgument(self.maxLength), "*",
                "id", RedisArgument(event.eventID), "type", RedisArgument(event.type),
                "createdAt", RedisArgument(Timestamp.format(event.createdAt)), "data", RedisArgument(event.data),
            ]
        }
        for reply in try await self.redis.pipeline(commands) { _ = try reply.checked() }
    }
}
