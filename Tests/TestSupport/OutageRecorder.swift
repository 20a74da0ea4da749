/// Counts what looping workers saw around a server restart, for the client recovery tests.
public actor OutageRecorder {
    public private(set) var isStopped = false
    private var restartMarked = false
    private var successesBefore = 0
    private var successesAfterRestart = 0
    private var expectedFailures = 0
    private var unexpected: [String] = []

    public init() {}

    public func success() {
        if self.restartMarked { self.successesAfterRestart += 1 } else { self.successesBefore += 1 }
    }

    public func expectedFailure() { self.expectedFailures += 1 }
    public func failure(_ description: String) { self.unexpected.append(description) }
    public func markRestart() { self.restartMarked = true }
    public func stop() { self.isStopped = true }

    /// Waits until `count` calls succeeded (counting only those after the restart, once it is marked).
    public func waitForSuccesses(_ count: Int, within limit: Duration) async throws {
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

    public var summary: (successes: Int, successesAfterRestart: Int, expectedFailures: Int, unexpected: [String]) {
        (self.successesBefore + self.successesAfterRestart, self.successesAfterRestart, self.expectedFailures, self.unexpected)
    }
}
