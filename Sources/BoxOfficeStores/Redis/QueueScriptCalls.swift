import BoxOfficeDomain
import HiredisClient

// One typed call per queue script (QueueScripts has their Lua): each declares every key of its
// line, so on a cluster it is routed by them and, while the line's slot moves, the server answers
// ASK or TRYAGAIN for the whole script; each decodes its reply into named fields, here and nowhere
// else.

extension TokenDescription {
    /// `describe`'s answer (QueueScripts): {state, user, rank, activeUntil or place, opensAt,
    /// line_inputs' six fields (a waiter in an open line)}.
    init(_ reply: ArraySlice<RedisReply>) throws {
        let fields = Array(reply)
        guard fields.count >= 5, let state = fields[0].string.flatMap(State.init), let user = fields[1].string else {
            throw RedisError.unexpectedReply("token description: \(fields)")
        }
        self.init(
            state: state, user: user, rank: fields[2].int ?? 0, place: state == .waiting ? fields[3].string.flatMap(Double.init) : nil,
            activeUntil: state == .active ? fields[3].int ?? 0 : 0, opensAt: fields[4].int ?? 0, inputs: LineInputs(fields[5...]))
        if state == .waiting, self.opensAt == 0, self.inputs == nil { throw RedisError.unexpectedReply("token description: \(fields)") }
    }
}

extension LineInputs {
    /// line_inputs' six fields: {now, last tick, banked credit, active count, slot end, mean hold}.
    init?(_ reply: ArraySlice<RedisReply>) {
        let fields = Array(reply)
        guard fields.count == 6, let now = fields[0].int, let lastTick = fields[1].int, let active = fields[3].int else { return nil }
        self.init(
            now: now, lastTick: lastTick, banked: fields[2].string.flatMap(Double.init) ?? 0, active: active, slotEnd: fields[4].int ?? 0,
            meanHoldMilliseconds: fields[5].string.flatMap(Double.init))
    }
}

extension Optional<Int> {
    /// A shard's opening as a script argument: '' on one line (its script reads the settings hash).
    var openingArgument: RedisArgument { self.map { RedisArgument($0) } ?? "" }
}

/// queue-issue: a new token for `user`, or the live one they have.
struct QueueIssueCall: RedisScriptCall {
    let keys: [RedisArgument]
    let arguments: [RedisArgument]
    var script: RedisScript { QueueScripts.issue }

    init(_ request: QueueIssueRequest) {
        self.keys = QueueKeys(request.line).line
        self.arguments = [
            RedisArgument(request.user), RedisArgument(request.candidate), RedisArgument(request.maxWaiting), request.isShare ? "1" : "0",
            RedisArgument(String(request.arrivalDraw)), request.opening.openingArgument, RedisArgument(request.capacity),
            request.existingOnly ? "1" : "0",
        ]
    }

    func decode(_ reply: RedisReply) throws -> QueueIssueOutcome {
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

    let keys: [RedisArgument]
    let arguments: [RedisArgument]
    var script: RedisScript { QueueScripts.status }

    init(keys: QueueKeys, token: String, touch: Bool, opening: Int?, capacity: Int, stream: (id: String, claim: Bool)?) {
        self.keys = keys.line
        var arguments: [RedisArgument] = [RedisArgument(token), touch ? "1" : "0", opening.openingArgument, RedisArgument(capacity)]
        if let stream { arguments += [RedisArgument(stream.id), stream.claim ? "1" : "0"] }
        self.arguments = arguments
    }

    func decode(_ reply: RedisReply) throws -> QueueLook {
        guard let fields = reply.array, fields.count >= 6 else { throw RedisError.unexpectedReply("queue-status: \(reply)") }
        return QueueLook(superseded: fields[0].int == 1, description: try TokenDescription(fields[1...]))
    }
}

/// queue-promote: one promotion tick of one line (or shard).
struct QueuePromoteCall: RedisScriptCall {
    let keys: [RedisArgument]
    let arguments: [RedisArgument]
    var script: RedisScript { QueueScripts.promote }

    init(keys: QueueKeys, _ request: QueuePromoteRequest) {
        self.keys = keys.line
        var arguments: [RedisArgument] = [
            RedisArgument(request.capacity), RedisArgument(String(request.rate)), RedisArgument(request.idleSeconds * 1000),
            RedisArgument(request.activeSeconds * 1000), RedisArgument(request.endedTokenSeconds),
        ]
        arguments += request.split.map { ["1", $0.paused ? "1" : "0", RedisArgument($0.opening)] } ?? ["0", "0", "0"]
        arguments.append(request.noSeatFree ? "1" : "0")
        self.arguments = arguments
    }

    func decode(_ reply: RedisReply) throws -> QueuePromoteTick {
        guard let fields = reply.array, fields.count == 16, let inputs = LineInputs(fields[10...]) else {
            throw RedisError.unexpectedReply("queue-promote: \(reply)")
        }
        let values = fields.prefix(10).map { $0.int ?? 0 }
        return QueuePromoteTick(
            admitted: values[0], expired: values[1], dropped: values[2], waiting: values[3], active: values[4],
            measuredPerSecond: Double(values[5]) / 1000, admitPerSecond: Double(values[6]) / 1000, capacity: values[7],
            activeSeconds: values[8], paused: values[9] == 1, inputs: inputs)
    }
}

/// queue-line: a line's (or shard's) figures for the operator.
struct QueueLineCall: RedisScriptCall {
    let keys: [RedisArgument]
    let arguments: [RedisArgument]
    var script: RedisScript { QueueScripts.line }

    init(keys: QueueKeys, capacity: Int) {
        self.keys = keys.line
        self.arguments = [RedisArgument(capacity)]
    }

    func decode(_ reply: RedisReply) throws -> QueueLineFigures {
        guard let fields = reply.array, fields.count == 8, let waiting = fields[0].int, let inputs = LineInputs(fields[2...]) else {
            throw RedisError.unexpectedReply("queue-line: \(reply)")
        }
        return QueueLineFigures(waiting: waiting, measuredPerSecond: fields[1].string.flatMap(Double.init) ?? 0, inputs: inputs)
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

    init(keys: QueueKeys, _ request: QueueSnapshotRequest) {
        self.keys = keys.line
        self.arguments =
            [request.opening.openingArgument, RedisArgument(request.goneCount), RedisArgument(request.samples), RedisArgument(request.maxActiveEnds)]
            + request.touched.map { RedisArgument($0) }
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

    func decode(_ reply: RedisReply) throws -> QueueSettingsWrite {
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
