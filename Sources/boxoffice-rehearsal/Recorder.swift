import Foundation
import Synchronization

/// Everything the rehearsal counts, from every task at once.
final class Recorder: Sendable {
    struct State {
        var arrivals: [String: Int] = [:]  // "answered", "refused <status> <code>", "timed out"
        var errors: [String: Int] = [:]  // 5xx and transport failures by route, after arrival
        var outcomes: [String: Int] = [:]  // how fans ended: bought, gave up, vanished, dropped, sold out, ...
        var pollsPerSecond: [Int] = []
        var streamsOpen = 0
        var streamsPeak = 0
        var streamsRefused = 0
        var streamsPerSecond: [Int] = []  // streams open, sampled each second
        var latencies: [String: [Double]] = [:]  // ms, by route, during the sale
        var seatsBought = 0
        var soldOutAt: Double?  // seconds from the start, when a fan first saw soldOut
    }

    let start = ContinuousClock.now
    private let state = Mutex(State())

    var elapsedSeconds: Double {
        let elapsed = ContinuousClock.now - self.start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    func arrival(_ outcome: String) { self.state.withLock { $0.arrivals[outcome, default: 0] += 1 } }
    func error(_ what: String) { self.state.withLock { $0.errors[what, default: 0] += 1 } }
    func outcome(_ what: String) { self.state.withLock { $0.outcomes[what, default: 0] += 1 } }
    func latency(_ route: String, _ milliseconds: Double) { self.state.withLock { $0.latencies[route, default: []].append(milliseconds) } }
    func bought(_ seats: Int) { self.state.withLock { $0.seatsBought += seats } }

    func poll() {
        let second = Int(self.elapsedSeconds)
        self.state.withLock { state in
            while state.pollsPerSecond.count <= second { state.pollsPerSecond.append(0) }
            state.pollsPerSecond[second] += 1
        }
    }

    func soldOutSeen() {
        let at = self.elapsedSeconds
        self.state.withLock { if $0.soldOutAt == nil { $0.soldOutAt = at } }
    }

    func streamOpened() {
        self.state.withLock {
            $0.streamsOpen += 1
            $0.streamsPeak = max($0.streamsPeak, $0.streamsOpen)
        }
    }

    func streamClosed() { self.state.withLock { $0.streamsOpen -= 1 } }
    func streamRefused() { self.state.withLock { $0.streamsRefused += 1 } }

    /// Called once a second: the streams open now.
    func sample() {
        let second = Int(self.elapsedSeconds)
        self.state.withLock { state in
            while state.streamsPerSecond.count <= second { state.streamsPerSecond.append(state.streamsOpen) }
        }
    }

    var snapshot: State { self.state.withLock { $0 } }
}
