@testable import BoxOfficeHTTP
import BoxOfficeDomain
import ConnectionPool
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Prometheus
import StoreFakes
import Testing

/// The API's contract in process: the routes, the response shapes (decoded as typed values) and
/// the error codes, through the instance's own router (`app.test(.router)`) over in-memory stores.
/// The real-server suites keep what needs real servers: races, store faults, timing, the SQL and Lua.
@Suite("API contract in process: shapes and error codes over in-memory stores")
struct APIContractTests {
    static let adminToken = "an-admin-token-for-the-contract-tests"
    static let date = "2099-05-01"

    /// Problem details as every error answers.
    struct Problem: Decodable {
        let type: String
        let title: String
        let status: Int
        let detail: String
        let code: String
        let instance: String?
    }

    struct Health: Decodable {
        let status: String
        let instance: String
        let failing: [String]?
    }

    /// What /health/ready sees: the stores named in `down` do not answer.
    struct FakeHealth: StoreHealth {
        var down: [String] = []
        func failing() async -> [String] { self.down }
        var pools: [(name: String, statistics: PoolStatistics)] { [("postgres", PoolStatistics(size: 8)), ("redis", PoolStatistics(size: 2))] }
    }

    /// One instance over fresh in-memory stores, with one concert of one date (50 seats at 10,000).
    struct Instance: Sendable {
        let boxOffice = InMemoryBoxOffice()
        let queueStore = InMemoryQueueStore()
        let dependencies: AppDependencies
        let responder: RouterResponder<AppRequestContext>

        init(environment: [String: String] = ["ADMIN_TOKEN": APIContractTests.adminToken, "MAX_BALANCE": "100000"], down: [String] = []) throws {
            self.boxOffice.addConcert(title: "Contract Night", date: APIContractTests.date)
            let configuration = try AppConfiguration(environment: environment)
            let stores = ServiceStores(
                health: FakeHealth(down: down), catalog: self.boxOffice, presales: self.boxOffice, queue: self.queueStore,
                reservations: self.boxOffice, seatLocks: InMemorySeatLocks(), balances: self.boxOffice, payments: self.boxOffice,
                administration: self.boxOffice, outbox: self.boxOffice, publisher: self.boxOffice, webhooks: self.boxOffice)
            self.dependencies = AppDependencies(configuration: configuration, stores: stores, logger: Logger(label: "contract"))
            self.responder = buildRouter(
                self.dependencies, registry: PrometheusCollectorRegistry(), userAssertions: nil,
                pages: try WebPages(directory: nil, maxSeatsPerReservation: configuration.reservations.maxSeatsPerReservation)
            ).buildResponder()
        }

        func test(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
            try await Application(responder: self.responder).test(.router, body)
        }
    }

    static func json(_ object: [String: Any]) -> ByteBuffer {
        ByteBuffer(bytes: try! JSONSerialization.data(withJSONObject: object))
    }

    static func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)", .contentType: "application/json"] }

    static func decode<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(buffer: response.body))
    }

    /// The response is the problem `code` with `status`, as problem+json.
    @discardableResult
    static func expectProblem(
        _ response: TestResponse, _ status: Int, _ code: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> Problem {
        let problem = try Self.decode(Problem.self, response)
        #expect(response.status.code == status && problem.status == status && problem.code == code, "\(problem)", sourceLocation: sourceLocation)
        #expect(response.headers[.contentType] == "application/problem+json", sourceLocation: sourceLocation)
        return problem
    }

    /// A fan's token for concert 1, admitted (ACTIVE) when `admit`.
    static func token(_ client: some TestClientProtocol, instance: Instance, user: UUID = UUID(), admit: Bool = true) async throws -> String {
        let issued = try await client.execute(
            uri: "/v1/queue/tokens", method: .post, headers: [.contentType: "application/json"],
            body: Self.json(["userId": user.uuidString, "concertId": 1]))
        #expect(issued.status == .created)
        let token = try Self.decode(QueueStatusBody.self, issued).token
        if admit { _ = try await instance.dependencies.queue.promote(concertID: 1) }
        return token
    }

    /// The status body as a client decodes it.
    struct QueueStatusBody: Decodable {
        let token: String
        let userId: String
        let concertId: Int
        let status: String
        let position: Int?
        let estimatedWaitSeconds: Int?
        let activeUntil: String?
        let pollAfterSeconds: Int
        let opensAt: String?
        let paused: Bool
        let soldOut: Bool
    }

    struct DateList: Decodable {
        let concertId: Int
        let dates: [DateAvailability]
    }

    struct SeatMap: Decodable {
        let concertId: Int
        let date: String
        let seats: [SeatView]
    }

    struct ReservationBody: Decodable {
        let reservationId: String
        let concertId: Int
        let date: String
        let seatNumbers: [Int]
        let amount: Int
        let status: String
        let expiresAt: String
    }

    struct ReceiptBody: Decodable {
        let paymentId: String
        let reservationId: String
        let amount: Int
        let balance: Int
        let status: String
        let paidAt: String
    }

    @Test("a fan's whole path: token, admission, dates and seats, charge, hold, pay; then the token is over")
    func fansPath() async throws {
        let instance = try Instance()
        try await instance.test { client in
            let user = UUID()
            let issued = try await client.execute(
                uri: "/v1/queue/tokens", method: .post, headers: [.contentType: "application/json"],
                body: Self.json(["userId": user.uuidString, "concertId": 1]))
            #expect(issued.status == .created)
            let waiting = try Self.decode(QueueStatusBody.self, issued)
            #expect(waiting.status == "WAITING" && waiting.position == 1 && waiting.userId == user.uuidString.lowercased() && !waiting.soldOut)
            let again = try await client.execute(
                uri: "/v1/queue/tokens", method: .post, headers: [.contentType: "application/json"],
                body: Self.json(["userId": user.uuidString, "concertId": 1]))
            #expect(try again.status == .ok && Self.decode(QueueStatusBody.self, again).token == waiting.token)
            let headers = Self.bearer(waiting.token)
            // Not admitted yet: the seat map is closed to this fan.
            try Self.expectProblem(try await client.execute(uri: "/v1/concerts/1/dates", method: .get, headers: headers), 403, "NOT_ADMITTED")

            _ = try await instance.dependencies.queue.promote(concertID: 1)
            let active = try Self.decode(QueueStatusBody.self, try await client.execute(uri: "/v1/queue/status", method: .get, headers: headers))
            #expect(active.status == "ACTIVE" && active.activeUntil != nil && active.estimatedWaitSeconds == 0)
            let dates = try Self.decode(DateList.self, try await client.execute(uri: "/v1/concerts/1/dates", method: .get, headers: headers))
            #expect(dates.concertId == 1 && dates.dates == [DateAvailability(date: Self.date, availableSeats: 50)])
            let map = try Self.decode(
                SeatMap.self, try await client.execute(uri: "/v1/concerts/1/dates/\(Self.date)/seats", method: .get, headers: headers))
            #expect(map.date == Self.date && map.seats.count == 50 && map.seats.allSatisfy { $0.status == "AVAILABLE" && $0.price == 10_000 })

            let charged = try await client.execute(uri: "/v1/balance/charge", method: .post, headers: headers, body: Self.json(["amount": 25_000]))
            #expect(try Self.decode(ChargeResult.self, charged) == ChargeResult(userId: user.uuidString.lowercased(), balance: 25_000, charged: 25_000))
            let held = try await client.execute(
                uri: "/v1/reservations", method: .post, headers: headers,
                body: Self.json(["concertId": 1, "date": Self.date, "seatNumbers": [2, 1]]))
            #expect(held.status == .created)
            let reservation = try Self.decode(ReservationBody.self, held)
            #expect(reservation.status == "HELD" && reservation.seatNumbers == [1, 2] && reservation.amount == 20_000)
            let paid = try await client.execute(
                uri: "/v1/payments", method: .post, headers: headers, body: Self.json(["reservationId": reservation.reservationId]))
            #expect(paid.status == .created)
            let receipt = try Self.decode(ReceiptBody.self, paid)
            #expect(receipt.status == "PAID" && receipt.amount == 20_000 && receipt.balance == 5_000)
            // The payment ended the token.
            try Self.expectProblem(try await client.execute(uri: "/v1/queue/status", method: .get, headers: headers), 401, "TOKEN_EXPIRED")
        }
    }

    @Test("the fan routes' error codes")
    func fanErrors() async throws {
        let instance = try Instance()
        try await instance.test { client in
            let json: HTTPFields = [.contentType: "application/json"]
            try Self.expectProblem(
                try await client.execute(uri: "/v1/queue/tokens", method: .post, headers: json, body: ByteBuffer(string: "{not json")),
                400, "INVALID_REQUEST")
            try Self.expectProblem(
                try await client.execute(
                    uri: "/v1/queue/tokens", method: .post, headers: json, body: Self.json(["userId": UUID().uuidString, "concertId": 99])),
                404, "CONCERT_NOT_FOUND")
            try Self.expectProblem(try await client.execute(uri: "/v1/queue/status", method: .get), 401, "TOKEN_INVALID")
            try Self.expectProblem(
                try await client.execute(uri: "/v1/queue/status", method: .get, headers: Self.bearer("1.0123456789abcdef0123456789abcdef")),
                401, "TOKEN_INVALID")

            let token = try await Self.token(client, instance: instance)
            let headers = Self.bearer(token)
            let hold = { (body: [String: Any]) in try await client.execute(uri: "/v1/reservations", method: .post, headers: headers, body: Self.json(body)) }
            try Self.expectProblem(try await hold(["concertId": 1, "date": Self.date, "seatNumbers": [51]]), 400, "INVALID_SEAT")
            try Self.expectProblem(try await hold(["concertId": 1, "date": "2099-05-02", "seatNumbers": [1]]), 404, "DATE_NOT_FOUND")
            try Self.expectProblem(try await hold(["concertId": 2, "date": Self.date, "seatNumbers": [1]]), 403, "WRONG_CONCERT")
            let first = try Self.decode(ReservationBody.self, try await hold(["concertId": 1, "date": Self.date, "seatNumbers": [7]]))

            let rival = Self.bearer(try await Self.token(client, instance: instance))
            try Self.expectProblem(
                try await client.execute(
                    uri: "/v1/reservations", method: .post, headers: rival, body: Self.json(["concertId": 1, "date": Self.date, "seatNumbers": [7]])),
                409, "SEAT_UNAVAILABLE")
            try Self.expectProblem(
                try await client.execute(uri: "/v1/reservations/\(first.reservationId)", method: .get, headers: rival), 404, "RESERVATION_NOT_FOUND")
            try Self.expectProblem(try await client.execute(uri: "/v1/concerts/2/dates", method: .get, headers: headers), 403, "WRONG_CONCERT")

            try Self.expectProblem(
                try await client.execute(uri: "/v1/payments", method: .post, headers: headers, body: Self.json(["reservationId": first.reservationId])),
                402, "INSUFFICIENT_BALANCE")
            let charge = { (amount: Int) in
                try await client.execute(uri: "/v1/balance/charge", method: .post, headers: headers, body: Self.json(["amount": amount]))
            }
            try Self.expectProblem(try await charge(-5), 400, "INVALID_AMOUNT")
            try Self.expectProblem(try await charge(instance.dependencies.configuration.balances.maxCharge + 1), 400, "INVALID_AMOUNT")
            #expect(try await charge(60_000).status == .ok)
            try Self.expectProblem(try await charge(50_000), 409, "BALANCE_LIMIT")  // MAX_BALANCE is 100,000 here
            let cancelled = try await client.execute(uri: "/v1/reservations/\(first.reservationId)", method: .delete, headers: headers)
            #expect(try Self.decode(ReservationBody.self, cancelled).status == "CANCELLED")
            try Self.expectProblem(
                try await client.execute(uri: "/v1/reservations/\(first.reservationId)", method: .delete, headers: headers), 409, "RESERVATION_NOT_HELD")
            try Self.expectProblem(try await client.execute(uri: "/v1/concerts/1/presale", method: .get), 404, "PRESALE_NOT_FOUND")
            try Self.expectProblem(try await client.execute(uri: "/v1/nowhere", method: .get), 404, "NOT_FOUND")
        }
    }

    @Test("a full line answers QUEUE_FULL with Retry-After; a sold-out concert SOLD_OUT; a proof of work PROOF_REQUIRED or PROOF_INVALID")
    func lineRefusals() async throws {
        let instance = try Instance()
        try await instance.test { client in
            let issue = { try await client.execute(
                uri: "/v1/queue/tokens", method: .post, headers: [.contentType: "application/json"],
                body: Self.json(["userId": UUID().uuidString, "concertId": 1])) }
            instance.queueStore.set(concertID: 1, ["maxWaiting": "1"])
            #expect(try await issue().status == .created)
            let full = try await issue()
            try Self.expectProblem(full, 503, "QUEUE_FULL")
            #expect(full.headers[.retryAfter] == "30")
            // An instance reads a concert's settings and its seat supply at most a second late.
            instance.queueStore.set(concertID: 1, ["maxWaiting": "0", "powDifficulty": "8"])
            try await Task.sleep(for: .seconds(1.1))
            try Self.expectProblem(try await issue(), 403, "PROOF_REQUIRED")
            let forged = try await client.execute(
                uri: "/v1/queue/tokens", method: .post, headers: [.contentType: "application/json"],
                body: Self.json(["userId": UUID().uuidString, "concertId": 1, "proof": ["challenge": "v1.1.8.forged", "nonce": "0"]]))
            try Self.expectProblem(forged, 403, "PROOF_INVALID")
            instance.boxOffice.sellOut(concertID: 1)
            try await Task.sleep(for: .seconds(1.1))
            try Self.expectProblem(try await issue(), 410, "SOLD_OUT")
        }
    }

    @Test("admin routes: the token, its absence, and their error codes")
    func adminErrors() async throws {
        let instance = try Instance()
        try await instance.test { client in
            let admin = Self.bearer(Self.adminToken)
            try Self.expectProblem(try await client.execute(uri: "/v1/admin/concerts/1/queue", method: .get), 401, "ADMIN_UNAUTHORIZED")
            try Self.expectProblem(
                try await client.execute(uri: "/v1/admin/concerts/1/queue", method: .get, headers: Self.bearer("wrong")), 401, "ADMIN_UNAUTHORIZED")
            let created = try await client.execute(
                uri: "/v1/admin/concerts", method: .post, headers: admin, body: Self.json(["title": "Second", "artist": "Someone"]))
            #expect(try created.status == .created && Self.decode(Concert.self, created) == Concert(id: 2, title: "Second", artist: "Someone"))
            let settings = try Self.decode(
                QueueSettingsView.self, try await client.execute(uri: "/v1/admin/concerts/2/queue", method: .get, headers: admin))
            #expect(settings.concertId == 2 && settings.queueShards == 1 && settings.opensAt == nil)
            try Self.expectProblem(
                try await client.execute(
                    uri: "/v1/admin/concerts/1/dates", method: .post, headers: admin, body: Self.json(["date": Self.date, "prices": Array(repeating: 10_000, count: 50)])),
                409, "DATE_EXISTS")
            try Self.expectProblem(try await client.execute(uri: "/v1/admin/concerts/99/queue", method: .get, headers: admin), 404, "CONCERT_NOT_FOUND")
            try Self.expectProblem(
                try await client.execute(uri: "/v1/admin/concerts/1/queue", method: .patch, headers: admin, body: Self.json(["activeCapacity": 0])),
                400, "INVALID_REQUEST")
            try Self.expectProblem(try await client.execute(uri: "/v1/admin/webhooks/nope", method: .delete, headers: admin), 404, "WEBHOOK_NOT_FOUND")
            try Self.expectProblem(try await client.execute(uri: "/v1/admin/events/5/redeliver", method: .post, headers: admin), 404, "EVENT_NOT_FOUND")
        }
        try await Instance(environment: [:]).test { client in
            try Self.expectProblem(
                try await client.execute(uri: "/v1/admin/concerts/1/queue", method: .get, headers: Self.bearer("anything")), 403, "ADMIN_DISABLED")
        }
    }

    @Test("a presale: created once, registration, the draw refused while registration is open, codes at the door")
    func presale() async throws {
        let instance = try Instance()
        try await instance.test { client in
            let admin = Self.bearer(Self.adminToken)
            let json: HTTPFields = [.contentType: "application/json"]
            let times = (0..<3).map { Timestamp.format(Date().addingTimeInterval(3_600 * Double($0 + 1))) }
            let body = Self.json(["registrationClosesAt": times[0], "saleOpensAt": times[1], "saleClosesAt": times[2], "winners": 10])
            #expect(try await client.execute(uri: "/v1/admin/concerts/1/presale", method: .post, headers: admin, body: body).status == .created)
            try Self.expectProblem(try await client.execute(uri: "/v1/admin/concerts/1/presale", method: .post, headers: admin, body: body), 409, "PRESALE_EXISTS")
            let fan = UUID().uuidString.lowercased()
            try Self.expectProblem(
                try await client.execute(uri: "/v1/concerts/1/presale/registrations/\(fan)", method: .get), 404, "REGISTRATION_NOT_FOUND")
            let registered = try await client.execute(
                uri: "/v1/concerts/1/presale/registrations", method: .post, headers: json, body: Self.json(["userId": fan]))
            #expect(registered.status == .created)
            #expect(try await client.execute(uri: "/v1/concerts/1/presale/registrations/\(fan)", method: .get).status == .ok)
            try Self.expectProblem(
                try await client.execute(uri: "/v1/admin/concerts/1/presale/draw", method: .post, headers: admin), 409, "REGISTRATION_OPEN")
        }
    }

    @Test("health: live always, ready names the store that does not answer")
    func health() async throws {
        try await Instance().test { client in
            let live = try await client.execute(uri: "/health/live", method: .get)
            #expect(try live.status == .ok && Self.decode(Health.self, live).status == "ok")
            #expect(try await client.execute(uri: "/health/ready", method: .get).status == .ok)
        }
        try await Instance(down: ["redis"]).test { client in
            let ready = try await client.execute(uri: "/health/ready", method: .get)
            let health = try Self.decode(Health.self, ready)
            #expect(ready.status == .serviceUnavailable && health.status == "unavailable" && health.failing == ["redis"])
        }
    }
}
