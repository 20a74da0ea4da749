import BoxOfficeDomain
import BoxOfficeStores
import Hummingbird
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle

/// The stores the services run on, as the core's protocols: PostgreSQL and Redis in an instance
/// (`init(_:configuration:)`), in-memory ones in the in-process contract tests.
public struct ServiceStores: Sendable {
    public var health: any StoreHealth
    public var catalog: any CatalogStore
    public var presales: any PresaleStore
    public var queue: any QueueStore
    public var reservations: any ReservationStore
    public var seatLocks: any SeatLocking
    public var balances: any BalanceStore
    public var payments: any PaymentStore
    public var administration: any ConcertAdminStore
    public var outbox: any Outbox
    public var publisher: any EventPublisher
    public var webhooks: any WebhookStore

    public init(
        health: any StoreHealth, catalog: any CatalogStore, presales: any PresaleStore, queue: any QueueStore,
        reservations: any ReservationStore, seatLocks: any SeatLocking, balances: any BalanceStore, payments: any PaymentStore,
        administration: any ConcertAdminStore, outbox: any Outbox, publisher: any EventPublisher, webhooks: any WebhookStore
    ) {
        self.health = health
        self.catalog = catalog
        self.presales = presales
        self.queue = queue
        self.reservations = reservations
        self.seatLocks = seatLocks
        self.balances = balances
        self.payments = payments
        self.administration = administration
        self.outbox = outbox
        self.publisher = publisher
        self.webhooks = webhooks
    }

    /// An instance's stores, over its two pools.
    public init(_ stores: Stores, configuration: AppConfiguration) {
        let database = stores.database
        self.init(
            health: stores, catalog: PostgresCatalogStore(database: database), presales: PostgresPresaleStore(database: database),
            queue: RedisQueueStore(redis: stores.redis), reservations: PostgresReservationStore(database: database),
            seatLocks: RedisSeatLocks(redis: stores.redis), balances: PostgresBalanceStore(database: database),
            payments: PostgresPaymentStore(database: database), administration: PostgresConcertAdminStore(database: database),
            outbox: PostgresOutbox(database: database),
            publisher: RedisStreamPublisher(redis: stores.redis, stream: configuration.events.stream, maxLength: configuration.events.streamMaxLength),
            webhooks: PostgresWebhookStore(database: database))
    }
}

/// Everything an instance needs, built once from the configuration: the services over their stores.
public struct AppDependencies: Sendable {
    public let configuration: AppConfiguration
    /// What /health/ready and /metrics ask of the store clients.
    public let health: any StoreHealth
    public let concerts: ConcertDirectory
    public let queue: QueueService
    public let catalog: CatalogService
    public let reservations: ReservationService
    public let balances: BalanceService
    public let payments: PaymentService
    public let administration: ConcertAdministration
    public let presales: PresaleService
    /// Publishes the transactional outbox to the event stream (a background job).
    public let relay: EventRelay
    public let webhooks: WebhookService
    /// Every response of this instance by status (the error-rate alert).
    public let responses = ResponseTally()

    public init(configuration: AppConfiguration, stores: ServiceStores, logger: Logger) {
        self.configuration = configuration
        self.health = stores.health
        self.concerts = ConcertDirectory(store: stores.catalog)
        self.presales = PresaleService(store: stores.presales, concerts: self.concerts)
        self.queue = QueueService(store: stores.queue, concerts: self.concerts, settings: configuration.queue, presales: self.presales)
        self.catalog = CatalogService(store: stores.catalog)
        self.reservations = ReservationService(
            store: stores.reservations, seatLocks: stores.seatLocks, window: self.queue, settings: configuration.reservations)
        self.balances = BalanceService(store: stores.balances, settings: configuration.balances)
        self.payments = PaymentService(store: stores.payments, window: self.queue, logger: logger)
        self.administration = ConcertAdministration(store: stores.administration)
        self.relay = EventRelay(outbox: stores.outbox, publisher: stores.publisher, settings: configuration.events, instanceID: configuration.instanceID)
        self.webhooks = WebhookService(store: stores.webhooks)
    }
}

/// The routes and middleware of an instance.
///
/// Middleware, outermost first: `Connection: close` answered in kind, the event stream's
/// `?token=` moved into a header (before any log sees it), instance/request ids (and rendering of
/// errors, so they carry the ids too), metrics (which see every error with its real status), the mapping of every
/// error to an `ApiError`, request logging. Each controller adds its routes to its own group.
public func buildRouter(
    _ dependencies: AppDependencies,
    registry: PrometheusCollectorRegistry,
    userAssertions: UserAssertionVerifier?,
    pages: WebPages
) -> Router<AppRequestContext> {
    // HEAD answers wherever GET does: the GET handler's status and headers, without the body.
    let router = Router(context: AppRequestContext.self, options: .autoGenerateHeadEndpoints)
    router.add(middleware: ConnectionCloseMiddleware())
    router.add(middleware: EventStreamQueryTokenMiddleware())
    router.add(middleware: InstanceHeadersMiddleware(instanceID: dependencies.configuration.instanceID))
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: ResponseTallyMiddleware(tally: dependencies.responses))
    router.add(middleware: ErrorMappingMiddleware())
    router.add(middleware: LogRequestsMiddleware(.debug))

    let queue = dependencies.queue
    OperationsController(
        health: dependencies.health, instanceID: dependencies.configuration.instanceID, registry: registry,
        administration: dependencies.administration
    ).addRoutes(to: router.group())
    QueueController(
        queue: queue, reservations: dependencies.reservations, userAssertions: userAssertions,
        heartbeat: .seconds(dependencies.configuration.eventHeartbeatSeconds),
        streams: EventStreamSlots(limit: dependencies.configuration.maxEventStreams)
    ).addRoutes(to: router.group("v1/queue"))
    CatalogController(catalog: dependencies.catalog, queue: queue).addRoutes(to: router.group("v1/concerts"))
    PresaleController(presales: dependencies.presales, queue: queue, userAssertions: userAssertions).addRoutes(to: router.group("v1/concerts"))
    ReservationController(reservations: dependencies.reservations, queue: queue).addRoutes(to: router.group("v1/reservations"))
    BalanceController(balances: dependencies.balances, queue: queue).addRoutes(to: router.group("v1/balance"))
    PaymentController(payments: dependencies.payments, queue: queue).addRoutes(to: router.group("v1/payments"))
    AdminController(
        administration: dependencies.administration, queue: queue, presales: dependencies.presales,
        adminToken: dependencies.configuration.adminToken
    )
        .addRoutes(to: router.group("v1/admin"))
    WebhookController(webhooks: dependencies.webhooks, adminToken: dependencies.configuration.adminToken).addRoutes(to: router.group("v1/admin"))
    PagesController(pages: pages).addRoutes(to: router.group())
    return router
}

/// The whole instance: HTTP server, the background jobs, and the store clients, which drain
/// and close after everything that uses them has stopped.
public func buildApplication(
    configuration: AppConfiguration,
    logger: Logger,
    registry: PrometheusCollectorRegistry = PrometheusMetricsFactory.defaultRegistry,
    runBackgroundJobs: Bool = true,
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) async throws -> some ApplicationProtocol {
    let userAssertions = try await UserAssertionVerifier.make(configuration.userAssertions)
    let stores = try Stores(configuration: configuration)
    let dependencies = AppDependencies(configuration: configuration, stores: ServiceStores(stores, configuration: configuration), logger: logger)
    let pages = try WebPages(
        directory: WebPages.locate(configured: configuration.webRoot),
        maxSeatsPerReservation: configuration.reservations.maxSeatsPerReservation)
    if let directory = pages.directory {
        logger.info("serving the web pages", metadata: ["directory": "\(directory)"])
    } else {
        logger.warning("no web pages found (set WEB_ROOT to the repository's web/ folder): GET / and /admin answer 404")
    }
    if configuration.queue.challengeSecret == nil {
        logger.warning("CHALLENGE_SECRET is not set: proof-of-work challenges verify only on the instance that issued them (set the same secret on every instance)")
    }
    // ServiceGroup stops services in reverse order: the store clients, first here, stop last.
    var services: [any Service] = [stores.database, stores.redis]
    // Every instance that answers polls keeps its own snapshots, whether or not it runs the jobs.
    if let interval = dependencies.queue.snapshotInterval {
        services.append(PeriodicJob.queueSnapshots(queue: dependencies.queue, interval: interval, logger: logger))
    }
    if runBackgroundJobs {
        let sweepInterval = configuration.jobs.sweepInterval
        services += [
            PeriodicJob.queuePromotion(
                queue: dependencies.queue, interval: configuration.jobs.promoteInterval, logger: logger
            ),
            PeriodicJob.holdSweeping(HoldSweeper(database: stores.database), interval: sweepInterval, logger: logger),
            PeriodicJob.idempotencyKeySweeping(
                IdempotencyKeySweeper(database: stores.database, retentionSeconds: configuration.jobs.idempotencyKeySeconds),
                interval: sweepInterval, logger: logger
            ),
            EventRelayJob(relay: dependencies.relay, database: stores.database.configuration, settings: configuration.events, logger: logger),
        ]
        // The HTTP client stops after the dispatcher that uses it (reverse order).
        let http = WebhookHTTPClient()
        services += [
            http,
            WebhookDispatcher(
                store: PostgresWebhookStore(database: stores.database), transport: http, settings: configuration.webhooks, logger: logger),
        ]
        if let url = configuration.alerts.url {
            let monitor = AlertMonitor(
                settings: configuration.alerts, url: url, instanceID: configuration.instanceID,
                sources: StoreAlertSources(database: stores.database, redis: stores.redis), ledger: PostgresAlertLedger(database: stores.database),
                postgresLedger: RedisAlertLedger(redis: stores.redis, key: AlertMonitor.postgresKey), queue: dependencies.queue, transport: http, responses: dependencies.responses, logger: logger)
            services.append(PeriodicJob.alertMonitoring(monitor, interval: configuration.alerts.checkInterval, logger: logger))
        }
    }
    return Application(
        router: buildRouter(dependencies, registry: registry, userAssertions: userAssertions, pages: pages),
        configuration: ApplicationConfiguration(
            address: .hostname(configuration.host, port: configuration.port),
            serverName: "boxoffice"
        ),
        services: services,
        onServerRunning: onServerRunning,
        logger: logger
    )
}
