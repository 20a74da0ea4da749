import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A TCP proxy in front of a real server that can go silent: while frozen it keeps every
/// connection open but forwards nothing either way, the way a blackholed host or a frozen VM
/// looks to a client (no reply, no reset, no FIN).
public final class FreezableTCPProxy: Sendable {
    private let frozen: NIOLockedValueBox<Bool>
    private let channel: any Channel
    public var port: Int { self.channel.localAddress?.port ?? 0 }

    public static func start(upstreamHost: String = "127.0.0.1", upstreamPort: Int) async throws -> FreezableTCPProxy {
        let frozen = NIOLockedValueBox(false)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { inbound in
                // The child channel starts reading only once this future completes, so no byte
                // arrives before its way upstream exists.
                ClientBootstrap(group: inbound.eventLoop)
                    .channelInitializer { outbound in outbound.pipeline.addHandler(Forwarder(peer: inbound, frozen: frozen)) }
                    .connect(host: upstreamHost, port: upstreamPort)
                    .flatMap { outbound in inbound.pipeline.addHandler(Forwarder(peer: outbound, frozen: frozen)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return FreezableTCPProxy(channel: channel, frozen: frozen)
    }

    private init(channel: any Channel, frozen: NIOLockedValueBox<Bool>) {
        self.channel = channel
        self.frozen = frozen
    }

    /// From now on, bytes in either direction are dropped (connections stay open).
    public func freeze() { self.frozen.withLockedValue { $0 = true } }
    public func thaw() { self.frozen.withLockedValue { $0 = false } }

    public func close() async {
        try? await self.channel.close()
    }

    final class Forwarder: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let peer: any Channel
        let frozen: NIOLockedValueBox<Bool>

        init(peer: any Channel, frozen: NIOLockedValueBox<Bool>) {
            self.peer = peer
            self.frozen = frozen
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard !self.frozen.withLockedValue({ $0 }) else { return }
            self.peer.writeAndFlush(self.unwrapInboundIn(data), promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.peer.close(promise: nil)
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
