import BoxOfficeDomain
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

extension HTTPField.Name {
    static let requestID = Self("X-Request-Id")!
    static let instanceID = Self("X-Instance-Id")!
    static let idempotencyKey = Self("Idempotency-Key")!
}

/// Reading request bodies and parameters; every failure is a typed 400/413, never a 500.
extension Request {
    func decodeJSON<Value: Decodable>(_ type: Value.Type, context: some BoxOfficeRequestContext) async throws -> Value {
        // Over the limit, `collect` throws NIOTooManyBytesError, which ErrorMappingMiddleware maps to 413.
        let buffer = try await self.body.collect(upTo: context.maxUploadSize)
        do {
            return try JSONDecoder().decode(Value.self, from: Data(buffer.readableBytesView))
        } catch let error as BoxOfficeError {
            throw error
        } catch let DecodingError.keyNotFound(key, _) {
            throw BoxOfficeError.invalidRequest("Missing field '\(key.stringValue)'.")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw BoxOfficeError.invalidRequest("Field '\(path)' has the wrong type.")
        } catch {
            throw BoxOfficeError.invalidRequest("The body is not valid JSON.")
        }
    }
}

extension Parameters {
    /// A positive integer path parameter, else 400.
    func concertID(_ name: String = "concertId") throws -> Int {
        guard let text = self.get(name), let value = Int(text), value > 0, String(value) == text else {
            throw BoxOfficeError.invalidRequest("The concert id must be a positive integer.")
        }
        return value
    }

    /// A `YYYY-MM-DD` path parameter, else 400.
    func calendarDate(_ name: String = "date") throws -> String {
        guard let date = self.get(name).flatMap(CalendarDate.parse) else { throw CalendarDate.invalid }
        return date
    }
}

extension CalendarDate {
    static let invalid = BoxOfficeError.invalidRequest("The date must be a calendar date written YYYY-MM-DD.")
}
