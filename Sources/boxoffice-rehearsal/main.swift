import BoxOfficeDomain
import BoxOfficeStores
import Foundation
import HiredisClient
import Synchronization

// The on-sale rehearsal's load generator (issue 22): REHEARSAL_FANS fans arrive over a ramp
// around a scheduled opening and each does what the fan's page does (see Rehearsal). One process,
// one heap of due steps, one pool of connections: 100,000 fans cost memory, not threads. At the
// end it reads every token's arrival number and admission time from Redis and prints one JSON
// report (bench/rehearsal.py turns it into the table in Docs/benchmarks.md).
//
// Environment: REHEARSAL_BASE (http://127.0.0.1:8080), REHEARSAL_CONCERT, REHEARSAL_FANS (1000),
// REHEARSAL_RAMP_SECONDS (60), REHEARSAL_OPENS_AT_MS (the opening, ms since the epoch),
// REHEARSAL_GIVE_UP / _VANISH / _ABANDON (shares of fans, 0.03 / 0.03 / 0.10),
// REHEARSAL_DURATION_SECONDS (600: the longest the sale may take), REHEARSAL_CONNECTIONS (512),
// REHEARSAL_STREAM_CONNECTIONS (2500), REDIS_URL / REDIS_CLUSTER_NODES (to read admissions).

let environment = ProcessInfo.processInfo.environment
func setting(_ name: String, _ fallback: String) -> String { environment[name].flatMap { $0.isEmpty ? nil : $0 } ?? fallback }

let settings = Rehearsal.Settings(
    fans: Int(setting("REHEARSAL_FANS", "1000"))!,
    rampSeconds: Double(setting("REHEARSAL_RAMP_SECONDS", "60"))!,
    opensAtMilliseconds: Int(setting("REHEARSAL_OPENS_AT_MS", "0"))!,
    concertID: Int(setting("REHEARSAL_CONCERT", "1"))!,
    giveUpShare: Double(setting("REHEARSAL_GIVE_UP", "0.03"))!,
    vanishShare: Double(setting("REHEARSAL_VANISH", "0.03"))!,
    abandonShare: Double(setting("REHEARSAL_ABANDON", "0.10"))!
)
let duration = Double(setting("REHEARSAL_DURATION_SECONDS", "600"))!
let api = API(
    base: setting("REHEARSAL_BASE", "http://127.0.0.1:8080"), connections: Int(setting("REHEARSAL_CONNECTIONS", "512"))!,
    streamConnections: Int(setting("REHEARSAL_STREAM_CONNECTIONS", "2500"))!, timeout: .seconds(10))
let recorder = Recorder()
let rehearsal = Rehearsal(api: api, settings: settings, recorder: recorder)
let fans = (0..<settings.fans).map(Fan.init(index:))
let schedule = Schedule()
for fan in fans {
    schedule.add(fan.index, at: recorder.start + .seconds(settings.rampSeconds * Double(fan.index) / Double(max(1, settings.fans))))
}

let inFlight = Atomic<Int>(0)
let deadline = recorder.start + .seconds(duration)
var usage = rusage()
await withDiscardingTaskGroup { group in
    group.addTask {
        while !Task.isCancelled {
            recorder.sample()
            try? await Task.sleep(for: .seconds(1))
        }
    }
    while ContinuousClock.now < deadline, !(schedule.isEmpty && inFlight.load(ordering: .relaxed) == 0) {
        for index in schedule.due(by: .now) {
            inFlight.add(1, ordering: .relaxed)
            group.addTask {
                if let next = await rehearsal.step(fans[index]) { schedule.add(index, at: next) }
                inFlight.subtract(1, ordering: .relaxed)
            }
        }
        try? await Task.sleep(for: .milliseconds(5))
    }
    group.cancelAll()
}
let wall = recorder.elapsedSeconds
getrusage(RUSAGE_SELF.rawValue, &usage)
let cpuSeconds = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
try? await api.shutdown()

// Admissions as Redis recorded them: each token's arrival number and admission time (ms).
let redisConfiguration = try RedisConfiguration(url: setting("REDIS_URL", "redis://127.0.0.1:16379/0"))
let redis: RedisClient =
    if let nodes = environment["REDIS_CLUSTER_NODES"], !nodes.isEmpty {
        RedisClient(cluster: nodes.split(separator: ",").compactMap { RedisNodeAddress($0) }, configuration: redisConfiguration, poolSize: 2,
                    acquireTimeout: .seconds(10))
    } else {
        RedisClient(configuration: redisConfiguration, poolSize: 2, acquireTimeout: .seconds(10))
    }
struct Admission {
    let fan: Fan
    let seq: Int
    let admitted: Int?
}
var admissions: [Admission] = []
let withTokens = fans.filter { $0.token != nil }
for batch in stride(from: 0, to: withTokens.count, by: 500) {
    let slice = Array(withTokens[batch..<min(withTokens.count, batch + 500)])
    // One shard's keys share a slot: a batch of one line is one pipeline, on a cluster too.
    let byShard = Dictionary(grouping: slice) { QueueToken.parse($0.token!)?.shard ?? 0 }
    for (shard, group) in byShard {
        let keys = QueueKeys(concertID: settings.concertID, shard: shard)
        // A token's record is "user sequence issued"; its admission "admitted-ms until-ms" (QueueKeys).
        let replies = try await redis.pipeline(
            group.flatMap { [["HGET", RedisArgument(keys.tokens), RedisArgument($0.token!)], ["HGET", RedisArgument(keys.admissions), RedisArgument($0.token!)]] })
        for (index, fan) in group.enumerated() {
            let record = replies[2 * index].string?.split(separator: " ") ?? []
            guard record.count == 3, let seq = Int(record[1]) else { continue }
            let admitted = replies[2 * index + 1].string?.split(separator: " ").first.flatMap { Int($0) }
            admissions.append(Admission(fan: fan, seq: seq, admitted: admitted))
        }
    }
}
redis.shutdown()

// FIFO after the opening: among fans who arrived after it and were admitted, the admission order
// (admission time, ties in one promotion tick by arrival) against the arrival order.
let late = admissions.filter { !$0.fan.arrivedBeforeOpening && $0.admitted != nil }
let byArrival = late.sorted { $0.seq < $1.seq }
let byAdmission = late.sorted { ($0.admitted!, $0.seq) < ($1.admitted!, $1.seq) }
var rankOfAdmission: [Int: Int] = [:]
for (rank, admission) in byAdmission.enumerated() { rankOfAdmission[admission.fan.index] = rank }
let displacements = byArrival.enumerated().map { abs($0.offset - rankOfAdmission[$0.element.fan.index]!) }
let lastEarly = admissions.filter { $0.fan.arrivedBeforeOpening }.compactMap(\.admitted).max() ?? 0
let lateBeforeEarly = late.filter { $0.admitted! < lastEarly }.count

// The promise at arrival against the admission (past position 20, as the ETA tests judge it).
let ratios = late.compactMap { admission -> Double? in
    guard let promised = admission.fan.promisedSeconds, promised > 0, (admission.fan.promisedPosition ?? 0) > 20 else { return nil }
    return Double(admission.admitted! - admission.fan.arrivedAtMilliseconds) / 1000 / Double(promised)
}.sorted()
func quantile(_ values: [Double], _ q: Double) -> Double? { values.isEmpty ? nil : values[min(values.count - 1, Int(q * Double(values.count)))] }

func orNull(_ value: Double?) -> Any { value.map { $0 as Any } ?? NSNull() }
let state = recorder.snapshot
var latency: [String: [String: Double]] = [:]
for (route, values) in state.latencies {
    let sorted = values.sorted()
    latency[route] = ["count": Double(sorted.count), "p50": quantile(sorted, 0.5) ?? 0, "p99": quantile(sorted, 0.99) ?? 0, "max": sorted.last ?? 0]
}
let report: [String: Any] = [
    "fans": settings.fans, "rampSeconds": settings.rampSeconds, "wallSeconds": wall, "generatorCpuSeconds": cpuSeconds,
    "generatorCores": cpuSeconds / wall, "arrivals": state.arrivals, "errors": state.errors, "outcomes": state.outcomes,
    "pollsPerSecond": state.pollsPerSecond, "pollsPeak": state.pollsPerSecond.max() ?? 0, "streamsPerSecond": state.streamsPerSecond,
    "streamsPeak": state.streamsPeak, "streamsRefused": state.streamsRefused, "latencyMs": latency, "seatsBought": state.seatsBought,
    "soldOutSeenAtSeconds": orNull(state.soldOutAt), "admitted": admissions.filter { $0.admitted != nil }.count,
    "lateAdmitted": late.count, "displacementMax": displacements.max() ?? 0, "displaced": displacements.filter { $0 > 0 }.count,
    "lateAdmittedBeforeEarly": lateBeforeEarly, "etaJudged": ratios.count,
    "etaP10": orNull(quantile(ratios, 0.1)), "etaP50": orNull(quantile(ratios, 0.5)), "etaP90": orNull(quantile(ratios, 0.9)),
    "etaWithin15": ratios.filter { abs($0 - 1) <= 0.15 }.count,
]
let json = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys, .prettyPrinted])
FileHandle.standardOutput.write(json)
print()
