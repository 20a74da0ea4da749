// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "BoxOffice",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "boxoffice", targets: ["boxoffice"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.0.0"),
    ],
    targets: [
        // C shims over the system libraries.
        .systemLibrary(
            name: "CHiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"]), .brew(["hiredis"])]
        ),
        .systemLibrary(
            name: "CLibpq",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),
        // Dedicated threads that own one blocking connection each.
        .target(
            name: "ConnectionPool",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Redis client over hiredis.
        .target(
            name: "HiredisClient",
            dependencies: [
                "CHiredis", "ConnectionPool",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // PostgreSQL client over libpq.
        .target(
            name: "LibpqClient",
            dependencies: [
                "CLibpq", "ConnectionPool",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The core: models, rules, services and the store protocols they run on. It imports no store
        // client; the compiler keeps it that way (Docs/architecture.md).
        .target(
            name: "BoxOfficeDomain",
            dependencies: [
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The stores: the core's protocols over PostgreSQL (SQL, PL/pgSQL, migrations) and Redis
        // (keys, Lua, one typed call per script).
        .target(
            name: "BoxOfficeStores",
            dependencies: [
                "BoxOfficeDomain",
                "HiredisClient",
                "LibpqClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The SQL functions, one current definition each, applied after the migrations.
            resources: [
                .embedInCode("Postgres/Functions/boxoffice_events.sql"),
                .embedInCode("Postgres/Functions/boxoffice_hold.sql"),
                .embedInCode("Postgres/Functions/boxoffice_pay.sql"),
            ]
        ),
        // HTTP layer.
        .target(
            name: "BoxOfficeHTTP",
            dependencies: [
                "BoxOfficeDomain",
                "BoxOfficeStores",
                // Only to map the clients' errors to 503 (ErrorMappingMiddleware).
                "ConnectionPool",
                "HiredisClient",
                "LibpqClient",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "boxoffice",
            dependencies: [
                "BoxOfficeHTTP",
                "BoxOfficeDomain",
                "BoxOfficeStores",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The on-sale rehearsal's load generator (make rehearsal, bench/rehearsal.py).
        .executableTarget(
            name: "boxoffice-rehearsal",
            dependencies: [
                "BoxOfficeDomain",
                "BoxOfficeStores",
                "HiredisClient",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // Shared helpers for the integration tests (servers, HTTP racing).
        .target(
            name: "TestSupport",
            dependencies: [
                "HiredisClient",
                "LibpqClient",
                "BoxOfficeDomain",
                "BoxOfficeStores",
                "BoxOfficeHTTP",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            path: "Tests/TestSupport"
        ),
        // In-memory stores for the tests that run the services (and the HTTP layer) without servers.
        .target(
            name: "StoreFakes",
            dependencies: ["BoxOfficeDomain", .product(name: "NIOConcurrencyHelpers", package: "swift-nio")],
            path: "Tests/StoreFakes"
        ),
        .testTarget(name: "HiredisClientTests", dependencies: ["HiredisClient", "TestSupport"]),
        .testTarget(name: "LibpqClientTests", dependencies: ["LibpqClient", "TestSupport"]),
        .testTarget(
            name: "ConnectionPoolTests",
            dependencies: [
                "ConnectionPool",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "BoxOfficeDomainTests",
            dependencies: [
                "BoxOfficeDomain",
                "StoreFakes",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "BoxOfficeStoresTests", dependencies: ["BoxOfficeStores", "BoxOfficeDomain", "HiredisClient"]),
        .testTarget(
            name: "BoxOfficeHTTPTests",
            dependencies: [
                "BoxOfficeHTTP", "BoxOfficeDomain", "ConnectionPool", "HiredisClient", "LibpqClient", "StoreFakes",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .testTarget(
            name: "BoxOfficeIntegrationTests",
            dependencies: [
                "BoxOfficeHTTP",
                "BoxOfficeDomain",
                "BoxOfficeStores",
                "HiredisClient",
                "LibpqClient",
                "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
