import BoxOfficeDomain

extension QueueStatus {
    /// The same JSON as `encode(to:)`, written directly: this is the body of every status poll, the
    /// hottest response, and Foundation's JSONEncoder was most of the handler's CPU time there.
    var json: String {
        var out = "{\"token\":"
        Self.appendQuoted(self.token, to: &out)
        out += ",\"userId\":"
        Self.appendQuoted(self.userId, to: &out)
        out += ",\"concertId\":\(self.concertId),\"status\":\"\(self.status.rawValue)\",\"position\":"
        out += self.position.map(String.init) ?? "null"
        out += ",\"estimatedWaitSeconds\":" + (self.estimatedWaitSeconds.map(String.init) ?? "null") + ",\"activeUntil\":"
        if let activeUntil = self.activeUntil { Self.appendQuoted(Timestamp.format(activeUntil), to: &out) } else { out += "null" }
        out += ",\"pollAfterSeconds\":\(self.pollAfterSeconds),\"opensAt\":"
        if let opensAt = self.opensAt { Self.appendQuoted(Timestamp.format(opensAt), to: &out) } else { out += "null" }
        out += self.paused ? ",\"paused\":true" : ",\"paused\":false"
        out += self.soldOut ? ",\"soldOut\":true}" : ",\"soldOut\":false}"
        return out
    }

    /// Appends `text` as a JSON string literal (quotes, backslashes and control characters escaped).
    static func appendQuoted(_ text: String, to out: inout String) {
        out.append("\"")
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out.append("\\\"")
            case "\\": out.append("\\\\")
            case "\n": out.append("\\n")
            case "\r": out.append("\\r")
            case "\t": out.append("\\t")
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out.append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out.append("\"")
    }
}
