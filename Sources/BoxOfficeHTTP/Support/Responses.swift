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

enum Responses {
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        self.raw(json: try JSON.encode(value), status: status)
    }

    static func raw(json: String, status: HTTPResponse.Status) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: json))
        )
    }

    /// A response the domain computed (and may have stored for idempotent replay).
    static func stored(_ response: StoredResponse) -> Response {
        self.raw(json: response.body, status: HTTPResponse.Status(code: response.status))
    }
}

/// Reading request bodies and parameters; every failure is a typed 400/413, never a 500.
extension Request {
    func decodeJSON<Value: Decodable>(_ type: Value.Type, context: AppRequestContext) async throws -> Value {
        let buffer: ByteBuffer
        do {
            buffer = try await self.body.collect(upTo: context.maxUploadSize)
        } catch is NIOTooManyBytesError {
            throw ApiError.payloadTooLarge
        }
        do {
            return try JSONDecoder().decode(Value.self, from: Data(buffer.readableBytesView))
        } catch let error as ApiError {
            throw error
        } catch let DecodingError.keyNotFound(key, _) {
            throw ApiError.invalidRequest("Missing field '\(key.stringValue)'.")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw ApiError.invalidRequest("Field '\(path)' has the wrong type.")
        } catch {
            throw ApiError.invalidRequest("The body is not valid JSON.")
        }
    }
}

extension Parameters {
    /// A positive integer path parameter, else 400.
    func concertID(_ name: String = "concertId") throws -> Int {
        guard let text = self.get(name), let value = Int(text), value > 0, String(value) == text else {
            throw ApiError.invalidRequest("The concert id must be a positive integer.")
        }
        return value
    }
}
