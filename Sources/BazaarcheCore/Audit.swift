import Logging
import PostgresNIO

/// The append-only audit trail: every status change and account change, written in the same
/// transaction as the change itself.
public enum Audit {
    public static func record(
        on connection: PostgresConnection, logger: Logger, actor: Principal?, actorRole: String? = nil,
        entityType: String, entityID: Int64,
        provinceCode: String?, action: String, from: String?, to: String?, reason: String? = nil
    ) async throws {
        _ = try await connection.run(
            Prepared<Insert>(
                actor?.accountID, actorRole ?? actor?.role.rawValue ?? "public", entityType, entityID, provinceCode, action,
                from, to, reason),
            logger: logger)
    }

    enum Insert: StatementSQL {
        static let sql = """
            INSERT INTO audit_events (actor_account_id, actor_role, entity_type, entity_id, province_code, action, from_status,
              to_status, reason)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            """
    }
}
