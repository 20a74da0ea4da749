/// A Redis server's address as the cluster announces it.
public struct RedisNodeAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port` (the last colon splits, so IPv6 literals keep theirs).
    public init?(_ text: some StringProtocol) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), port > 0 else {
            return nil
        }
        let host = String(text[..<colon])
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port)
    }

    public var description: String { "\(self.host):\(self.port)" }
}

/// Which master serves each of the 16,384 slots, from `CLUSTER SLOTS`.
public struct RedisClusterMap: Sendable, Equatable {
    /// The masters, in the order the cluster listed them.
    public private(set) var masters: [RedisNodeAddress]
    /// For each slot, an index into `masters`, or -1 when no node serves it.
    private var owners: [Int16]

    public init(ranges: [(slots: ClosedRange<Int>, master: RedisNodeAddress)]) {
        self.masters = []
        self.owners = Array(repeating: -1, count: RedisHashSlot.count)
        for range in ranges {
            self.assign(range.slots, to: range.master)
        }
    }

    /// Parses a `CLUSTER SLOTS` reply: `[[start, end, [host, port, id, ...], replica...], ...]`.
    /// A master announced with an empty host ("unknown endpoint") is reached at `fallbackHost`,
    /// the host the reply came from, as the Redis documentation asks clients to do.
    public init(clusterSlots reply: RedisReply, fallbackHost: String) throws {
        guard let entries = reply.array else {
            throw RedisError.unexpectedReply("CLUSTER SLOTS answered \(reply)")
        }
        var ranges: [(slots: ClosedRange<Int>, master: RedisNodeAddress)] = []
        for entry in entries {
            guard let fields = entry.array, fields.count >= 3, let start = fields[0].int, let end = fields[1].int,
                0 <= start, start <= end, end < RedisHashSlot.count,
                let node = fields[2].array, node.count >= 2, let host = node[0].string, let port = node[1].int
            else {
                throw RedisError.unexpectedReply("CLUSTER SLOTS entry \(entry)")
            }
            ranges.append((start...end, RedisNodeAddress(host: host.isEmpty || host == "?" ? fallbackHost : host, port: port)))
        }
        self.init(ranges: ranges)
    }

    public func master(forSlot slot: Int) -> RedisNodeAddress? {
        let owner = self.owners[slot]
        return owner < 0 ? nil : self.masters[Int(owner)]
    }

    /// True when every slot has a master: a cluster that can serve any key.
    public var coversAllSlots: Bool { !self.owners.contains(-1) }

    /// After a `MOVED`: the slot now lives at `master`.
    public mutating func assign(_ slots: ClosedRange<Int>, to master: RedisNodeAddress) {
        let index: Int
        if let known = self.masters.firstIndex(of: master) {
            index = known
        } else {
            self.masters.append(master)
            index = self.masters.count - 1
        }
        for slot in slots { self.owners[slot] = Int16(index) }
    }

    public static func == (lhs: RedisClusterMap, rhs: RedisClusterMap) -> Bool {
        (0..<RedisHashSlot.count).allSatisfy { lhs.master(forSlot: $0) == rhs.master(forSlot: $0) }
    }
}

/// A cluster's answer that the key lives elsewhere: `MOVED slot host:port` (for good: update the
/// map) or `ASK slot host:port` (for this one request, during a slot migration: send `ASKING`
/// first, and keep the map).
public enum RedisRedirection: Sendable, Equatable {
    case moved(slot: Int, to: RedisNodeAddress)
    case ask(slot: Int, to: RedisNodeAddress)

    public init?(_ reply: RedisReply) {
        guard case .error(let message) = reply else { return nil }
        self.init(errorMessage: message)
    }

    public init?(errorMessage message: String) {
        let parts = message.split(separator: " ")
        guard parts.count == 3, let slot = Int(parts[1]), let target = RedisNodeAddress(parts[2]) else { return nil }
        switch parts[0] {
        case "MOVED": self = .moved(slot: slot, to: target)
        case "ASK": self = .ask(slot: slot, to: target)
        default: return nil
        }
    }
}
