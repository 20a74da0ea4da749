import BoxOfficeDomain
import Foundation
import HiredisClient

/// The lines in Redis (QueueKeys has the layout): each call that changes a line is one Lua script
/// (QueueScripts, called through its typed call in QueueScriptCalls), so it is atomic on the
/// line's slot; the operator's reads are plain commands.
public struct RedisQueueStore: QueueStore {
    let redis: RedisClient
    /// The concerts the promoter ticks.
    let lines: LiveLines

    public init(redis: RedisClient) {
        self.redis = redis
        self.lines = LiveLines(redis: redis)
    }

    public func settings(concertID: Int) async throws -> [String: String] {
        let names = QueueShardPlan.fieldNames
        let reply = try await self.redis.send(["HMGET", RedisArgument(QueueKeys(concertID: concertID).settings)] + names.map { RedisArgument($0) })
            .checked()
        let values = reply.array ?? []
        var settings: [String: String] = [:]
        for (name, value) in zip(names, values) { settings[name] = value.string }
        return settings
    }

    public func writeSettings(concertID: Int, set: [(String, String)], delete: [String], refuseIfArrivedWhileOpen: Bool) async throws
        -> QueueSettingsWrite
    {
        try await self.redis.call(
            QueueWriteSettingsCall(concertID: concertID, set: set, delete: delete, refuseIfArrivedWhileOpen: refuseIfArrivedWhileOpen))
    }

    public func forgetShardsBefore(concertID: Int, changedAt: Int) async throws {
        try await self.redis.call(QueueShardsDrainedCall(concertID: concertID, changedAt: changedAt))
    }

    public func issue(_ request: QueueIssueRequest) async throws -> QueueIssueOutcome {
        try await self.redis.call(QueueIssueCall(request))
    }

    public func look(token: String, line: QueueLineID, touch: Bool, opening: Int?, capacity: Int, stream: (id: String, claim: Bool)?)
        async throws -> QueueLook
    {
        try await self.redis.call(
            QueueStatusCall(keys: QueueKeys(line), token: token, touch: touch, opening: opening, capacity: capacity, stream: stream))
    }

    public func extend(token: String, line: QueueLineID, milliseconds: Int) async throws -> WindowExtension? {
        try await self.redis.call(QueueExtendCall(keys: QueueKeys(line), token: token, milliseconds: milliseconds))
    }

    public func giveBack(_ extension: WindowExtension, token: String, line: QueueLineID) async throws {
        try await self.redis.call(QueueGiveBackCall(keys: QueueKeys(line), token: token, extension: `extension`))
    }

    public func end(token: String, line: QueueLineID, endedTokenSeconds: Int) async throws {
        try await self.redis.call(QueueEndCall(keys: QueueKeys(line), token: token, endedTokenSeconds: endedTokenSeconds))
    }

    public func promote(line: QueueLineID, _ request: QueuePromoteRequest) async throws -> QueuePromoteTick {
        try await self.redis.call(QueuePromoteCall(keys: QueueKeys(line), request))
    }

    public func figures(line: QueueLineID, capacity: Int) async throws -> QueueLineFigures {
        try await self.redis.call(QueueLineCall(keys: QueueKeys(line), capacity: capacity))
    }

    public func snapshot(line: QueueLineID, _ request: QueueSnapshotRequest) async throws -> SnapshotRead {
        try await self.redis.call(QueueSnapshotCall(keys: QueueKeys(line), request))
    }

    /// One `SET NX PX`, which decides across instances.
    public func claimChallenge(concertID: Int, id: String, milliseconds: Int) async throws -> Bool {
        let reply = try await self.redis.send([
            "SET", RedisArgument(QueueKeys(concertID: concertID).usedChallenge(id)), "1", "NX", "PX", RedisArgument(milliseconds),
        ]).checked()
        return !reply.isNull
    }

    public func arrivedWhileOpen(line: QueueLineID) async throws -> Int {
        try await self.redis.send(["ZCOUNT", RedisArgument(QueueKeys(line).waiting), "1", "+inf"]).checked().int ?? 0
    }

    /// The promote script records the last admission in the line's meta hash (`lastAdmit`, ms).
    public func health(line: QueueLineID) async throws -> (waiting: Int, lastAdmission: Date?) {
        let keys = QueueKeys(line)
        let waiting = try await self.redis.send(["ZCARD", RedisArgument(keys.waiting)]).checked().int ?? 0
        let last = try await self.redis.send(["HGET", RedisArgument(keys.meta), "lastAdmit"]).checked().string.flatMap(Double.init)
        return (waiting, last.map { Date(timeIntervalSince1970: $0 / 1000) })
    }

    /// Reads the line's token and admission records whole: an operator's call, not a fan's.
    public func tokenRecords(line: QueueLineID) async throws -> [QueueTokenRecord] {
        let keys = QueueKeys(line)
        let tokens = try await self.redis.send(["HGETALL", RedisArgument(keys.tokens)]).checked().array ?? []
        let admissions = try await self.redis.send(["HGETALL", RedisArgument(keys.admissions)]).checked().array ?? []
        var admitted: [String: Int] = [:]
        for index in stride(from: 0, to: admissions.count - 1, by: 2) {
            // An admission's record: "admitted-ms admittedUntil-ms".
            guard let token = admissions[index].string, let record = admissions[index + 1].string else { continue }
            admitted[token] = record.split(separator: " ").first.flatMap { Int($0) }
        }
        return stride(from: 0, to: tokens.count - 1, by: 2).compactMap { index in
            // A token's record: "user arrival-sequence issued-ms".
            guard let token = tokens[index].string, let fields = tokens[index + 1].string?.split(separator: " "), fields.count == 3,
                let issued = Int(fields[2])
            else { return nil }
            return QueueTokenRecord(token: token, user: String(fields[0]), issuedMilliseconds: issued, admittedMilliseconds: admitted[token])
        }
    }

    public func registerLiveLine(concertID: Int) async throws {
        try await self.lines.register(concertID: concertID)
    }

    public func liveLines() async throws -> [LiveLine] {
        try await self.lines.all()
    }

    @discardableResult
    public func retireLiveLine(_ line: LiveLine) async throws -> Bool {
        try await self.lines.retire(concertID: line.concertID, registrations: line.registrations)
    }
}
