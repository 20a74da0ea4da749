import HiredisClient

// One typed call per queue script (QueueScripts has their Lua): each declares every key of its
// line, so on a cluster it is routed by them and, while the line's slot moves, the server answers
// ASK or TRYAGAIN for the whole script; each decodes its reply into named fields, here and nowhere
// else.

/// `describe`'s answer (QueueScripts): a token's state as a script saw it.
struct TokenDescription: Sendable, Equatable {
    enum State: String, Sendable {
        case waiting = "WAITING", active = "ACTIVE", ended = "ENDED", unknown = "UNKNOWN"
    }

    var state: State
    var user: String
    /// WAITING: the 1-based rank in its line (its shard of a split line).
    var rank: Int
    /// WAITING: its place in line (its score), which a poll snapshot ranks.
    var place: Double?
    /// ACTIVE: the end of its window (ms).
    var activeUntil: Int
    /// When the sale opens (ms); 0 once it is open.
    var opensAt: Int
    /// WAITING in an open line: what its wait rests on.
    var inputs: LineInputs?

    /// {state, user, rank, activeUntil or place, opensAt, line_inputs' six fields (a waiter in an open line)}.
    init(_ reply: ArraySlice<RedisReply>) throws {
        let fields = Array(reply)
        guard fields.count >= 5, let state = fields[0].string.flatMap(State.init), let user = fields[1].string else {
            throw RedisError.unexpectedReply("token description: \(fields)")
        }
        self.state = state
        self.user = user
        self.rank = fields[2].int ?? 0
        self.place = state == .waiting ? fields[3].string.flatMap(Double.init) : nil
        self.activeUntil = state == .active ? fields[3].int ?? 0 : 0
        self.opensAt = fields[4].int ?? 0
        self.inputs = LineInputs(fields[5...])
        if state == .waiting, self.opensAt == 0, self.inputs == nil { throw RedisError.unexpectedReply("token description: \(fields)") }
    }
}

/// queue-issue: a new token for `user`, or the live one they have.
struct QueueIssueCall: RedisScriptCall {
    enum Reply: Sendable {
        case full
        /// `existingOnly` was asked and the user has no live token.
        case noLiveToken
        case token(String, isNew: Bool, TokenDescription)
    }

    let keys: [RedisArgument]
    let arguments: [RedisArgument]
    var script: RedisScript { QueueScripts.issue }

    /// - Parameters:
    ///   - maxWaiting: the cap to apply; `isShare` when it is a shard's share of a split line's cap
    ///     (otherwise the concert's settings hash overrides it).
    ///   - arrivalDraw: a uniform number in [0, 1): the place of an arrival before the opening.
    ///   - opening: for a shard of a split line the opening time ('' for one line).
    ///   - existingOnly: return the user's live token, and no new one (`noLiveToken` instead).
    init(keys: QueueKeys, user: String, candidate: String, maxWaiting: Int, isShare: Bool, arrivalDraw: Double, opening: RedisArgument,
         capacity: Int, existingOnly: Bool) {
        self.keys = keys.line
        self.arguments = [
            RedisArgument(user), RedisArgument(candidate), RedisArgument(maxWaiting), isShare ? "1" : "0",
            RedisArgument(String(arrivalDraw)), opening, RedisArgument(capacity), existingOnly ? "1" : "0",
        ]
    }

    func decode(_ reply: RedisReply) throws -> Reply {
        guard let fields = reply.array else { throw RedisError.unexpectedReply("queue-issue: \(reply)") }
        if fields.count == 2, fields[1].int == -1 { return .full }
        if fields.count == 2, fields[1].int == -2 { return .noLiveToken }
        guard fields.count >= 7, let token = fields[0].string, let isNew = fields[1].int else {
            throw RedisError.unexpectedReply("queue-issue: \(reply)")
        }
        return .token(token, isNew: isNew == 1, try TokenDescription(fields[2...]))
    }
}

/// queue-status: one look at a token, for a poll or an event stream.
struct QueueStatusCall: RedisScriptCall {
    struct Reply: Sendable {
        /// Another event stream has claimed the token since this one did.
        var superseded: Bool
        var description: TokenDescription
    }

    let keys: [RedisArgument]
    let arguments: [RedisArgument]
    var script: RedisScript { QueueScripts.status }

    init(keys: QueueKeys, token: String, touch: Bool, opening: RedisArgument, capacity: Int, stream: (id: String, claim: Bool)?) {
        self.keys = keys.line
        var arguments: [RedisArgument] = [RedisArgument(token), touch ? "1" : "0", opening, RedisArgument(capacity)]
        if let stream { arguments += [RedisArgument(stream.id), stream.claim ? "1" : "0"] }
        self.arguments = arguments
    }

    func decode(_ reply: RedisReply) throws -> Reply {
        guard let fields = reply.array, fields.count >= 6 else { throw RedisError.unexpectedReply("queue-status: \(reply)") }
        return Reply(superseded: fields[0].int == 1, description: try TokenDescription(fields[1...]))
    }
}

/// queue-promote: one promotion tick of one line (or shard).
struct QueuePromoteCall: RedisScriptCall {
    struct Reply: Sendable {
        var admitted: Int
        var expired: Int
        var dropped: Int
        var waiting: Int
        var active: Int
        /// Measured admissions per second (moving average over about 10 s).
        var measuredPerSecond: Double
        /// What the tick applied: the settings hash over the call's defaults.
        var admitPerSecond: Double
        var capacity: Int
        var activeSeconds: Int
        var paused: Bool
        /// What the last waiter's wait rests on.
        var inputs: LineInputs
    }

    /// A shard of a split line: what the caller read from shard 0's settings hash.
    struct ShardOverrides: Sendable {
        var paused: Bool
        var opening: RedisArgument
    }

    let keys: [RedisArgument]
    let arguments: [RedisArgument]
    var script: RedisScript { QueueScripts.promote }

    init(keys: QueueKeys, capacity: Int, rate: Double, idleSeconds: Int, activeSeconds: Int, endedTokenSeconds: Int,
         shard: ShardOverrides?, noSeatFree: Bool) {
        self.keys = keys.line
        var arguments: [RedisArgument] = [
            RedisArgument(capacity), RedisArgument(String(rate)), RedisArgument(idleSeconds * 1000), RedisArgument(activeSeconds * 1000),
            RedisArgument(endedTokenSeconds),
        ]
        arguments += shard.map { ["1", $0.paused ? "1" : "0", $0.opening] } ?? ["0", "0", "0"]
        arguments.append(noSeatFree ? "1" : "0")
        self.arguments = arguments
    }

    func decode(_ reply: RedisReply) throws -> Reply {
        guard let fields = reply.array, fields.count == 16, let inputs = LineInputs(fields[10...]) else {
            throw RedisError.unexpectedReply("queue-promote: \(reply)")
        }
        let values = fields.prefix(10).map { $0.int ?? 0 }
        return Reply(
            admitted: values[0], expired: values[1], dropped: values[2], waiting: values[3], active: values[4],
            measuredPerSecond: Double(values[5]) / 1000, admitPerSecond: Double(values[6]) / 1000, capacity: values[7],
            activeSeconds: values[8], paused: values[9] == 1, inputs: inputs)
    }
}

/// queue-line: a line's (or shard's) figures for the operator.
struct QueueLineCall: RedisScriptCall {
    struct Reply: Sendable {
        var waiting: Int
        var measuredPerSecond: Double
        /// What the last waiter's wait rests on.
        var inputs: LineInputs
    }

    let keys: [RedisArgument]
    let arguments: [RedisArgument]
    var script: RedisScript { QueueScripts.line }

    init(keys: QueueKeys, capacity: Int) {
        self.keys = keys.line
        self.arguments = [RedisArgument(capacity)]
    }

    func decode(_ reply: RedisReply) throws -> Reply {
        guard let fields = reply.array, fields.count == 8, let waiting = fields[0].int, let inputs = LineInputs(fields[2...]) else {
            throw RedisError.unexpectedReply("queue-line: \(reply)")
        }
        return Reply(waiting: waiting, measuredPerSecond: fields[1].string.flatMap(Double.init) ?? 0, inputs: inputs)
    }
}

/// queue-extend: keeps an ACTIVE token alive longer (bounded by its admission).
struct QueueExtendCall: RedisScriptCall {
    let keys: [RedisArgument]
    let arguments: [RedisArgument]
    var script: RedisScript { QueueScripts.extend }

    init(keys: QueueKeys, token: String, milliseconds: Int) {
        self.keys = keys.line
        self.arguments = [RedisArgument(token), RedisArgument(milliseconds)]
    }

    /// The extension as made, nil when the token is not ACTIVE any more.
    func decode(_ reply: RedisReply) throws -> WindowExtension? {
        guard let values = reply.array, values.count == 2, let until = values[0].int, let previous = values[1].int else {
            throw RedisError.unexpectedReply("queue-extend: \(reply)")
        }
        return until > 0 ? WindowExtension(previousMilliseconds: previous, untilMilliseconds: until) : nil
    }
}

/// queue-give-back: takes back an extension whose hold was refused.
struct QueueGiveBackCall: RedisScriptCall {
    let keys: [RedisArgument]
    let arguments: [RedisArgument]
    var script: RedisScript { QueueScripts.giveBack }

    init(keys: QueueKeys, token: String, extension: WindowExtension) {
        self.keys = keys.line
        self.arguments = [
            RedisArgument(token), RedisArgument(`extension`.untilMilliseconds), RedisArgument(`extension`.previousMilliseconds),
        ]
    }

    func decode(_ reply: RedisReply) throws {}
}

/// queue-end: ends a token at once.
struct QueueEndCall: RedisScriptCall {
    let keys: [RedisArgument]
    let arguments: [RedisArgument]
    var script: RedisScript { QueueScripts.end }

    init(keys: QueueKeys, token: String, endedTokenSeconds: Int) {
        self.keys = keys.line
        self.arguments = [RedisArgument(token), RedisArgument(endedTokenSeconds)]
    }

    func decode(_ reply: RedisReply) throws {}
}

/// queue-snapshot: what an instance needs to answer its waiters' polls for a while (QueueSnapshots).
struct QueueSnapshotCall: RedisScriptCall {
    let keys: [RedisArgument]
    let arguments: [RedisArgument]
    var script: RedisScript { QueueScripts.snapshot }

    /// - Parameters:
    ///   - goneCount: the line's gone count the instance has seen (-1: none yet).
    ///   - touched: the tokens whose waiters polled this instance since its last snapshot.
    init(keys: QueueKeys, opening: RedisArgument, goneCount: Int, samples: Int, maxActiveEnds: Int, touched: [String]) {
        self.keys = keys.line
        self.arguments =
            [opening, RedisArgument(goneCount), RedisArgument(samples), RedisArgument(maxActiveEnds)] + touched.map { RedisArgument($0) }
    }

    func decode(_ reply: RedisReply) throws -> SnapshotRead {
        guard let fields = reply.array, fields.count == 14, let now = fields[0].int, let opensAt = fields[1].int,
            let lastTick = fields[2].int, let active = fields[4].int, let waiting = fields[6].int, let step = fields[7].int,
            let goneCount = fields[8].int, let samples = fields[10].array?.compactMap({ $0.string.flatMap(Double.init) }),
            let ends = fields[12].array?.compactMap(\.int), let gone = fields[13].array?.compactMap(\.string)
        else { throw RedisError.unexpectedReply("queue-snapshot: \(reply)") }
        return SnapshotRead(
            line: LineSnapshot(
                received: .now, now: now, opensAt: opensAt, lastTick: lastTick, banked: fields[3].string.flatMap(Double.init) ?? 0,
                active: active, meanHoldMilliseconds: fields[5].string.flatMap(Double.init), waiting: waiting, step: max(1, step),
                samples: samples, lastPlace: fields[11].string.flatMap(Double.init), activeEnds: ends.count == active ? ends : nil),
            goneCount: goneCount, reset: fields[9].int == 1, gone: gone)
    }
}

/// queue-write-settings: the admin API's write of a concert's settings hash.
struct QueueWriteSettingsCall: RedisScriptCall {
    enum Reply: Sendable, Equatable {
        case written
        /// Refused: this many waiters arrived while the sale was open.
        case arrivedWhileOpen(Int)
    }

    let keys: [RedisArgument]
    let arguments: [RedisArgument]
    var script: RedisScript { QueueScripts.writeSettings }

    init(concertID: Int, set fields: [(String, String)], delete deleted: [String], refuseIfArrivedWhileOpen: Bool) {
        let keys = QueueKeys(concertID: concertID)
        self.keys = [RedisArgument(keys.settings), RedisArgument(keys.waiting)]
        self.arguments =
            [refuseIfArrivedWhileOpen ? "1" : "0", RedisArgument(fields.count)]
            + fields.flatMap { [RedisArgument($0.0), RedisArgument($0.1)] } + deleted.map { RedisArgument($0) }
    }

    func decode(_ reply: RedisReply) throws -> Reply {
        guard let fields = reply.array, fields.count == 2, let written = fields[0].int else {
            throw RedisError.unexpectedReply("queue-write-settings: \(reply)")
        }
        return written == 1 ? .written : .arrivedWhileOpen(fields[1].int ?? 0)
    }
}

/// queue-shards-drained: forgets the shard count before a change once its shards are empty.
struct QueueShardsDrainedCall: RedisScriptCall {
    let keys: [RedisArgument]
    let arguments: [RedisArgument]
    var script: RedisScript { QueueScripts.drained }

    init(concertID: Int, changedAt: Int) {
        self.keys = [RedisArgument(QueueKeys(concertID: concertID).settings)]
        self.arguments = [RedisArgument(changedAt)]
    }

    func decode(_ reply: RedisReply) throws {}
}
