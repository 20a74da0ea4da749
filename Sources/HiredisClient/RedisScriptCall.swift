/// One typed call of a Lua script: the keys it declares (all it touches; on a cluster they route
/// it and must share a slot), its arguments, and its reply decoded into named fields. Nothing
/// outside the call reads the reply by position.
public protocol RedisScriptCall: Sendable {
    associatedtype Reply: Sendable

    var script: RedisScript { get }
    var keys: [RedisArgument] { get }
    var arguments: [RedisArgument] { get }

    /// The reply, already checked not to be an error reply.
    func decode(_ reply: RedisReply) throws -> Reply
}

extension RedisClient {
    /// Runs a typed script call (EVALSHA, on a cluster on the master of its keys' slot) and decodes its reply.
    public func call<Call: RedisScriptCall>(_ call: Call) async throws -> Call.Reply {
        try call.decode(try await self.run(call.script, keys: call.keys, arguments: call.arguments).checked())
    }
}
