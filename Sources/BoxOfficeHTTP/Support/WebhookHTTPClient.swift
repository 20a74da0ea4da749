import AsyncHTTPClient
import BoxOfficeDomain
import NIOCore
import ServiceLifecycle

/// Webhook deliveries and operator alerts over async-http-client: its own client (no redirects
/// followed: a delivery goes to the URL the operator registered), shut down when the instance stops.
/// The whole exchange, answer body included, must finish within the timeout.
public struct WebhookHTTPClient: WebhookTransport, Service {
    let client: HTTPClient

    public init() {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5)))
        configuration.connectionPool = .init(idleTimeout: .seconds(30))
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func post(url: String, headers: [(String, String)], body: [UInt8], timeout: Duration) async throws -> Int {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.headers.add(name: "user-agent", value: "BoxOffice-Webhooks/1")
        request.body = .bytes(ByteBuffer(bytes: body))
        let deadline = NIODeadline.now() + .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
        let response = try await self.client.execute(request, deadline: deadline)
        // The answer's body is read (and dropped) so the connection can be reused; a large one is cut short.
        _ = try? await response.body.collect(upTo: 64 * 1024)
        return Int(response.status.code)
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try await self.client.shutdown()
    }
}
