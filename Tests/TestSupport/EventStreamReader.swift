import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// One item of a server-sent event stream: an event with its data, or a comment (a heartbeat).
public struct ServerSentItem: Sendable {
    /// The event name (`status`, `ended`), or nil for a comment line.
    public let event: String?
    public let data: String
    /// When the item arrived, on the test's clock.
    public let at: ContinuousClock.Instant

    public var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(self.data.utf8))) as? [String: Any] ?? [:] }
    public var isHeartbeat: Bool { self.event == nil }
}

extension TestHTTPClient {
    /// Reads `GET /v1/queue/events` (the token in the Authorization header, or as `?token=` the way
    /// a browser's EventSource sends it) until the server ends the stream or `onItem` returns false.
    /// Returns the HTTP status, the headers and every item in order; a non-200 reply has no items.
    public func readEvents(
        _ base: String, token: String, viaQuery: Bool = false, timeout: Duration = .seconds(60),
        onItem: @Sendable (ServerSentItem) async throws -> Bool = { _ in true }
    ) async throws -> (status: Int, headers: HTTPHeaders, items: [ServerSentItem]) {
        let query = viaQuery ? "?token=\(token.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? token)" : ""
        var request = HTTPClientRequest(url: "\(base)/v1/queue/events\(query)")
        if !viaQuery { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.headers.add(name: "Accept", value: "text/event-stream")
        let response = try await self.client.execute(request, timeout: .seconds(Int64(timeout.components.seconds)))
        guard response.status == .ok else { return (Int(response.status.code), response.headers, []) }
        var buffer = ""
        var items: [ServerSentItem] = []
        reading: for try await chunk in response.body {
            buffer += String(buffer: chunk)
            while let range = buffer.range(of: "\n\n") {
                let block = buffer[..<range.lowerBound]
                buffer = String(buffer[range.upperBound...])
                var event: String?
                var data = ""
                for line in block.split(separator: "\n") {
                    if line.hasPrefix(":") { data = line.dropFirst().trimmingCharacters(in: .whitespaces) }
                    if line.hasPrefix("event:") { event = line.dropFirst(6).trimmingCharacters(in: .whitespaces) }
                    if line.hasPrefix("data:") { data = line.dropFirst(5).trimmingCharacters(in: .whitespaces) }
                }
                let item = ServerSentItem(event: event, data: data, at: .now)
                items.append(item)
                if try await !onItem(item) { break reading }
            }
        }
        return (200, response.headers, items)
    }
}
