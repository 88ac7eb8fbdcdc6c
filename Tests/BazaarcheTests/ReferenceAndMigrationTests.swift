import BazaarcheCore
import Foundation
import Testing

@Suite struct ReferenceDataTests {
    @Test func referenceDataIsCompleteAndPublic() async throws {
        try await withApp { api in
            let provinces = try await api.get("/v1/provinces")
            #expect(provinces.status == .ok)
            #expect(provinces.items.count == 31)
            #expect(provinces.items.first?["code"] as? String == "IR-00")
            #expect(provinces.items.first?["name_fa"] as? String == "مرکزی")
            let countries = try await api.get("/v1/countries")
            #expect(countries.items.count == 249)
            let iran = countries.items.first { $0["alpha2"] as? String == "IR" }
            #expect(iran?["alpha3"] as? String == "IRN")
            #expect(iran?["numeric"] as? String == "364")
            let chapters = try await api.get("/v1/hs-chapters")
            #expect(chapters.items.count == 97)
            #expect(chapters.items.filter { $0["reserved"] as? Bool == true }.map { $0["chapter"] as? Int } == [77])
            let categories = try await api.get("/v1/categories")
            let codes = Set(categories.items.compactMap { $0["code"] as? String })
            for top in [
                "food", "dairy", "herbal", "handicrafts", "carpets", "textiles", "leather", "pottery", "woodwork", "jewellery",
                "cosmetics",
            ] {
                #expect(codes.contains(top), "\(top)")
            }
            #expect(categories.items.allSatisfy { ($0["parent_code"] as? String).map(codes.contains) ?? true })
        }
    }

    @Test func persianNamesUsePersianLetters() async throws {
        try await withApp { api in
            let rows = try await api.db.rows(
                """
                SELECT count(*)::int FROM (SELECT name_fa FROM provinces UNION ALL SELECT name_fa FROM countries
                  UNION ALL SELECT name_fa FROM categories) n WHERE name_fa ~ '[يك]'
                """)
            #expect(try rows[0].decode(Int.self) == 0)
        }
    }
}

@Suite struct MigrationTests {
    @Test func migrationsApplyOnceEvenWhenRunConcurrently() async throws {
        let configuration = try await TestDatabase.shared.createEmptyDatabase()
        let migrator = await TestDatabase.shared.migrator
        let logger = await TestDatabase.shared.logger
        try await withClient(configuration) { client in
            let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
                for _ in 0..<4 { group.addTask { try await migrator.migrate(client: client, logger: logger) } }
                return try await group.reduce(into: [[Int]]()) { $0.append($1) }
            }
            // Exactly one runner applied everything; the others found nothing left.
            #expect(applied.filter { !$0.isEmpty }.count == 1)
            #expect(applied.flatMap { $0 }.sorted() == migrator.migrations.map(\.version))
            let again = try await migrator.migrate(client: client, logger: logger)
            #expect(again.isEmpty)
            let rows = try await client.query("SELECT count(*)::int FROM schema_migrations").collect()
            #expect(try rows[0].decode(Int.self) == migrator.migrations.count)
        }
    }

    @Test func schemaRefusesWhatTheRulesForbid() async throws {
        try await withApp { api in
            let producer = try await api.producer()
            // Invalid national ID straight into the table.
            await expectSQLState("23514") {
                try await api.db.execute("UPDATE producers SET national_id = '0013542418' WHERE id = \(producer.id)")
            }
            // A move the lifecycle does not allow, bypassing the API.
            await expectSQLState("23514") {
                try await api.db.execute("UPDATE producers SET status = 'verified' WHERE id = \(producer.id)")
            }
            // The audit trail is append-only.
            for statement in ["UPDATE audit_events SET reason = 'edited'", "DELETE FROM audit_events", "TRUNCATE audit_events"] {
                do {
                    try await api.db.client.query(PostgresQuery(unsafeSQL: statement))
                    Issue.record("\(statement) succeeded")
                } catch let error as PSQLError {
                    #expect(error.serverInfo?[.sqlState] == "42501", "\(statement)")
                    #expect(error.serverInfo?[.message] == "audit_events is append-only")
                }
            }
            let rows = try await api.db.rows("SELECT count(*)::int FROM audit_events WHERE reason IS DISTINCT FROM 'edited'")
            #expect(try rows[0].decode(Int.self) >= 1)
        }
    }
}
