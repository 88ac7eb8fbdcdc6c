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
                // A listing that exists only in the stand-in replica is what search finds: an
                // empty answer above is the replica answering, not search failing.
                let replicaOnly = try await withClient(replica.configuration) { client in
                    try await client.query(
                        """
                        INSERT INTO producers (national_id, first_name, last_name, mobile, province_code, city, status)
                        VALUES ('0013542419', 'رها', 'نادری', '09350000001', 'IR-00', 'اراک', 'applied')
                        """)
                    try await client.query("UPDATE producers SET status = 'screened'")
                    try await client.query("UPDATE producers SET status = 'verified'")
                    let rows = try await client.query(
                        """
                        INSERT INTO products (producer_id, province_code, title_fa, category_code, unit, price_rials, stock,
                        status, listed_at)
                        SELECT id, 'IR-00', 'مربای بهارنارنج کوهی', 'food', 'jar', 900000, 5, 'listed', now() FROM producers
                        RETURNING id
                        """)
                    var ids: [Int64] = []
                    for try await row in rows { ids.append(try row.decode(Int64.self)) }
                    return ids
                }
                #expect(replicaOnly.count == 1)
                #expect(try await api.searchIDs("q=" + encoded("بهارنارنج")) == replicaOnly)
                let officer = try await api.token(.exportOfficer)
                #expect(try await api.get("/v1/export-figures?from=2026-01-01&to=2026-12-31", token: officer).status == .ok)
            }
        } catch {
            await TestDatabase.shared.dropDatabase(replica.name)
            throw error
        }
        await TestDatabase.shared.dropDatabase(replica.name)
    }

    /// Figures read the replica, but never an answer older than what the primary acknowledged:
    /// the stand-in replica never receives the clearance, so the figures must come from the primary.
    @Test func figuresHaveAnAcknowledgedClearanceWhileTheReplicaLags() async throws {
        let replica = try await TestDatabase.shared.createDatabase()
        do {
            try await withApp(readReplica: replica.configuration) { api in
                let exporter = try await api.exporterToken()
                let officer = try await api.token(.exportOfficer)
                let maker = try await api.producer(province: "IR-23", status: .verified)
                try await api.shipment(exporter, producer: maker.id, fob: "10.00", on: "2026-10-05", officer: officer)
                let figures = try await api.get(FiguresCacheTests.october, token: officer)
                #expect(FiguresCacheTests().fob(figures) == "10.00")
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
