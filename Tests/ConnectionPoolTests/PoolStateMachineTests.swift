@testable import ConnectionPool
import NIOCore
import Testing

/// The pool's bookkeeping without threads or clocks: deadlines and "now" are made up, so the
/// timeout rules are checked to the nanosecond instead of in wall-clock windows.
@Suite("PoolStateMachine")
struct PoolStateMachineTests {
    struct FakeJob: PoolJob, Equatable {
        let id: Int
        let deadline: NIODeadline
        var isPipelined = false
    }

    static func at(_ milliseconds: Int64) -> NIODeadline { .uptimeNanoseconds(UInt64(milliseconds) * 1_000_000) }

    static func job(_ id: Int, deadline milliseconds: Int64 = 1_000, pipelined: Bool = false) -> FakeJob {
        FakeJob(id: id, deadline: Self.at(milliseconds), isPipelined: pipelined)
    }

    static func ids(_ action: PoolStateMachine<FakeJob>.TakeAction) -> [Int]? {
        if case .run(let batch, _) = action { return batch.map(\.id) }
        return nil
    }

    @Test("calls run in arrival order, one exclusive call per take; an empty queue waits")
    func fifo() {
        var machine = PoolStateMachine<FakeJob>(size: 2, maxPipelineDepth: 32)
        for id in 1...3 {
            guard case .wakeWorker = machine.submit(Self.job(id)) else { Issue.record("not queued"); return }
        }
        #expect(machine.statistics.waiting == 3)
        #expect(Self.ids(machine.take()) == [1])
        #expect(Self.ids(machine.take()) == [2])
        #expect(machine.statistics == PoolStatistics(size: 2, busy: 2, waiting: 1, completed: 0, connects: 0))
        machine.finished(count: 1, connectionBroke: false)
        #expect(Self.ids(machine.take()) == [3])
        guard case .wait = machine.take() else { Issue.record("expected wait"); return }
    }

    @Test("a cancelled call leaves at once and is skipped when its turn comes; cancelling a taken call finds nothing")
    func cancel() {
        var machine = PoolStateMachine<FakeJob>(size: 1, maxPipelineDepth: 32)
        for id in 1...4 { _ = machine.submit(Self.job(id)) }
        #expect(machine.cancel(id: 2) == Self.job(2))
        #expect(machine.cancel(id: 2) == nil)
        #expect(machine.statistics.waiting == 3)
        #expect(Self.ids(machine.take()) == [1])
        #expect(machine.cancel(id: 1) == nil)
        #expect(Self.ids(machine.take()) == [3])
        #expect(machine.cancel(id: 4) == Self.job(4))
        guard case .wait = machine.take() else { Issue.record("expected wait"); return }
        #expect(machine.statistics.waiting == 0)
    }

    @Test("expire fails exactly the calls whose deadline is now or past, in order, skipping cancelled ones")
    func expire() {
        var machine = PoolStateMachine<FakeJob>(size: 1, maxPipelineDepth: 32)
        for (id, deadline) in [(1, 100), (2, 200), (3, 200), (4, 300)] { _ = machine.submit(Self.job(id, deadline: Int64(deadline))) }
        _ = machine.cancel(id: 2)
        #expect(machine.expire(now: Self.at(99)).isEmpty)
        #expect(machine.expire(now: Self.at(100)).map(\.id) == [1])
        #expect(machine.expire(now: Self.at(250)).map(\.id) == [3])
        #expect(machine.statistics.waiting == 1)
        #expect(Self.ids(machine.take()) == [4])
        #expect(machine.expire(now: Self.at(10_000)).isEmpty)
    }

    @Test("pipelined calls go together up to the depth, and stop at an exclusive call")
    func pipelining() {
        var machine = PoolStateMachine<FakeJob>(size: 1, maxPipelineDepth: 3)
        for id in 1...4 { _ = machine.submit(Self.job(id, pipelined: true)) }
        _ = machine.submit(Self.job(5))
        _ = machine.submit(Self.job(6, pipelined: true))
        _ = machine.cancel(id: 2)
        #expect(Self.ids(machine.take()) == [1, 3, 4])
        #expect(Self.ids(machine.take()) == [5])
        #expect(Self.ids(machine.take()) == [6])
        machine.finished(count: 3, connectionBroke: false)
        #expect(machine.statistics.completed == 3)
    }

    @Test("a broken connection moves the generation on: later batches come with the new one")
    func generation() {
        var machine = PoolStateMachine<FakeJob>(size: 2, maxPipelineDepth: 32)
        for id in 1...3 { _ = machine.submit(Self.job(id)) }
        guard case .run(_, let first) = machine.take() else { Issue.record("expected run"); return }
        machine.connected()
        machine.finished(count: 1, connectionBroke: true)
        guard case .run(_, let second) = machine.take() else { Issue.record("expected run"); return }
        #expect(second == first + 1)
        #expect(machine.statistics.connects == 1)
    }

    @Test("after shutdown new calls are refused, queued ones still run, then the workers exit and the pool is drained")
    func shutdown() {
        var machine = PoolStateMachine<FakeJob>(size: 2, maxPipelineDepth: 32)
        _ = machine.submit(Self.job(1))
        machine.shutdown()
        guard case .fail(let refused) = machine.submit(Self.job(2)) else { Issue.record("expected a refusal"); return }
        #expect(refused.id == 2)
        #expect(Self.ids(machine.take()) == [1])
        guard case .exit = machine.take() else { Issue.record("expected exit"); return }
        let first = machine.workerExited()
        #expect(!first && !machine.isDrained)
        let last = machine.workerExited()
        #expect(last && machine.isDrained)
    }
}
