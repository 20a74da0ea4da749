import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The public API as the fan's page calls it, over a shared connection pool: fans do not hold a
/// connection while they wait (neither does a browser behind haproxy's 1 s keep-alive).
struct API: Sendable {
    struct Reply: Sendable {
        let status: Int
        let body: ByteBuffer

        func decode<T: Decodable>(_ type: T.Type) -> T? { try? JSONDecoder().decode(type, from: Data(self.body.readableBytesView)) }
        var code: String? { self.decode(ProblemReply.self)?.code }
        var queueStatus: QueueStatusReply? { QueueStatusReply(json: Substring(String(buffer: self.body))) }
    }

    let base: String
    let client: HTTPClient
    /// Long-lived event streams get a pool of their own, so they never starve the short calls.
    let streams: HTTPClient
    let timeout: TimeAmount

    init(base: String, connections: Int, streamConnections: Int, timeout: TimeAmount) {
        self.base = base
        self.timeout = timeout
        // Idle pooled connections are dropped before haproxy's 1 s keep-alive closes them under a request.
        var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(5), read: timeout))
        configuration.connectionPool = .init(idleTimeout: .milliseconds(500), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        var streaming = HTTPClient.Configuration(timeout: .init(connect: .seconds(5), read: .seconds(60)))
        streaming.connectionPool = .init(idleTimeout: .milliseconds(500), concurrentHTTP1ConnectionsPerHostSoftLimit: streamConnections)
        self.streams = HTTPClient(eventLoopGroupProvider: .singleton, configuration: streaming)
    }

    func shutdown() async throws {
        try await self.client.shutdown()
        try await self.streams.shutdown()
    }

    /// One call; a transport failure or a timeout throws.
    func call(_ method: HTTPMethod, _ path: String, token: String? = nil, json: String? = nil, idempotencyKey: String? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: self.base + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer " + token) }
        if let idempotencyKey { request.headers.add(name: "Idempotency-Key", value: idempotencyKey) }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        }
        return try await Self.againWhenClosedUnderneath { try await self.send(request) }
    }

    /// haproxy closes a keep-alive connection idle for a second; a request written on it as it
    /// closes never reached an instance. A browser sends such a request again while the failure was
    /// on a reused connection; the page's stand-in does too, up to three times (the pool may hand
    /// out another connection haproxy is closing at the same moment).
    static func againWhenClosedUnderneath<Value>(_ body: () async throws -> Value) async throws -> Value {
        for _ in 1..<3 {
            do {
                return try await body()
            } catch where Self.closedUnderneath(error) {
                continue
            }
        }
        return try await body()
    }

    private func send(_ request: HTTPClientRequest) async throws -> Reply {
        let response = try await self.client.execute(request, timeout: self.timeout)
        return Reply(status: Int(response.status.code), body: try await response.body.collect(upTo: 1 << 20))
    }

    static func closedUnderneath(_ error: any Error) -> Bool {
        (error as? HTTPClientError) == .remoteConnectionClosed || (error as? ChannelError) == .ioOnClosedChannel
    }

    /// `GET /v1/queue/events` as EventSource does: `onStatus` for each status event until it
    /// returns false or the server ends the stream. Returns the HTTP status (200, or the refusal's).
    func stream(token: String, onOpen: () -> Void, onStatus: (QueueStatusReply) -> Bool) async throws -> Int {
        var request = HTTPClientRequest(url: self.base + "/v1/queue/events?token=" + token)
        request.headers.add(name: "Accept", value: "text/event-stream")
        let response = try await Self.againWhenClosedUnderneath { try await self.streams.execute(request, timeout: .minutes(10)) }
        guard response.status == .ok else {
            _ = try? await response.body.collect(upTo: 1 << 16)
            return Int(response.status.code)
        }
        onOpen()
        var pending = ""
        for try await chunk in response.body {
            pending += String(buffer: chunk)
            while let end = pending.range(of: "\n\n") {
                let block = pending[..<end.lowerBound]
                pending = String(pending[end.upperBound...])
                guard block.hasPrefix("event: status"), let data = block.split(separator: "\n").first(where: { $0.hasPrefix("data: ") }),
                    let status = QueueStatusReply(json: data.dropFirst(6))
                else { continue }
                if !onStatus(status) { return 200 }
            }
        }
        return 200
    }
}
