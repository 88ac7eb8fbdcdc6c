import BazaarcheCore
import Foundation
import Testing

/// DATABASE_READ_URL: search and figures read the replica; writes and reads of one's own records
/// stay on the primary; an unreachable replica costs latency, not availability.
@Suite struct ReadReplicaTests {
    /// The stand-in replica is a second copy of the migrated template that never receives the
    /// primary's writes, so which database answered is visible in the response.
    @Test func searchReadsTheReplicaAndOwnRecordsThePrimary() async throws {
        let replica = try await TestDatabase.shared.createDatabase()
        do {
            try await withApp(readReplica: replica.configuration) { api in
                let producer = try await api.producer(status: .verified)
                let id = try await api.product(producer, title: "مربای بهارنارنج")
                #expect(try await api.get("/v1/products/\(id)", token: producer.token).status == .ok)
                #expect(try await api.searchIDs("q=" + encoded("بهارنارنج")).isEmpty)
                let officer = try await api.token(.exportOfficer)
                #expect(try await api.get("/v1/export-figures?from=2026-01-01&to=2026-12-31", token: officer).status == .ok)
            }
        } catch {
            await TestDatabase.shared.dropDatabase(replica.name)
            throw error
        }
        await TestDatabase.shared.dropDatabase(replica.name)
    }

    @Test func anUnreachableReplicaFallsBackToThePrimary() async throws {
        // Nothing listens on port 1 of loopback: every connection attempt is refused.
        let closed = PostgresClient.Configuration(
            host: "127.0.0.1", port: 1, username: "nobody", password: nil, database: "nothing", tls: .disable)
        try await withApp(readReplica: closed) { api in
            let producer = try await api.producer(status: .verified)
            let id = try await api.product(producer, title: "مربای بهارنارنج")
            #expect(try await api.searchIDs("q=" + encoded("بهارنارنج")) == [id])
        }
    }
}
