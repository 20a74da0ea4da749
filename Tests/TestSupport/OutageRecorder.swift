/// What looping workers saw around a server outage, for the client recovery tests.
public struct OutageSummary: Sendable {
    public let successes: Int
    public let successesAfterRestart: Int
    public let expectedFailures: Int
    public let unexpected: [String]
    /// From the server being back until `successesAfterRestart` calls had succeeded.
    public let recovery: Duration
}

/// Counts what looping workers saw around a server restart.
public actor OutageRecorder {
    private var isStopped = false
    private var restartMarked = false
    private var successesBefore = 0
    private var successesAfterRestart = 0
    private var expectedFailures = 0
    private var unexpected: [String] = []

    /// Runs `workers` loops of `call(worker)` while `outage` takes the server down and brings it
    /// back: 20 successes first, then the outage, then `successesAfter` successes within `limit`.
    /// `isExpected` says which thrown errors an outage may cause; any other is unexpected.
    public static func measure(
        workers: Int = 4,
        successesAfter: Int = 40,
        within limit: Duration,
        call: @escaping @Sendable (Int) async throws -> Void,
        isExpected: @escaping @Sendable (any Error) -> Bool,
        outage: () async throws -> Void
    ) async throws -> OutageSummary {
        let recorder = OutageRecorder()
        return try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    while await !recorder.isStopped {
                        do {
                            try await call(worker)
                            await recorder.success()
                        } catch {
                            if isExpected(error) { await recorder.expectedFailure() } else { await recorder.failure("\(type(of: error)): \(error)") }
                            try await Task.sleep(for: .milliseconds(20))
                        }
                    }
                }
            }
            try await recorder.waitForSuccesses(20, within: limit)
            try await outage()
            let restarted = ContinuousClock.now
            await recorder.markRestart()
            try await recorder.waitForSuccesses(successesAfter, within: limit)
            let recovery = ContinuousClock.now - restarted
            await recorder.stop()
            try await group.waitForAll()
            return await recorder.summary(recovery: recovery)
        }
    }

    private func success() {
        if self.restartMarked { self.successesAfterRestart += 1 } else { self.successesBefore += 1 }
    }

    private func expectedFailure() { self.expectedFailures += 1 }
    private func failure(_ description: String) { self.unexpected.append(description) }
    private func markRestart() { self.restartMarked = true }
    private func stop() { self.isStopped = true }

    /// Waits until `count` calls succeeded (counting only those after the restart, once it is marked).
    private func waitForSuccesses(_ count: Int, within limit: Duration) async throws {
        let deadline = ContinuousClock.now + limit
        while (self.restartMarked ? self.successesAfterRestart : self.successesBefore) < count {
            if ContinuousClock.now > deadline {
                self.isStopped = true
                throw TestServerError(
                    "only \(self.restartMarked ? self.successesAfterRestart : self.successesBefore) of \(count) calls succeeded within \(limit); unexpected errors: \(self.unexpected.prefix(3))"
                )
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    private func summary(recovery: Duration) -> OutageSummary {
        OutageSummary(
            successes: self.successesBefore + self.successesAfterRestart, successesAfterRestart: self.successesAfterRestart,
            expectedFailures: self.expectedFailures, unexpected: self.unexpected, recovery: recovery)
    }
}
