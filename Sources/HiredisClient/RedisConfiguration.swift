import Foundation

/// Where and how to connect, parsed from a `redis://[[user]:password@]host[:port][/db]` URL.
public struct RedisConfiguration: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?
    public var database: Int
    public var connectTimeout: Duration
    public var commandTimeout: Duration

    public init(
        host: String = "127.0.0.1",
        port: Int = 6379,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        connectTimeout: Duration = .seconds(2),
        commandTimeout: Duration = .seconds(5)
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
    }

    public init(url: String, connectTimeout: Duration = .seconds(2), commandTimeout: Duration = .seconds(5)) throws {
        guard let components = URLComponents(string: url), components.scheme == "redis", let host = components.host,
            !host.isEmpty
        else { throw RedisError.invalidURL(url) }
        var database = 0
        let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        if !path.isEmpty {
            guard let number = Int(path), number >= 0 else { throw RedisError.invalidURL(url) }
            database = number
        }
        let user = components.user.flatMap { $0.isEmpty ? nil : $0.removingPercentEncoding }
        self.init(
            host: host,
            port: components.port ?? 6379,
            username: user,
            password: components.password?.removingPercentEncoding,
            database: database,
            connectTimeout: connectTimeout,
            commandTimeout: commandTimeout
        )
    }
}
