import Foundation

/// The repository's scripts/webhook-receiver.py as a running process: a real HTTP receiver that
/// checks every delivery's signature with PyPI's `standardwebhooks` (not BoxOffice's code) and
/// answers with scripted statuses. Stopped by `with` whatever happens.
public final class WebhookReceiver: Sendable {
    public let base: String
    let client: TestHTTPClient

    /// One delivery as the receiver saw it.
    public struct Delivery: Sendable {
        public let webhookID: String
        public let verified: Bool
        /// The status the receiver answered.
        public let status: Int
        public let type: String
        /// The event's `data`, as JSON.
        public let data: Data
        public let error: String?

        public var fields: [String: Any] { (try? JSONSerialization.jsonObject(with: self.data)) as? [String: Any] ?? [:] }
    }

    init(port: Int, client: TestHTTPClient) {
        self.base = "http://127.0.0.1:\(port)"
        self.client = client
    }

    public static func with<Result: Sendable>(_ body: (WebhookReceiver) async throws -> Result) async throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", StackScript("webhook-receiver.py").path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        // The first line is "listening on PORT" (a readiness line: the socket is bound before it is printed).
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line += chunk
        }
        guard let port = String(decoding: line, as: UTF8.self).split(separator: " ").last.flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
        else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw TestServerError("webhook-receiver.py did not start (is standardwebhooks installed? pip install standardwebhooks)")
        }
        let client = TestHTTPClient()
        let receiver = WebhookReceiver(port: port, client: client)
        defer {
            // SIGKILL: a test runner may have left SIGTERM ignored for its children.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        do {
            let result = try await body(receiver)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// The URL deliveries for `name` go to.
    public func url(_ name: String) -> String { "\(self.base)/hooks/\(name)" }
    public var alertsURL: String { "\(self.base)/alerts" }

    /// Sets `name`'s secret and the statuses of its next answers (then 200), and a delay before each.
    public func configure(_ name: String, secret: String, statuses: [Int] = [], delayMilliseconds: Int = 0) async throws {
        let reply = try await self.client.request(
            .PUT, "\(self.base)/config/\(name)", json: ["secret": secret, "statuses": statuses, "delayMs": delayMilliseconds])
        guard reply.status == 204 else { throw TestServerError("receiver config: \(reply.status)") }
    }

    public func deliveries(_ name: String) async throws -> [Delivery] {
        let reply = try await self.client.request(.GET, "\(self.base)/received/\(name)")
        let records = (try? JSONSerialization.jsonObject(with: reply.body)) as? [[String: Any]] ?? []
        return records.map { record in
            let event = record["event"] as? [String: Any] ?? [:]
            return Delivery(
                webhookID: record["webhookId"] as? String ?? "", verified: record["verified"] as? Bool ?? false, status: record["status"] as? Int ?? 0,
                type: event["type"] as? String ?? "", data: (try? JSONSerialization.data(withJSONObject: event["data"] ?? [:])) ?? Data(),
                error: record["error"] as? String)
        }
    }

    /// The alerts' texts so far.
    public func alerts() async throws -> [String] {
        let reply = try await self.client.request(.GET, "\(self.base)/received/alerts")
        return ((try? JSONSerialization.jsonObject(with: reply.body)) as? [[String: Any]] ?? []).compactMap { $0["text"] as? String }
    }

    /// Polls `fetch` until `condition` holds or `timeout` passes; returns the last value.
    public static func eventually<Value>(
        timeout: Duration = .seconds(20), _ fetch: () async throws -> Value, until condition: (Value) -> Bool
    ) async throws -> Value {
        let deadline = ContinuousClock.now + timeout
        var value = try await fetch()
        while !condition(value) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            value = try await fetch()
        }
        return value
    }
}
