// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "bazaarche",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "bazaarche", targets: ["bazaarche"])
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "5.0.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // HMAC-SHA256 for webhook signatures (already in the graph through PostgresNIO).
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        // HTTP conventions (errors, JSON, pagination, auth), database access, migrations.
        .target(
            name: "BazaarcheCore",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "Reference", dependencies: ["BazaarcheCore"], swiftSettings: swiftSettings),
        .target(
            name: "Accounts",
            dependencies: [
                "BazaarcheCore",
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Outgoing messages to people outside the system: SMS through a gateway (or a development sink).
        .target(
            name: "Messaging",
            dependencies: ["BazaarcheCore", .product(name: "AsyncHTTPClient", package: "async-http-client")],
            swiftSettings: swiftSettings
        ),
        .target(name: "Onboarding", dependencies: ["BazaarcheCore", "Accounts", "Messaging"], swiftSettings: swiftSettings),
        .target(name: "Catalog", dependencies: ["BazaarcheCore"], swiftSettings: swiftSettings),
        .target(name: "Orders", dependencies: ["BazaarcheCore", "Catalog"], swiftSettings: swiftSettings),
        .target(name: "Partners", dependencies: ["BazaarcheCore"], swiftSettings: swiftSettings),
        .target(name: "Matching", dependencies: ["BazaarcheCore", "Catalog", "Orders"], swiftSettings: swiftSettings),
        .target(name: "Exports", dependencies: ["BazaarcheCore"], swiftSettings: swiftSettings),
        .target(
            name: "Integrations",
            dependencies: [
                "BazaarcheCore", .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // Wires the feature modules into one application; shared by the executable and the tests.
        .target(
            name: "BazaarcheApp",
            dependencies: [
                "BazaarcheCore", "Reference", "Accounts", "Messaging", "Onboarding", "Catalog", "Orders", "Partners", "Matching",
                "Exports", "Integrations",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "bazaarche", dependencies: ["BazaarcheApp"], swiftSettings: swiftSettings),
        .testTarget(
            name: "BazaarcheTests",
            dependencies: [
                "BazaarcheApp", "Partners", "Exports", "Messaging", "Integrations",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
