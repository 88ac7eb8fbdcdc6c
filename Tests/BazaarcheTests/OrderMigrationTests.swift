import BazaarcheCore
import Foundation
import Testing

/// sql/0011 moves a database of the previous version forward: packaging declarations wait for
/// review unless staff had approved them, open orders get deadlines, the delivery record is
/// recounted.
@Suite struct PackagingOrdersMigrationTests {
    @Test func aDatabaseOfThePreviousVersionUpgrades() async throws {
        try await withUpgrade(
            from: "0011",
            seed: { client in
                try await seedProducer(client)
                try await client.query(
                    "INSERT INTO accounts (login, password_hash, role, partner_id) VALUES ('buyer', '!', 'admin', NULL)")
                try await client.query(
                    """
                    INSERT INTO products (producer_id, province_code, title_fa, category_code, unit, price_rials, stock, status,
                    packaging_level)
                    SELECT 1, 'IR-00', t, 'food.bakery', 'piece', 1000000, 10, 'listed', 3 FROM unnest(ARRAY['الف', 'ب']) t
                    """)
                // Product 1: approved by staff under the old model; product 2: the producer's own claim.
                try await client.query(
                    """
                    INSERT INTO product_packaging (product_id, level, improvement_status)
                    VALUES (1, 'export', 'approved'), (2, 'export', 'in_progress')
                    """)
                for status in ["placed", "shipped", "delivered", "rejected"] {
                    try await client.query(
                        """
                        INSERT INTO orders (partner_account_id, producer_id, province_code, status, total_rials,
                        delivery_province_code,
                          delivery_city, delivery_address, delivery_recipient, delivery_phone, tracking_code, created_at)
                        VALUES (1, 1, 'IR-00', \(status), 1000000, 'IR-23', 'تهران', 'x', 'y', '02166554433',
                          CASE WHEN \(status) IN ('shipped', 'delivered') THEN 'T' END, now() - interval '30 days')
                        """)
                }
                try await client.query("INSERT INTO producer_order_stats VALUES (1, 1, 1)")

            },
            check: { client in

                let packaging = try await client.query(
                    """
                    SELECT k.product_id, k.level, k.approved_level, k.review_status, p.packaging_level::int
                    FROM product_packaging k JOIN products p ON p.id = k.product_id ORDER BY 1
                    """
                ).collect().map { try $0.decode((Int64, String, String?, String, Int).self) }
                #expect(packaging.map(\.2) == ["export", nil])
                #expect(packaging.map(\.3) == ["approved", "pending_review"])
                #expect(packaging.map(\.4) == [3, 0])
                #expect(
                    try await client.query(
                        """
                        SELECT count(*)::int FROM audit_events WHERE action = 'packaging.review_migrated' AND actor_role =\
                         'system'
                        """
                    ).collect()[0].decode(Int.self) == 2)
                // Open orders get a full window from the upgrade, not from placement 30 days ago.
                let deadlines = try await client.query(
                    """
                    SELECT status, expires_at > now() + interval '71 hours', confirm_by > now() + interval '13 days',
                    rejection_reason_code
                    FROM orders ORDER BY id
                    """
                ).collect().map { try $0.decode((String, Bool?, Bool?, String?).self) }
                #expect(deadlines.map(\.1) == [true, nil, nil, nil])
                #expect(deadlines.map(\.2) == [nil, true, nil, nil])
                #expect(deadlines.map(\.3) == [nil, nil, nil, nil])
                // The record is recounted by the new rule: the old rejection (no reason code) still counts.
                #expect(
                    try await client.query("SELECT delivered, failed FROM producer_order_stats WHERE producer_id = 1").collect()[
                        0
                    ]
                    .decode((Int, Int).self) == (1, 1))
                // And the new rules hold on upgraded rows.
                try await client.query("UPDATE orders SET status = 'expired' WHERE id = 1")
                try await client.query("UPDATE orders SET status = 'disputed' WHERE id = 2")
                #expect(
                    try await client.query("SELECT delivered, failed FROM producer_order_stats WHERE producer_id = 1").collect()[
                        0
                    ]
                    .decode((Int, Int).self) == (1, 1))
                // A dispute upheld by staff counts as a failure.
                try await client.query("UPDATE orders SET status = 'dispute_upheld' WHERE id = 2")
                #expect(
                    try await client.query("SELECT delivered, failed FROM producer_order_stats WHERE producer_id = 1").collect()[
                        0
                    ]
                    .decode((Int, Int).self) == (1, 2))
                // Declarations from before have no declarer, so any reviewer may decide them.
                #expect(
                    try await client.query("SELECT count(*)::int FROM product_packaging WHERE declared_by IS NULL").collect()[0]
                        .decode(Int.self) == 2)
            })
    }
}
