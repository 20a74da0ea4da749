import Configuration
import Foundation

/// Typed settings from a swift-configuration `ConfigReader`, with the rules every BoxOffice setting
/// follows: unset or empty means the default; a set but malformed or out-of-range value stops
/// the instance with a message that names the environment variable, never a silent default.
///
/// Each area reads its own scope (`scoped(to: "db")` reads `db.pool.size`, which the environment
/// provider looks up as `DB_POOL_SIZE`). The reader keeps the scope only to name the variable in
/// messages; the values themselves come from the `ConfigReader`, so its providers, secret
/// redaction and access reporting apply.
public struct SettingsReader: Sendable {
    let config: ConfigReader
    let scope: [String]

    public init(_ config: ConfigReader) {
        self.init(config: config, scope: [])
    }

    private init(config: ConfigReader, scope: [String]) {
        self.config = config
        self.scope = scope
    }

    public func scoped(to name: String) -> SettingsReader {
        SettingsReader(config: self.config.scoped(to: ConfigKey(name)), scope: self.scope + [name])
    }

    /// A string; `secret` ones (passwords in URLs, tokens) are redacted wherever the reader logs.
    public func string(_ key: String, default value: String, secret: Bool = false) -> String {
        self.raw(key, secret: secret) ?? value
    }

    public func int(_ key: String, default value: Int, in range: ClosedRange<Int>) throws -> Int {
        guard let raw = self.raw(key, secret: false) else { return value }
        guard let parsed = Int(raw), range.contains(parsed) else {
            throw ConfigurationError(description: "\(self.variable(key))=\(raw) must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return parsed
    }

    public func double(_ key: String, default value: Double, in range: ClosedRange<Double>) throws -> Double {
        guard let raw = self.raw(key, secret: false) else { return value }
        guard let parsed = Double(raw), range.contains(parsed) else {
            throw ConfigurationError(description: "\(self.variable(key))=\(raw) must be a number in \(range.lowerBound)...\(range.upperBound)")
        }
        return parsed
    }

    /// A comma-separated list (empty when unset), each item parsed by `parse`; `form` names what an
    /// item must look like, for the error.
    public func list<Item>(_ key: String, form: String, parse: (String) -> Item?) throws -> [Item] {
        guard let raw = self.raw(key, secret: false) else { return [] }
        return try raw.split(separator: ",").map { item in
            let text = item.trimmingCharacters(in: .whitespaces)
            guard let parsed = parse(text) else {
                throw ConfigurationError(description: "\(self.variable(key))=\(raw): '\(text)' is not \(form)")
            }
            return parsed
        }
    }

    /// Strings are parsed here rather than with `ConfigReader.int(forKey:default:)`, which falls
    /// back to the default when a value does not convert.
    private func raw(_ key: String, secret: Bool) -> String? {
        guard let value = self.config.string(forKey: ConfigKey(key), isSecret: secret), !value.isEmpty else { return nil }
        return value
    }

    /// The environment variable that holds `key` in this scope: `db` + `pool.size` is `DB_POOL_SIZE`.
    func variable(_ key: String) -> String {
        (self.scope + [key]).joined(separator: ".").split(separator: ".").joined(separator: "_").uppercased()
    }
}

public struct ConfigurationError: Error, CustomStringConvertible {
    public let description: String

    public init(description: String) {
        self.description = description
    }
}
