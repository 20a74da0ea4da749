import Foundation

/// A `boxoffice serve` process of the built binary, for what an in-process instance cannot show:
/// a crash (SIGKILL) in the middle of its work. It runs against the test stores with
/// `TestStack.defaultEnvironment` and `environment`, and logs to a file under /tmp.
public final class InstanceProcess: Sendable {
    public let instanceID: String
    public let log: String
    private let process: Process

    /// The binary next to the test bundle (SwiftPM builds it with the tests), or `BOXOFFICE_TEST_BINARY`.
    public static var binary: String {
        if let path = ProcessInfo.processInfo.environment["BOXOFFICE_TEST_BINARY"], !path.isEmpty { return path }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("boxoffice").path
    }

    public init(instanceID: String, environment: [String: String] = [:]) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw TestServerError("no boxoffice binary at \(Self.binary) (swift build --product boxoffice, or set BOXOFFICE_TEST_BINARY)")
        }
        var variables = ProcessInfo.processInfo.environment.merging(TestStack.defaultEnvironment) { _, new in new }
        variables["DATABASE_URL"] = TestEnvironment.databaseURL
        variables["REDIS_URL"] = TestEnvironment.redisURL
        if TestEnvironment.clusterSeeds != nil { variables["REDIS_CLUSTER_NODES"] = TestEnvironment.redisClusterNodes }
        variables.merge(["HOST": "127.0.0.1", "PORT": "0", "INSTANCE_ID": instanceID]) { _, new in new }
        variables.merge(environment) { _, new in new }
        self.instanceID = instanceID
        self.log = "/tmp/boxoffice-test-\(instanceID)-\(TestEnvironment.uniqueSuffix(length: 6)).log"
        _ = FileManager.default.createFile(atPath: self.log, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["serve"]
        process.environment = variables
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: self.log))
        process.standardError = process.standardOutput
        try process.run()
        self.process = process
    }

    /// SIGKILL: no shutdown, no last round of anything (a crash, or `kill -9`).
    public func kill() {
        guard self.process.isRunning else { return }
        Foundation.kill(self.process.processIdentifier, SIGKILL)
        self.process.waitUntilExit()
    }
}
