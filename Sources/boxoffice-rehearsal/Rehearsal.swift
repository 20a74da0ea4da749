import Foundation
import NIOHTTP1

/// The fans' behaviour, step by step, as web/fan.js behaves: join, poll at `pollAfterSeconds` (a
/// stream once the turn is due within 30 s, polling again when the stream is refused), stop at
/// sold out, and once admitted: dates, a seat map, a hold (other seats when someone was quicker),
/// a charge and the payment, with think times. Some fans give up and leave, some close the tab,
/// some leave with seats in the cart.
struct Rehearsal: Sendable {
    struct Settings: Sendable {
        var fans: Int
        var rampSeconds: Double
        var opensAtMilliseconds: Int
        var concertID: Int
        var giveUpShare: Double
        var vanishShare: Double
        var abandonShare: Double
    }

    let api: API
    let settings: Settings
    let recorder: Recorder

    static func wallMilliseconds() -> Int { Int(Date().timeIntervalSince1970 * 1000) }

    /// One step of `fan`; returns when its next step is due, nil when the fan is done.
    func step(_ fan: Fan) async -> ContinuousClock.Instant? {
        switch fan.phase {
        case .arriving: return await self.arrive(fan)
        case .waiting: return await self.wait(fan)
        case .done: return nil
        }
    }

    private func arrive(_ fan: Fan) async -> ContinuousClock.Instant? {
        fan.arrivedAtMilliseconds = Self.wallMilliseconds()
        fan.arrivedBeforeOpening = fan.arrivedAtMilliseconds < self.settings.opensAtMilliseconds
        let started = ContinuousClock.now
        let reply: API.Reply
        do {
            reply = try await self.api.call(.POST, "/v1/queue/tokens", json: #"{"userId":"\#(fan.userID)","concertId":\#(self.settings.concertID)}"#)
        } catch {
            self.recorder.arrival("failed: \(Self.reason(error))")
            return self.finish(fan, nil)
        }
        self.recorder.latency("arrival", Self.milliseconds(since: started))
        guard reply.status == 200 || reply.status == 201, let status = reply.queueStatus else {
            self.recorder.arrival("refused \(reply.status) \(reply.code ?? "")")
            return self.finish(fan, nil)
        }
        self.recorder.arrival("answered")
        fan.token = status.token
        fan.status = status
        if !fan.arrivedBeforeOpening, let position = status.position {
            fan.promisedSeconds = status.estimatedWaitSeconds
            fan.promisedPosition = position
        }
        let roll = Double.random(in: 0..<1)
        let later = ContinuousClock.now + .seconds(Double.random(in: 20...120))
        if roll < self.settings.giveUpShare {
            fan.fate = .givesUp(at: later)
        } else if roll < self.settings.giveUpShare + self.settings.vanishShare {
            fan.fate = .vanishes(at: later)
        } else if roll < self.settings.giveUpShare + self.settings.vanishShare + self.settings.abandonShare {
            fan.fate = .abandonsCart
        }
        fan.phase = .waiting
        return await self.next(fan, after: status)
    }

    /// What the page does with a status: shop when admitted, stop at sold out, else look again.
    private func next(_ fan: Fan, after status: QueueStatusReply) async -> ContinuousClock.Instant? {
        if status.status == "ACTIVE" {
            await self.shop(fan)
            return self.finish(fan, nil)
        }
        if status.soldOut == true {
            self.recorder.soldOutSeen()
            return self.finish(fan, "saw sold out while waiting")
        }
        return .now + .seconds(status.pollAfterSeconds)
    }

    private func wait(_ fan: Fan) async -> ContinuousClock.Instant? {
        guard let token = fan.token else { return self.finish(fan, nil) }
        switch fan.fate {
        case .givesUp(let at) where ContinuousClock.now >= at:
            _ = try? await self.api.call(.DELETE, "/v1/queue/tokens/current", token: token)
            return self.finish(fan, "gave up and left")
        case .vanishes(let at) where ContinuousClock.now >= at:
            return self.finish(fan, "closed the tab")
        default: break
        }
        if let last = fan.status, last.wantsStream, ContinuousClock.now >= fan.noStreamUntil {
            return await self.stream(fan, token: token)
        }
        self.recorder.poll()
        let reply: API.Reply
        do {
            reply = try await self.api.call(.GET, "/v1/queue/status", token: token)
        } catch {
            if !Task.isCancelled { self.recorder.error("poll: \(Self.reason(error))") }
            return .now + .seconds(3)
        }
        if reply.status == 401 { return self.finish(fan, "token ended while waiting (\(reply.code ?? ""))") }
        guard reply.status == 200, let status = reply.queueStatus else {
            self.recorder.error("poll: \(reply.status) \(reply.code ?? "")")
            return .now + .seconds(3)
        }
        fan.status = status
        return await self.next(fan, after: status)
    }

    /// The page's stream near the front; a refusal means polling for the next 30 s.
    private func stream(_ fan: Fan, token: String) async -> ContinuousClock.Instant? {
        var opened = false
        let code: Int
        var failure: String?
        do {
            code = try await self.api.stream(token: token, onOpen: {
                opened = true
                self.recorder.streamOpened()
            }) { status in
                fan.status = status
                return status.status == "WAITING" && status.soldOut != true
            }
        } catch {
            code = 0
            failure = "\(opened ? "cut" : "not opened"): \(Self.reason(error))"
        }
        if opened { self.recorder.streamClosed() }
        if Task.isCancelled { return nil }  // the rehearsal's end cut the stream, not the server
        guard code == 200 else {
            if code == 503 { self.recorder.streamRefused() } else { self.recorder.error("stream: \(failure ?? String(code))") }
            fan.noStreamUntil = .now + .seconds(30)
            return .now + .seconds(fan.status?.pollAfterSeconds ?? 1)
        }
        guard let status = fan.status, status.status == "ACTIVE" || status.soldOut == true else {
            // The stream ended without news (ended by the server, or a newer stream): look by polling.
            fan.noStreamUntil = .now + .seconds(30)
            return .now
        }
        return await self.next(fan, after: status)
    }

    /// Admitted: choose, hold, charge and pay, as a fan on the page does.
    private func shop(_ fan: Fan) async {
        guard let token = fan.token else { return }
        try? await Task.sleep(for: .seconds(Double.random(in: 1...3)))
        var held: (id: String, amount: Int, seats: Int)?
        for _ in 0..<3 where held == nil {
            guard let dates = await self.timed("catalogue", .GET, "/v1/concerts/\(self.settings.concertID)/dates", token: token),
                let list = dates.decode(DatesReply.self)?.dates
            else { return self.outcome(fan, "catalogue failed") }
            guard let date = list.filter({ $0.availableSeats > 0 }).randomElement()?.date else { break }
            guard let map = await self.timed("catalogue", .GET, "/v1/concerts/\(self.settings.concertID)/dates/\(date)/seats", token: token),
                let seats = map.decode(SeatsReply.self)?.seats
            else { return self.outcome(fan, "catalogue failed") }
            let free = seats.filter { $0.status == "AVAILABLE" }.map(\.number).shuffled()
            guard !free.isEmpty else { continue }
            let chosen = Array(free.prefix(Int.random(in: 1...4))).sorted()
            let body = #"{"concertId":\#(self.settings.concertID),"date":"\#(date)","seatNumbers":\#(chosen)}"#
            guard let hold = await self.timed("hold", .POST, "/v1/reservations", token: token, json: body) else { return self.outcome(fan, "hold failed") }
            if hold.status == 201, let reservation = hold.decode(ReservationReply.self) {
                held = (reservation.reservationId, reservation.amount, chosen.count)
            } else if hold.status != 409 {
                return self.outcome(fan, "hold \(hold.status) \(hold.code ?? "")")
            }
        }
        guard let held else {
            _ = try? await self.api.call(.DELETE, "/v1/queue/tokens/current", token: token)
            return self.outcome(fan, "found no seats")
        }
        try? await Task.sleep(for: .seconds(Double.random(in: 2...5)))
        if case .abandonsCart = fan.fate {
            _ = try? await self.api.call(.DELETE, "/v1/queue/tokens/current", token: token)
            return self.outcome(fan, "left with seats in the cart")
        }
        guard let charged = await self.timed("charge", .POST, "/v1/balance/charge", token: token, json: #"{"amount":\#(held.amount)}"#),
            charged.status == 200
        else { return self.outcome(fan, "charge failed") }
        guard let paid = await self.timed("payment", .POST, "/v1/payments", token: token, json: #"{"reservationId":"\#(held.id)"}"#,
                                          idempotencyKey: "pay-" + held.id)
        else { return self.outcome(fan, "payment failed") }
        if paid.status == 201 {
            self.recorder.bought(held.seats)
            self.outcome(fan, "bought")
        } else {
            self.outcome(fan, "payment \(paid.status) \(paid.code ?? "")")
        }
    }

    /// A call whose latency counts; 5xx and failures are errors (nil for a failure).
    private func timed(
        _ route: String, _ method: HTTPMethod, _ path: String, token: String, json: String? = nil, idempotencyKey: String? = nil
    ) async -> API.Reply? {
        let started = ContinuousClock.now
        do {
            let reply = try await self.api.call(method, path, token: token, json: json, idempotencyKey: idempotencyKey)
            self.recorder.latency(route, Self.milliseconds(since: started))
            if reply.status >= 500 { self.recorder.error("\(route): \(reply.status) \(reply.code ?? "")") }
            return reply
        } catch {
            self.recorder.error("\(route): \(Self.reason(error))")
            return nil
        }
    }

    /// What went wrong with a call, short enough to count by (a timeout, a connection closed under it...).
    static func reason(_ error: any Error) -> String {
        String(String(describing: error).prefix(60))
    }

    private func outcome(_ fan: Fan, _ what: String) {
        self.recorder.outcome(what)
    }

    private func finish(_ fan: Fan, _ what: String?) -> ContinuousClock.Instant? {
        fan.phase = .done
        if let what { self.recorder.outcome(what) }
        return nil
    }

    static func milliseconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
    }
}

