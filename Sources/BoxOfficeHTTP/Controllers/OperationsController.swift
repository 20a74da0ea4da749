import BoxOfficeDomain
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore
import Prometheus

/// /health/live, /health/ready and /metrics.
struct OperationsController {
    let health: any StoreHealth
    let instanceID: String
    let registry: PrometheusCollectorRegistry
    /// The sales figures of every concert, read at most every `salesReadInterval` (a scrape in
    /// between shows the last ones): the query sums every concert's seats and payments, and
    /// scrapes must not compete with the sale for the sales pool.
    let administration: ConcertAdministration
    let salesReads = SalesReads()
    static let salesReadInterval = Duration.seconds(5)

    /// When the sales figures were last read.
    final class SalesReads: Sendable {
        private let last = NIOLockedValueBox<ContinuousClock.Instant?>(nil)

        /// True (and the time taken) when the last read is `interval` old, or there was none.
        func claim(interval: Duration, now: ContinuousClock.Instant = .now) -> Bool {
            self.last.withLockedValue { last in
                if let previous = last, now - previous < interval { return false }
                last = now
                return true
            }
        }
    }

    struct Health: Encodable {
        let status: String
        let instance: String
        let failing: [String]?
    }

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.get("health/live") { _, context in
            try context.json(Health(status: "ok", instance: self.instanceID, failing: nil))
        }
        group.get("health/ready") { _, context in try await self.ready(context) }
        group.get("metrics") { _, _ in await self.metrics() }
    }

    /// 503 names whichever store did not answer.
    func ready(_ context: AppRequestContext) async throws -> Response {
        let failing = await self.health.failing()
        if failing.isEmpty {
            return try context.json(Health(status: "ok", instance: self.instanceID, failing: nil))
        }
        return try context.json(Health(status: "unavailable", instance: self.instanceID, failing: failing), status: .serviceUnavailable)
    }

    /// `boxoffice_pool_connections{pool,state}` and `boxoffice_pool_waiting{pool}`.
    static var connections: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "boxoffice", metricName: "pool", unitName: "connections",
            helpText: "Connections (= dedicated threads) of a pool: its size, and how many are busy."
        )
    }

    static var waiting: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "boxoffice", metricName: "pool", unitName: "waiting", helpText: "Calls waiting for a free connection."
        )
    }

    /// `boxoffice_concert_seats{concert,state}` (held, sold, available) and `boxoffice_concert_revenue_won{concert}`.
    static var seats: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "boxoffice", metricName: "concert", unitName: "seats", helpText: "Seats of a concert by state, over all its dates.")
    }

    static var revenue: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "boxoffice", metricName: "concert", unitName: "revenue_won", helpText: "Sum of a concert's payments.")
    }

    func metrics() async -> Response {
        for (name, pool) in self.health.pools {
            self.registry.makeGauge(descriptor: Self.connections, labels: [("pool", name), ("state", "busy")]).set(Double(pool.busy))
            self.registry.makeGauge(descriptor: Self.connections, labels: [("pool", name), ("state", "size")]).set(Double(pool.size))
            self.registry.makeGauge(descriptor: Self.waiting, labels: [("pool", name)]).set(Double(pool.waiting))
        }
        // One query for every concert, at most every few seconds; while PostgreSQL is down the scrape
        // still answers, with the last values.
        if self.salesReads.claim(interval: Self.salesReadInterval), let sales = try? await self.administration.salesFiguresByConcert() {
            for (concertID, figures) in sales {
                let concert = String(concertID)
                for (state, count) in [("held", figures.held), ("sold", figures.sold), ("available", figures.available)] {
                    self.registry.makeGauge(descriptor: Self.seats, labels: [("concert", concert), ("state", state)]).set(Double(count))
                }
                self.registry.makeGauge(descriptor: Self.revenue, labels: [("concert", concert)]).set(Double(figures.revenue))
            }
        }
        var buffer: [UInt8] = []
        self.registry.emit(into: &buffer)
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: buffer))
        )
    }
}
