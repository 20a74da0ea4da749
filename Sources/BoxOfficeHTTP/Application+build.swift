import BoxOfficeDomain
import BoxOfficeStores
import Hummingbird
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle

/// Everything an instance needs, built once from the configuration: the services over their stores.
public struct AppDependencies: Sendable {
    public let configuration: AppConfiguration
    public let stores: Stores
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

    public init(configuration: AppConfiguration, stores: Stores, logger: Logger) {
        let database = stores.database
        let catalogStore = PostgresCatalogStore(database: database)
        self.configuration = configuration
        self.stores = stores
        self.concerts = ConcertDirectory(store: catalogStore)
        self.presales = PresaleService(store: PostgresPresaleStore(database: database), concerts: self.concerts)
        self.queue = QueueService(store: RedisQueueStore(redis: stores.redis), concerts: self.concerts, settings: configuration.queue, presales: self.presales)
        self.catalog = CatalogService(store: catalogStore)
        self.reservations = ReservationService(
            store: PostgresReservationStore(database: database), seatLocks: RedisSeatLocks(redis: stores.redis), window: self.queue,
            settings: configuration.reservations
        )
        self.balances = BalanceService(
            store: PostgresBalanceStore(database: database),
            settings: configuration.balances
        )
        self.payments = PaymentService(store: PostgresPaymentStore(database: database), window: self.queue, logger: logger)
        self.administration = ConcertAdministration(store: PostgresConcertAdminStore(database: database))
        self.relay = EventRelay(
            outbox: PostgresOutbox(database: database),
            publisher: RedisStreamPublisher(redis: stores.redis, stream: configuration.events.stream, maxLength: configuration.events.streamMaxLength),
            settings: configuration.events, instanceID: configuration.instanceID)
        self.webhooks = WebhookService(store: PostgresWebhookStore(database: database))
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
        stores: dependencies.stores, instanceID: dependencies.configuration.instanceID, registry: registry,
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
    let dependencies = AppDependencies(configuration: configuration, stores: stores, logger: logger)
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
