import BazaarcheCore
import Foundation
import Testing

/// sql/0010 moves a database of the previous version forward: shipments their recorders cleared
/// themselves leave the figures and wait for an officer, free-text offices become reference data.
@Suite struct ExportTrustMigrationTests {
    @Test func selfClearedShipmentsGoBackToDeclaredAndLeaveTheFigures() async throws {
        try await withUpgrade(
            from: "0010",
            seed: { client in
                try await seedProducer(client)
                try await client.query(
                    """
                    INSERT INTO partners (legal_national_id, name, kind, province_code) VALUES ('14007655406', 'صادرکننده',\
                     'exporter', 'IR-23')
                    """
                )
                try await client.query(
                    "INSERT INTO accounts (login, password_hash, role, producer_id) VALUES ('maker', '!', 'producer', 1)")
                try await client.query(
                    "INSERT INTO accounts (login, password_hash, role, partner_id) VALUES ('exporter', '!', 'partner', 1)")
                // Order 1 placed (the producer never answered), order 2 accepted.
                for status in ["placed", "accepted"] {
                    try await client.query(
                        """
                        INSERT INTO orders (partner_account_id, producer_id, province_code, status, total_rials,
                        delivery_province_code,
                          delivery_city, delivery_address, delivery_recipient, delivery_phone)
                        VALUES (2, 1, 'IR-00', \(status), 1000000, 'IR-23', 'تهران', 'x', 'y', '02166554433')
                        """)
                }
                // 1: the producer's own, a trillion dollars, cleared by itself at an office not seeded.
                // 2: an exporter's without an order, shipped by itself, office text blank.
                // 3: an exporter's linked to a placed order, cleared by itself, Arabic kaf and odd spaces.
                // 4: an exporter's linked to an accepted order, still declared.
                // 5: the office of 1 spelled with a double and a no-break space.
                let rows: [(Int64?, Int64?, String, Int64, String)] = [
                    (nil, nil, "گمرک آستارا", 100_000_000_000_000, "cleared"),
                    (1, nil, "   ", 50_000, "shipped"),
                    (1, 1, " گمرك  بازرگان ", 70_000, "cleared"),
                    (1, 2, "گمرک بازرگان", 90_000, "declared"),
                    (nil, nil, "گمرک \u{00A0}آستارا", 10_000, "declared"),
                ]
                for (n, row) in rows.enumerated() {
                    try await client.query(
                        """
                        INSERT INTO export_shipments (producer_id, order_id, recorded_by, recorded_by_partner_id, hs_code,
                        destination_country,
                          customs_declaration_no, fob_cents, net_weight_kg, export_date, customs_office, status)
                        VALUES (1, \(row.1), CASE WHEN \(row.0)::bigint IS NULL THEN 1 ELSE 2 END, \(row.0), '570110', 'IQ',
                        \("M-\(n)"),
                          \(row.3), 10, '2026-10-01', \(row.2), \(row.4))
                        """)
                }
                let before = try await client.query(
                    "SELECT shipments::int FROM export_rollups WHERE dims = 0 AND calendar = 'gregorian'"
                )
                .collect()[0].decode(Int.self)
                #expect(before == 3)  // the previous version counted what recorders cleared themselves

            },
            check: { client in

                let shipments = try await client.query(
                    """
                    SELECT s.status, s.producer_confirmed_at IS NOT NULL, s.customs_office_code, o.name_fa, s.verified_by,
                    s.version
                    FROM export_shipments s JOIN customs_offices o ON o.code = s.customs_office_code ORDER BY s.id
                    """
                ).collect().map { try $0.decode((String, Bool, String, String, Int64?, Int).self) }
                #expect(shipments.map(\.0) == ["declared", "declared", "declared", "declared", "declared"])
                #expect(shipments.map(\.1) == [true, false, false, true, true])
                #expect(shipments.map(\.3) == ["گمرک آستارا", "گمرک نامشخص", "گمرک بازرگان", "گمرک بازرگان", "گمرک آستارا"])
                #expect(
                    shipments[2].2 == "bazargan" && shipments[0].2.hasPrefix("legacy-") && shipments[1].2.hasPrefix("legacy-"))
                #expect(shipments[0].2 == shipments[4].2 && shipments[0].2 != shipments[1].2)
                #expect(shipments.allSatisfy { $0.4 == nil && $0.5 == 1 })
                #expect(
                    try await client.query("SELECT count(*)::int FROM customs_offices WHERE code LIKE 'legacy-%'").collect()[0]
                        .decode(Int.self) == 2)
                // One audit row per shipment moved back, from the status it had.
                let audit = try await client.query(
                    """
                    SELECT entity_id, from_status, to_status, reason FROM audit_events
                    WHERE action = 'export_shipment.verification_required' AND actor_role = 'system' AND entity_type =
                    'export_shipment'
                    ORDER BY entity_id
                    """
                ).collect().map { try $0.decode((Int64, String, String, String).self) }
                #expect(
                    audit.map { "\($0.0) \($0.1)>\($0.2)" } == ["1 cleared>declared", "2 shipped>declared", "3 cleared>declared"])
                #expect(audit.allSatisfy { $0.3 == "cleared before officer verification existed" })
                // The figures count none of them, and the rollups are those of a fresh aggregation.
                let counted = try await client.query(
                    "SELECT coalesce(sum(shipments), 0)::int, coalesce(sum(fob_cents), 0)::text FROM export_figure_rollups"
                ).collect()[0].decode((Int, String).self)
                #expect(counted.0 == 0 && counted.1 == "0")
                #expect(
                    try await client.query(
                        """
                        SELECT (SELECT count(*) FROM (SELECT * FROM export_figure_rollups WHERE shipments <> 0 EXCEPT SELECT *
                        FROM export_figure_rollups_fresh()) a)
                             + (SELECT count(*) FROM (SELECT * FROM export_figure_rollups_fresh() EXCEPT SELECT * FROM
                             export_figure_rollups) b)
                        """
                    ).collect()[0].decode(Int.self) == 0)
                // The upgraded rows obey the new rules: no counting without a verifier, nor clearing unconfirmed.
                try await client.query(
                    "INSERT INTO accounts (login, password_hash, role) VALUES ('officer', '!', 'export_officer')")
                await expectSQLState("23514") {
                    _ = try await client.query("UPDATE export_shipments SET status = 'cleared' WHERE id = 1")
                }
                await expectSQLState("23514") {
                    _ = try await client.query(
                        "UPDATE export_shipments SET status = 'cleared', verified_by = 3, verified_at = now() WHERE id = 2")
                }
                // An officer's (account 3) clearance of a confirmed one counts.
                try await client.query(
                    "UPDATE export_shipments SET status = 'cleared', verified_by = 3, verified_at = now() WHERE id = 4")
                #expect(
                    try await client.query(
                        "SELECT shipments::int, fob_cents::text FROM export_figure_rollups WHERE dims = 0 AND calendar = 'gregorian'"
                    ).collect()[0].decode((Int, String).self) == (1, "90000"))
            })
    }
}

/// sql/0030: the contract step of 0027 (the old rollups, their trigger and index go) and the
/// versions the figures' cache is validated against.
@Suite struct ExportFiguresCacheMigrationTests {
    @Test func contractStepDropsTheOldRollupsAndVersionsFollowEveryCountedChange() async throws {
        try await withUpgrade(
            from: "0030",
            seed: { client in
                try await seedProducer(client)
                try await client.query(
                    "INSERT INTO accounts (login, password_hash, role, producer_id) VALUES ('maker', '!', 'producer', 1)")
                try await client.query(
                    "INSERT INTO accounts (login, password_hash, role) VALUES ('officer', '!', 'export_officer')")
                for (n, date) in ["2026-05-10", "2026-07-13", "2026-07-14"].enumerated() {
                    try await client.query(
                        """
                        INSERT INTO export_shipments (producer_id, recorded_by, hs_code, destination_country, customs_declaration_no,
                          fob_cents, net_weight_kg, export_date, customs_office_code, status, producer_confirmed_at)
                        VALUES (1, 1, '570110', 'DE', \("V-\(n)"), 1000, 10, \(date)::date, 'bazargan', 'declared', now())
                        """)
                }
                try await client.query(
                    "UPDATE export_shipments SET status = 'cleared', verified_by = 2, verified_at = now() WHERE id = 1")
                #expect(
                    try await client.query(
                        "SELECT sum(shipments)::int FROM export_rollups WHERE dims = 0 AND calendar = 'gregorian'"
                    ).collect()[0].decode(Int.self) == 1)
            },
            check: { client in
                func one<T: PostgresDecodable>(_ sql: String, _: T.Type = T.self) async throws -> T {
                    try await client.query(PostgresQuery(unsafeSQL: sql)).collect()[0].decode(T.self)
                }
                func version(_ from: Int, _ to: Int) async throws -> Int64 {
                    try await one(
                        """
                        SELECT coalesce(sum(version), 0)::bigint FROM export_figure_versions
                        WHERE month = 0 OR month BETWEEN \(from) AND \(to)
                        """)
                }
                func fresh() async throws -> Int {
                    try await one(
                        """
                        SELECT ((SELECT count(*) FROM (SELECT * FROM export_figure_rollups WHERE shipments <> 0 EXCEPT SELECT *
                          FROM export_figure_rollups_fresh()) a)
                          + (SELECT count(*) FROM (SELECT * FROM export_figure_rollups_fresh() EXCEPT SELECT * FROM
                          export_figure_rollups) b))::int
                        """)
                }
                // The contract step: nothing of the old rollups is left.
                #expect(
                    try await one(
                        """
                        SELECT to_regclass('export_rollups') IS NULL AND to_regclass('export_rollup_dims') IS NULL
                          AND to_regclass('export_shipments_counted_idx') IS NULL
                          AND to_regprocedure('export_rollups_fresh()') IS NULL AND to_regprocedure('export_shipments_rollup()') IS NULL
                          AND NOT EXISTS (SELECT FROM pg_trigger WHERE tgname = 'export_shipments_rollup')
                        """, Bool.self))
                #expect(try await fresh() == 0)
                // A clearance bumps the version of its month, in its own transaction, and no other month's.
                let (may, july) = (try await version(202605, 202605), try await version(202607, 202607))
                try await client.query(
                    "UPDATE export_shipments SET status = 'cleared', verified_by = 2, verified_at = now() WHERE id = 2")
                #expect(try await version(202607, 202607) > july)
                #expect(try await version(202605, 202605) == may)
                #expect(try await fresh() == 0)
                // A shipment that does not count (declared, corrected) changes nothing the figures read.
                let before = try await version(202601, 202612)
                try await client.query("UPDATE export_shipments SET fob_cents = 2000 WHERE id = 3")
                #expect(try await version(202601, 202612) == before)
                // Cleared → shipped changes no figure and no version.
                let counted = try await version(202601, 202612)
                try await client.query("UPDATE export_shipments SET status = 'shipped' WHERE id = 2")
                #expect(try await version(202601, 202612) == counted)
                // Deleted: the month's version moves.
                try await client.query("DELETE FROM export_shipments WHERE id = 1")
                #expect(try await version(202605, 202605) > may)
                #expect(try await fresh() == 0)
                // The rebuild the previous release calls (oil prefixes) still works and bumps every month.
                let rebuilt = try await version(190001, 190001)
                try await client.query("SELECT export_rollups_rebuild()")
                #expect(try await version(190001, 190001) > rebuilt)
                #expect(try await fresh() == 0)
                // So does a renamed customs office (the figures show its name).
                let renamed = try await version(190001, 190001)
                try await client.query("UPDATE customs_offices SET name_en = 'Bazargan Border' WHERE code = 'bazargan'")
                #expect(try await version(190001, 190001) > renamed)
            })
    }
}
