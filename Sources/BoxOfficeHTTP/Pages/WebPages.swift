import Foundation
import NIOCore

/// The fan's and the operator's pages: the files of the repository's `web/` folder, read once when
/// an instance starts and answered from memory (a handful of small files; no disk read per request,
/// no outside network). `{{maxSeatsPerReservation}}` in a page becomes the instance's setting, so the
/// seat map allows what a hold allows.
public struct WebPages: Sendable {
    struct File: Sendable {
        let body: ByteBuffer
        let contentType: String
    }

    let files: [String: File]
    /// Where the files came from (for the start-up log); nil when no folder was found.
    public let directory: String?

    static let contentTypes = [
        "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
        "png": "image/png", "svg": "image/svg+xml", "txt": "text/plain; charset=utf-8",
    ]

    /// `WEB_ROOT` when set; otherwise `web/` in the working directory or next to (or above) the
    /// executable, which finds the repository's folder from `.build/<triple>/<config>/boxoffice`.
    public static func locate(configured: String?) -> String? {
        if let configured, !configured.isEmpty { return configured }
        var candidates = [FileManager.default.currentDirectoryPath + "/web"]
        var folder = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(folder.appendingPathComponent("web").path)
            folder.deleteLastPathComponent()
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/index.html") }
    }

    /// Every file directly in `directory` with a known type. A missing folder gives no pages
    /// (`GET /` is then a 404), not a failed start: the API works without them.
    public init(directory: String?, maxSeatsPerReservation: Int) throws {
        self.directory = directory
        guard let directory else {
            self.files = [:]
            return
        }
        var files: [String: File] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            guard let type = Self.contentTypes[(name as NSString).pathExtension.lowercased()] else { continue }
            var data = try Data(contentsOf: URL(fileURLWithPath: directory).appendingPathComponent(name))
            if type.hasPrefix("text/html") {
                data = Data(String(decoding: data, as: UTF8.self).replacingOccurrences(
                    of: "{{maxSeatsPerReservation}}", with: String(maxSeatsPerReservation)).utf8)
            }
            files[name] = File(body: ByteBuffer(bytes: data), contentType: type)
        }
        self.files = files
    }

    func file(_ name: String) -> File? { self.files[name] }
}
