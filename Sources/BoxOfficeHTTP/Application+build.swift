import BoxOfficeDomain
import Hummingbird
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle

/// Everything an instance needs, built once from the configuration.
public struct AppDependencies: Sendable {
    public let configuration: AppConfiguration
    public let stores: Stores
    public let concerts: ConcertDirectory
    public let queue: QueueService
    public let catalog: CatalogService
    public let reservations: ReservationService
    public let balances: BalanceService
    public let payments: PaymentService

    public init(configuration: AppConfiguration, stores: Stores, logger: Logger) {
        self.configuration = configuration
        self.stores = stores
        self.concerts = ConcertDirectory(database: stores.database)
        self.queue = QueueService(redis: stores.redis, concerts: self.concerts, settings: .init(configuration))
        self.catalog = CatalogService(database: stores.database)
        self.reservations = ReservationService(
            database: stores.database, redis: stores.redis, queue: self.queue,
            settings: .init(holdSeconds: configuration.holdSeconds, maxSeatsPerReservation: configuration.maxSeatsPerReservation)
        )
        self.balances = BalanceService(
            database: stores.database, settings: .init(maxCharge: configuration.maxCharge, maxBalance: configuration.maxBalance)
        )
        self.payments = PaymentService(database: stores.database, queue: self.queue, logger: logger)
    }
}

/// Closes the connection pools after the HTTP server has stopped.
struct StoresShutdownService: Service {
    let stores: Stores

    func run() async throws {
        try? await gracefulShutdown()
        self.stores.shutdown()
    }
}

public func buildRouter(
    _ dependencies: AppDependencies,
    registry: PrometheusCollectorRegistry,
    streamInterval: Duration = .seconds(1),
    heartbeatInterval: Duration = .seconds(10)
) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    router.add(middleware: InstanceHeadersMiddleware(instanceID: dependencies.configuration.instanceID))
    router.add(middleware: ProblemMiddleware())
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: LogRequestsMiddleware(.debug))

    OperationsController(stores: dependencies.stores, instanceID: dependencies.configuration.instanceID, registry: registry)
        .addRoutes(to: router)
    let queue = dependencies.queue
    router.addRoutes(
        QueueController(queue: queue, streamInterval: streamInterval, heartbeatInterval: heartbeatInterval).endpoints,
        atPath: "v1/queue"
    )
    router.addRoutes(CatalogController(catalog: dependencies.catalog, queue: queue).endpoints, atPath: "v1/concerts")
    router.addRoutes(ReservationController(reservations: dependencies.reservations, queue: queue).endpoints, atPath: "v1/reservations")
    router.addRoutes(BalanceController(balances: dependencies.balances, queue: queue).endpoints, atPath: "v1/balance")
    router.addRoutes(PaymentController(payments: dependencies.payments, queue: queue).endpoints, atPath: "v1/payments")
    return router
}

/// The whole instance: HTTP server, the promotion and sweeper jobs, graceful shutdown.
public func buildApplication(
    configuration: AppConfiguration,
    logger: Logger,
    registry: PrometheusCollectorRegistry = PrometheusMetricsFactory.defaultRegistry,
    runBackgroundJobs: Bool = true,
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) throws -> some ApplicationProtocol {
    let stores = try Stores(configuration: configuration)
    let dependencies = AppDependencies(configuration: configuration, stores: stores, logger: logger)
    // ServiceGroup stops services in reverse order: the pools close after every job that uses them.
    var services: [any Service] = [StoresShutdownService(stores: stores)]
    if runBackgroundJobs {
        services.append(QueuePromotionService(
            queue: dependencies.queue, concerts: dependencies.concerts,
            interval: .milliseconds(configuration.promoteIntervalMilliseconds), logger: logger
        ))
        services.append(HoldSweeperService(
            sweeper: HoldSweeper(database: stores.database, idempotencyKeySeconds: configuration.idempotencyKeySeconds),
            interval: .milliseconds(configuration.sweepIntervalMilliseconds), logger: logger
        ))
    }
    return Application(
        router: buildRouter(dependencies, registry: registry),
        configuration: ApplicationConfiguration(
            address: .hostname(configuration.host, port: configuration.port),
            serverName: "boxoffice"
        ),
        services: services,
        onServerRunning: onServerRunning,
        logger: logger
    )
}
