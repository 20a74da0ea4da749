import Synchronization

/// When each fan's next step is due: a binary heap of (due, fan), shared by the driver (which pops
/// what is due) and the fans' steps (which push their next one). One heap for 100,000 fans instead
/// of one sleeping task per fan.
final class Schedule: Sendable {
    private struct Entry {
        let due: ContinuousClock.Instant
        let fan: Int
    }

    private let heap = Mutex<[Entry]>([])

    func add(_ fan: Int, at due: ContinuousClock.Instant) {
        self.heap.withLock { heap in
            heap.append(Entry(due: due, fan: fan))
            var child = heap.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard heap[child].due < heap[parent].due else { break }
                heap.swapAt(child, parent)
                child = parent
            }
        }
    }

    /// Removes and returns the fans due by `now`.
    func due(by now: ContinuousClock.Instant) -> [Int] {
        self.heap.withLock { heap in
            var fans: [Int] = []
            while let first = heap.first, first.due <= now {
                fans.append(first.fan)
                let last = heap.removeLast()
                guard !heap.isEmpty else { break }
                heap[0] = last
                var parent = 0
                while true {
                    let left = 2 * parent + 1, right = left + 1
                    var smallest = parent
                    if left < heap.count, heap[left].due < heap[smallest].due { smallest = left }
                    if right < heap.count, heap[right].due < heap[smallest].due { smallest = right }
                    guard smallest != parent else { break }
                    heap.swapAt(parent, smallest)
                    parent = smallest
                }
            }
            return fans
        }
    }

    var isEmpty: Bool { self.heap.withLock { $0.isEmpty } }
}
