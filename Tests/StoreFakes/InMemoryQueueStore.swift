import BoxOfficeDomain
import Foundation
import NIOConcurrencyHelpers

/// The lines in memory, on a clock the test moves: a plain model of what the Redis scripts do
/// (FIFO by place, a cap, admission by banked credit up to the capacity, idle drops, window ends),
/// so QueueService's own rules run without a server and without waiting. The real scripts are
/// tested against Redis by the integration suites; poll snapshots are not modelled here.
package final class InMemoryQueueStore: QueueStore {
    package struct Line {
        package var sequence = 0
        package var waiting: [String: Double] = [:]
        package var seen: [String: Int] = [:]
        package var active: [String: Int] = [:]
        /// token -> (user, issued ms)
        package var tokens: [String: (user: String, issued: Int)] = [:]
        package var users: [String: String] = [:]
        package var admissions: [String: Int] = [:]
        package var streams: [String: String] = [:]
        package var lastTick = 0
        package var credit = 0.0
        package var lastAdmission: Int?

        package var ordered: [String] { self.waiting.sorted { ($0.value, $0.key) < ($1.value, $1.key) }.map(\.key) }
    }

    package struct State {
        package var now: Int
        package var lines: [QueueLineID: Line] = [:]
        package var settings: [Int: [String: String]] = [:]
        package var challenges: Set<String> = []
        package var live: [Int: Int] = [:]
        /// Every call, by name, in order.
        package var calls: [String] = []
    }

    package let state: NIOLockedValueBox<State>

    package init(now: Int = Int(Date().timeIntervalSince1970 * 1000)) {
        self.state = NIOLockedValueBox(State(now: now))
    }

    package func advance(milliseconds: Int) { self.state.withLockedValue { $0.now += milliseconds } }
    package var calls: [String] { self.state.withLockedValue(\.calls) }
    package func set(concertID: Int, _ fields: [String: String]) {
        self.state.withLockedValue { $0.settings[concertID, default: [:]].merge(fields) { $1 } }
    }

    private func with<Result>(_ call: String, _ body: (inout State) throws -> Result) rethrows -> Result {
        try self.state.withLockedValue { state in
            state.calls.append(call)
            return try body(&state)
        }
    }

    /// The opening a call applies: a shard's from its caller, one line's from the settings.
    private static func opensAt(_ opening: Int?, concertID: Int, state: State) -> Int {
        let opensAt = opening ?? state.settings[concertID]?["opensAt"].flatMap { Int($0) } ?? 0
        return opensAt > state.now ? opensAt : 0
    }

    private static func describe(_ token: String, line: Line, opensAt: Int, now: Int) -> TokenDescription {
        guard let record = line.tokens[token] else {
            return TokenDescription(state: .unknown, user: "", rank: 0, place: nil, activeUntil: 0, opensAt: 0, inputs: nil)
        }
        if let place = line.waiting[token] {
            let rank = line.waiting.values.filter { $0 < place }.count + 1
            let inputs = LineInputs(
                now: now, lastTick: line.lastTick, banked: line.credit, active: line.active.count, slotEnd: 0, meanHoldMilliseconds: nil)
            return TokenDescription(
                state: .waiting, user: record.user, rank: rank, place: place, activeUntil: 0, opensAt: opensAt, inputs: opensAt > 0 ? nil : inputs)
        }
        if let until = line.active[token], until > now {
            return TokenDescription(state: .active, user: record.user, rank: 0, place: nil, activeUntil: until, opensAt: 0, inputs: nil)
        }
        return TokenDescription(state: .ended, user: record.user, rank: 0, place: nil, activeUntil: 0, opensAt: 0, inputs: nil)
    }

    package func settings(concertID: Int) async throws -> [String: String] {
        self.with("settings") { $0.settings[concertID] ?? [:] }
    }

    package func writeSettings(concertID: Int, set: [(String, String)], delete: [String], refuseIfArrivedWhileOpen: Bool) async throws
        -> QueueSettingsWrite
    {
        self.with("writeSettings") { state in
            let arrived = state.lines[QueueLineID(concertID: concertID, shard: 0)]?.waiting.values.filter { $0 >= 1 }.count ?? 0
            if refuseIfArrivedWhileOpen, arrived > 0 { return .arrivedWhileOpen(arrived) }
            for (name, value) in set { state.settings[concertID, default: [:]][name] = value }
            for name in delete { state.settings[concertID]?[name] = nil }
            return .written
        }
    }

    package func forgetShardsBefore(concertID: Int, changedAt: Int) async throws {
        self.with("forgetShardsBefore") { state in
            guard state.settings[concertID]?["queueShardsChangedAt"] == String(changedAt) else { return }
            state.settings[concertID]?["queueShardsBefore"] = nil
            state.settings[concertID]?["queueShardsChangedAt"] = nil
        }
    }

    package func issue(_ request: QueueIssueRequest) async throws -> QueueIssueOutcome {
        self.with("issue") { state in
            let now = state.now
            let opensAt = Self.opensAt(request.opening, concertID: request.line.concertID, state: state)
            var line = state.lines[request.line] ?? Line()
            defer { state.lines[request.line] = line }
            if let live = line.users[request.user], line.waiting[live] != nil || (line.active[live] ?? 0) > now {
                return .token(live, isNew: false, Self.describe(live, line: line, opensAt: opensAt, now: now))
            }
            if request.existingOnly { return .noLiveToken }
            let cap = request.isShare ? request.maxWaiting : state.settings[request.line.concertID]?["maxWaiting"].flatMap { Int($0) } ?? request.maxWaiting
            if cap > 0, line.waiting.count >= cap { return .full }
            let token = request.candidate
            if opensAt > 0 {
                line.waiting[token] = -1 + request.arrivalDraw
            } else {
                line.sequence += 1
                line.waiting[token] = Double(line.sequence)
            }
            line.seen[token] = now
            line.tokens[token] = (request.user, now)
            line.users[request.user] = token
            return .token(token, isNew: true, Self.describe(token, line: line, opensAt: opensAt, now: now))
        }
    }

    package func look(token: String, line id: QueueLineID, touch: Bool, opening: Int?, capacity: Int, stream: (id: String, claim: Bool)?) async throws
        -> QueueLook
    {
        self.with("look") { state in
            let now = state.now
            let opensAt = Self.opensAt(opening, concertID: id.concertID, state: state)
            var line = state.lines[id] ?? Line()
            defer { state.lines[id] = line }
            if touch, line.waiting[token] != nil { line.seen[token] = now }
            var superseded = false
            if let stream {
                if stream.claim { line.streams[token] = stream.id } else { superseded = line.streams[token] != stream.id }
            }
            return QueueLook(superseded: superseded, description: Self.describe(token, line: line, opensAt: opensAt, now: now))
        }
    }

    package func extend(token: String, line id: QueueLineID, milliseconds: Int) async throws -> WindowExtension? {
        self.with("extend") { state in
            guard let until = state.lines[id]?.active[token], until > state.now else { return nil }
            let extended = max(until, state.now + milliseconds)
            state.lines[id]?.active[token] = extended
            return WindowExtension(previousMilliseconds: until, untilMilliseconds: extended)
        }
    }

    package func giveBack(_ extension: WindowExtension, token: String, line id: QueueLineID) async throws {
        self.with("giveBack") { state in
            if state.lines[id]?.active[token] == `extension`.untilMilliseconds { state.lines[id]?.active[token] = `extension`.previousMilliseconds }
        }
    }

    package func end(token: String, line id: QueueLineID, endedTokenSeconds: Int) async throws {
        self.with("end") { state in
            state.lines[id]?.waiting[token] = nil
            state.lines[id]?.active[token] = nil
        }
    }

    package func promote(line id: QueueLineID, _ request: QueuePromoteRequest) async throws -> QueuePromoteTick {
        self.with("promote \(id.concertID):\(id.shard)") { state in
            let now = state.now
            let settings = request.split == nil ? state.settings[id.concertID] ?? [:] : [:]
            let paused = request.split?.paused ?? (settings["paused"] == "1")
            let opensAt = Self.opensAt(request.split?.opening, concertID: id.concertID, state: state)
            let rate = settings["admitPerSecond"].flatMap(Double.init) ?? request.rate
            let capacity = settings["activeCapacity"].flatMap { Int($0) } ?? request.capacity
            let activeSeconds = settings["activeSeconds"].flatMap { Int($0) } ?? request.activeSeconds
            var line = state.lines[id] ?? Line()
            defer { state.lines[id] = line }
            let expired = line.active.filter { $0.value <= now }.map(\.key)
            for token in expired { line.active[token] = nil }
            let idle = line.waiting.keys.filter { now - (line.seen[$0] ?? now) > request.idleSeconds * 1000 }
            for token in idle { line.waiting[token] = nil }
            var admitted = 0
            if !paused, opensAt == 0, !request.noSeatFree {
                let elapsed = line.lastTick > 0 ? Double(now - line.lastTick) / 1000 : 1
                line.credit = min(max(1, rate), line.credit + rate * elapsed)
                for token in line.ordered.prefix(max(0, min(Int(line.credit), capacity - line.active.count))) {
                    line.waiting[token] = nil
                    line.active[token] = now + activeSeconds * 1000
                    line.admissions[token] = now
                    admitted += 1
                }
                line.credit -= Double(admitted)
                if admitted > 0 { line.lastAdmission = now }
            }
            line.lastTick = now
            let inputs = LineInputs(
                now: now, lastTick: now, banked: line.credit, active: line.active.count, slotEnd: 0, meanHoldMilliseconds: nil)
            return QueuePromoteTick(
                admitted: admitted, expired: expired.count, dropped: idle.count, waiting: line.waiting.count, active: line.active.count,
                measuredPerSecond: 0, admitPerSecond: rate, capacity: capacity, activeSeconds: activeSeconds, paused: paused, inputs: inputs)
        }
    }

    package func figures(line id: QueueLineID, capacity: Int) async throws -> QueueLineFigures {
        self.with("figures") { state in
            let line = state.lines[id] ?? Line()
            return QueueLineFigures(
                waiting: line.waiting.count, measuredPerSecond: 0,
                inputs: LineInputs(
                    now: state.now, lastTick: line.lastTick, banked: line.credit, active: line.active.count, slotEnd: 0, meanHoldMilliseconds: nil))
        }
    }

    package struct SnapshotsNotModelled: Error {}

    package func snapshot(line: QueueLineID, _ request: QueueSnapshotRequest) async throws -> SnapshotRead {
        throw SnapshotsNotModelled()
    }

    package func claimChallenge(concertID: Int, id: String, milliseconds: Int) async throws -> Bool {
        self.with("claimChallenge") { $0.challenges.insert("\(concertID):\(id)").inserted }
    }

    package func arrivedWhileOpen(line id: QueueLineID) async throws -> Int {
        self.with("arrivedWhileOpen") { $0.lines[id]?.waiting.values.filter { $0 >= 1 }.count ?? 0 }
    }

    package func health(line id: QueueLineID) async throws -> (waiting: Int, lastAdmission: Date?) {
        self.with("health") { state in
            let line = state.lines[id] ?? Line()
            return (line.waiting.count, line.lastAdmission.map { Date(timeIntervalSince1970: Double($0) / 1000) })
        }
    }

    package func tokenRecords(line id: QueueLineID) async throws -> [QueueTokenRecord] {
        self.with("tokenRecords") { state in
            let line = state.lines[id] ?? Line()
            return line.tokens.map {
                QueueTokenRecord(token: $0.key, user: $0.value.user, issuedMilliseconds: $0.value.issued, admittedMilliseconds: line.admissions[$0.key])
            }
        }
    }

    package func registerLiveLine(concertID: Int) async throws {
        self.with("registerLiveLine") { $0.live[concertID, default: 0] += 1 }
    }

    package func liveLines() async throws -> [LiveLine] {
        self.with("liveLines") { $0.live.sorted { $0.key < $1.key }.map { LiveLine(concertID: $0.key, registrations: String($0.value)) } }
    }

    @discardableResult
    package func retireLiveLine(_ line: LiveLine) async throws -> Bool {
        self.with("retireLiveLine") { state in
            guard state.live[line.concertID].map(String.init) == line.registrations else { return false }
            state.live[line.concertID] = nil
            return true
        }
    }
}
