import Foundation

/// A scheduled opening's commitment as the public sees it: the SHA-256 of the seed from the moment
/// the opening is scheduled through the admin API, the seed itself once the opening has passed.
public struct OpeningCommitment: Sendable, Equatable, Codable {
    public var concertId: Int
    /// The opening the seed was committed for; null when none was.
    public var opensAt: String?
    public var seedCommitment: String?
    /// Revealed at the opening; null before.
    public var seed: String?

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.concertId, forKey: .concertId)
        try container.encode(self.opensAt, forKey: .opensAt)  // null, not absent
        try container.encode(self.seedCommitment, forKey: .seedCommitment)
        try container.encode(self.seed, forKey: .seed)
    }
}

/// Someone who arrived before a committed opening, and when they were admitted (ms; nil: not yet).
public struct EarlyArrival: Sendable, Equatable, Codable {
    public var userId: String
    public var shard: Int
    public var admittedAt: Int?

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.userId, forKey: .userId)
        try container.encode(self.shard, forKey: .shard)
        try container.encode(self.admittedAt, forKey: .admittedAt)  // null, not absent
    }
}

extension QueueService {
    public func openingCommitment(concertID: Int) async throws -> OpeningCommitment {
        guard concertID > 0, try await self.concerts.exists(concertID) else { throw BoxOfficeError.concertNotFound }
        let plan = try await self.plans.plan(concertID: concertID, fresh: true)
        guard let opening = plan.openingSeedFor, plan.openingCommitment != nil else {
            return OpeningCommitment(concertId: concertID, opensAt: nil, seedCommitment: nil, seed: nil)
        }
        let revealed = opening <= Self.nowMilliseconds()
        return OpeningCommitment(
            concertId: concertID, opensAt: Timestamp.format(Date(timeIntervalSince1970: Double(opening) / 1000)),
            seedCommitment: plan.openingCommitment, seed: revealed ? plan.openingSeedField : nil)
    }

    /// Everyone whose token was issued before the committed opening and whose record is still kept
    /// (records of ended tokens go after ENDED_TOKEN_SECONDS), with their shard and admission time:
    /// with the revealed seed, what an auditor needs to check the order (scripts/verify-draw.py).
    /// Reads each shard's token and admission records whole: an operator's call, not a fan's.
    public func earlyArrivals(concertID: Int) async throws -> [EarlyArrival] {
        guard concertID > 0, try await self.concerts.exists(concertID) else { throw BoxOfficeError.concertNotFound }
        let plan = try await self.plans.plan(concertID: concertID, fresh: true)
        guard let opening = plan.openingSeedFor else { return [] }
        var arrivals: [EarlyArrival] = []
        for shard in 0..<plan.tickedShards {
            for record in try await self.store.tokenRecords(line: QueueLineID(concertID: concertID, shard: shard))
            where record.issuedMilliseconds < opening {
                arrivals.append(EarlyArrival(userId: record.user, shard: shard, admittedAt: record.admittedMilliseconds))
            }
        }
        return arrivals.sorted { ($0.admittedAt ?? .max, $0.userId) < ($1.admittedAt ?? .max, $1.userId) }
    }
}
