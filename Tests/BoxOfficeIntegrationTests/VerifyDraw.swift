import Foundation
import Subprocess
import TestSupport

/// The repository's scripts/verify-draw.py, run on what the API published, as an auditor would.
enum VerifyDraw {
    struct Result {
        let succeeded: Bool
        /// The JSON it printed.
        let output: [String: Any]
        let error: String
    }

    /// `verify-draw.py KIND published.json entries.json [--check winners.txt]`.
    static func run(_ kind: String, published: Data, entries: Data, announced: [String]? = nil) async throws -> Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("draw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let (publishedFile, entriesFile, checkFile) = (directory.path + "/published.json", directory.path + "/entries.json", directory.path + "/announced.txt")
        try published.write(to: URL(fileURLWithPath: publishedFile))
        try entries.write(to: URL(fileURLWithPath: entriesFile))
        var arguments = [StackScript("verify-draw.py").path, kind, publishedFile, entriesFile]
        if let announced {
            try announced.joined(separator: "\n").write(toFile: checkFile, atomically: true, encoding: .utf8)
            arguments += ["--check", checkFile]
        }
        let result = try await Subprocess.run(
            .name("python3"), arguments: Arguments(arguments), output: .string(limit: 4 * 1024 * 1024), error: .string(limit: 64 * 1024))
        let printed = (try? JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8))) as? [String: Any] ?? [:]
        return Result(succeeded: result.terminationStatus.isSuccess, output: printed, error: result.standardError)
    }
}
