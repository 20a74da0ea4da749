import Foundation
import Subprocess

/// One of the scripts in scripts/ that run the local stacks (cluster.sh, patroni.sh, services.sh),
/// run to completion; its standard output is the result, a non-zero exit a `TestServerError`.
public struct StackScript: Sendable {
    public let path: String

    /// `scripts/NAME` of this checkout.
    public init(_ name: String) {
        self.path = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/\(name)").path
    }

    public init(path: String) {
        self.path = path
    }

    @discardableResult
    public func callAsFunction(_ arguments: [String], environment: [String: String] = [:]) async throws -> String {
        let result = try await run(
            .name("bash"), arguments: Arguments([self.path] + arguments),
            environment: .inherit.updating(environment.reduce(into: [:]) { $0[.init(stringLiteral: $1.key)] = $1.value }),
            output: .string(limit: 1024 * 1024), error: .string(limit: 64 * 1024)
        )
        guard result.terminationStatus.isSuccess else {
            let name = URL(fileURLWithPath: self.path).lastPathComponent
            throw TestServerError(
                "\(name) \(arguments.joined(separator: " ")) failed (\(result.terminationStatus)): \(result.standardError)")
        }
        return result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Failures of the test servers' helpers.
public struct TestServerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
