import Foundation
import Hummingbird

/// Safe retries for POSTs that create things (orders, shipments).
///
/// The key row is inserted in the same transaction as the work. A concurrent request with the same
/// key blocks on that row's unique index until the first commits, then finds it and replays the
/// stored response: a retry waits for the original instead of creating a duplicate. Business
/// refusals (4xx) are stored and replayed too; a failure of our own (5xx) stores nothing, so the
/// client's retry runs afresh.
public enum Idempotency {
    /// The response of a keyed POST as its route decided it (status, body, headers): stored with
    /// the key and replayed unchanged to every retry.
    public struct Reply: Sendable {
        public var status: HTTPResponse.Status
        public var json: String
        public var headers: HTTPFields
        public init(status: HTTPResponse.Status, json: String, headers: HTTPFields = [:]) {
            self.status = status
            self.json = json
            self.headers = headers
        }
    }

    /// Every keyed POST, once: the Idempotency-Key is required, the body decoded and validated,
    /// its fingerprint taken (the request as understood: `fingerprint` of the validated body as
    /// JSON with sorted keys, not its bytes), `work` runs in the key's transaction and returns a
    /// domain value, and `reply` (the route) turns it into the response that is stored for retries.
    public static func post<Body: Decodable, Valid: Sendable, Value: Sendable>(
        _ request: Request, context: AppRequestContext, db: Database, by principal: Principal, operation: String,
        decoding: Body.Type, validate: (Body) throws -> Valid, fingerprint: (Valid) -> any Encodable,
        _ work: @escaping @Sendable (Valid, PostgresConnection) async throws -> Value,
        reply: @escaping @Sendable (Value) -> Reply
    ) async throws -> Response {
        let key = try Self.key(from: request)
        let valid = try validate(try await JSONBody.decode(Body.self, from: request, context: context))
        let canonical = try canonical(fingerprint(valid))
        return try await run(
            db: db, accountID: principal.accountID, key: key, operation: operation, fingerprint: canonical,
            path: request.uri.path
        ) { connection in
            reply(try await work(valid, connection))
        }
    }

    /// Who claims which key for which request: what a one-statement keyed POST passes to PostgreSQL.
    public struct Claim: Sendable {
        public var accountID: Int64
        public var key: String
        public var operation: String
        public var fingerprint: String
    }

    /// What a one-statement keyed POST found: it did the work and stored `reply` in the same
    /// statement, or the key was there already (the stored row, `same` nil when it has gone),
    /// which is replayed or refused exactly as `run` does.
    public enum Attempt: Sendable {
        case done(Reply)
        case existing(same: Bool?, status: Int?, body: String?, eTag: String?, location: String?, retryAfter: String?)
    }

    /// A business refusal found by a one-statement attempt, whose statement (key claim included)
    /// was rolled back: it is stored for retries through `run`, without running the work again.
    public struct Refused: Error {
        public var error: APIError
        public init(_ error: APIError) { self.error = error }
    }

    /// `post` with the claim, the work and the stored response in ONE statement of its own implicit
    /// transaction (`attempt`, e.g. a server-side function; no BEGIN/COMMIT round trips). A
    /// `Refused` attempt falls back to `run`, which stores and replays the refusal as before.
    public static func postInOneStatement<Body: Decodable, Valid: Encodable & Sendable>(
        _ request: Request, context: AppRequestContext, db: Database, by principal: Principal, operation: String,
        decoding: Body.Type, validate: (Body) throws -> Valid,
        _ attempt: @escaping @Sendable (Valid, Claim, PostgresConnection) async throws -> Attempt
    ) async throws -> Response {
        let key = try Self.key(from: request)
        let valid = try validate(try await JSONBody.decode(Body.self, from: request, context: context))
        let claim = Claim(accountID: principal.accountID, key: key, operation: operation, fingerprint: try canonical(valid))
        let outcome: Attempt
        do {
            outcome = try await db.withConnection { connection in try await attempt(valid, claim, connection) }
        } catch let refused as Refused {
            return try await run(
                db: db, accountID: claim.accountID, key: key, operation: operation, fingerprint: claim.fingerprint,
                path: request.uri.path
            ) { _ in throw refused.error }
        }
        switch outcome {
        case .done(let reply):
            return response(reply, replayed: false)
        case .existing(let same, let status, let body, let eTag, let location, let retryAfter):
            return response(
                try stored(same: same, status: status, body: body, eTag: eTag, location: location, retryAfter: retryAfter),
                replayed: true)
        }
    }

    /// The fingerprint of a validated body: JSON with sorted keys.
    static func canonical(_ valid: any Encodable) throws -> String {
        // Not `JSONResponse.encode`: a hash input, not a response; its bytes must stay those of
        // keys already stored (camelCase names, slashes escaped) for their retries to replay.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(valid), as: UTF8.self)
    }

    /// `post` for a validated body that is its own fingerprint.
    public static func post<Body: Decodable, Valid: Encodable & Sendable, Value: Sendable>(
        _ request: Request, context: AppRequestContext, db: Database, by principal: Principal, operation: String,
        decoding: Body.Type, validate: (Body) throws -> Valid,
        _ work: @escaping @Sendable (Valid, PostgresConnection) async throws -> Value,
        reply: @escaping @Sendable (Value) -> Reply
    ) async throws -> Response {
        try await post(
            request, context: context, db: db, by: principal, operation: operation, decoding: Body.self, validate: validate,
            fingerprint: { $0 }, work, reply: reply)
    }

    static func key(from request: Request) throws -> String {
        guard let key = request.headers[.idempotencyKey]?.trimmingCharacters(in: .whitespaces), !key.isEmpty else {
            throw APIError.badRequest(
                code: "idempotency_key_required", "Send an Idempotency-Key header (a unique value per order you mean to place).")
        }
        guard key.count <= 200, key.allSatisfy({ $0.isASCII && !$0.isNewline }) else {
            throw APIError.badRequest(code: "idempotency_key_invalid", "The Idempotency-Key must be 1 to 200 ASCII characters.")
        }
        return key
    }

    static func run(
        db: Database, accountID: Int64, key: String, operation: String, fingerprint: String, path: String,
        _ work: @escaping @Sendable (PostgresConnection) async throws -> Reply
    ) async throws -> Response {
        let logger = db.logger
        let outcome: (Reply, replayed: Bool) = try await db.transaction { connection in
            // A retry waits for the original on its key row, but not forever: after 5 s it gets a
            // 409 with Retry-After instead of holding a pooled connection.
            try await connection.query("SET LOCAL lock_timeout = '5s'", logger: logger)
            // Opportunistic clean-up: keys are kept at least 24 hours (here: 48).
            if Int.random(in: 0..<200) == 0 {
                try await connection.query(
                    "DELETE FROM idempotency_keys WHERE created_at < now() - interval '48 hours'", logger: logger)
            }
            let inserted = try await connection.run(
                Prepared<ClaimKey>(accountID, key, operation, fingerprint), logger: logger)
            if inserted.isEmpty {
                let rows = try await connection.query(
                    """
                    SELECT operation = \(operation) AND request_hash = sha256(convert_to(\(fingerprint), 'UTF8')),
                           response_status, response_body,
                           response_headers->>'ETag', response_headers->>'Location', response_headers->>'Retry-After'
                    FROM idempotency_keys WHERE account_id = \(accountID) AND key = \(key)
                    """, logger: logger
                ).collect()
                guard let row = rows.first else {
                    return (try stored(same: nil, status: nil, body: nil, eTag: nil, location: nil, retryAfter: nil), true)
                }
                let (same, status, body, eTag, location, retryAfter) = try row.decode(
                    (Bool, Int?, String?, String?, String?, String?).self)
                return (
                    try stored(same: same, status: status, body: body, eTag: eTag, location: location, retryAfter: retryAfter),
                    true
                )
            }
            try await connection.query("SAVEPOINT idempotent_work", logger: logger)
            var result: Reply
            do {
                result = try await work(connection)
            } catch let error as APIError where (400..<500).contains(error.status.code) {
                try await connection.query("ROLLBACK TO SAVEPOINT idempotent_work", logger: logger)
                result = Reply(status: error.status, json: error.body(instance: path), headers: error.headers)
            }
            _ = try await connection.run(
                Prepared<StoreResponse>(
                    Int(result.status.code), result.json, result.headers[.eTag], result.headers[.location],
                    result.headers[.retryAfter], accountID, key),
                logger: logger)
            return (result, false)
        }
        return response(outcome.0, replayed: outcome.replayed)
    }

    /// The stored response of an existing key, for a retry: the same request gets it replayed; a
    /// different one under the same key is refused; a key without a response (its request still
    /// running, or gone) asks to retry shortly.
    static func stored(
        same: Bool?, status: Int?, body: String?, eTag: String?, location: String?, retryAfter: String?
    ) throws -> Reply {
        guard let same else {
            throw APIError(
                .conflict, code: "idempotency_in_progress", title: "A request with this key is in progress",
                detail: "Retry shortly.", headers: [.retryAfter: "1"])
        }
        guard same else {
            throw APIError(
                .unprocessableContent, code: "idempotency_key_reused", title: "Idempotency key reused",
                detail: "This Idempotency-Key was used with a different request; use a new key for a new request.")
        }
        guard let status, let body else {
            throw APIError(
                .conflict, code: "idempotency_in_progress", title: "A request with this key is in progress",
                detail: "Retry shortly.", headers: [.retryAfter: "1"])
        }
        var headers = HTTPFields()
        headers[.eTag] = eTag
        headers[.location] = location
        headers[.retryAfter] = retryAfter
        return Reply(status: HTTPResponse.Status(code: status), json: body, headers: headers)
    }

    static func response(_ reply: Reply, replayed: Bool) -> Response {
        var headers = reply.headers
        headers[.contentType] = reply.status.code >= 400 ? "application/problem+json" : "application/json; charset=utf-8"
        if replayed { headers[.idempotentReplayed] = "true" }
        return Response(status: reply.status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: reply.json)))
    }
}

extension Idempotency {
    /// Every keyed write runs these two: prepared once per connection.
    enum ClaimKey: StatementSQL {
        static let sql = """
            INSERT INTO idempotency_keys (account_id, key, operation, request_hash)
            VALUES ($1, $2, $3, sha256(convert_to($4, 'UTF8')))
            ON CONFLICT (account_id, key) DO NOTHING RETURNING 1
            """
    }
    /// The headers worth replaying (ETag, Location, Retry-After) are kept as a JSON object built
    /// by PostgreSQL (the JSON policy; a Swift encoder here cost 3% of the server's CPU in order
    /// placement), the names as HTTP writes them, absent headers left out.
    enum StoreResponse: StatementSQL {
        static let sql = """
            UPDATE idempotency_keys SET response_status = $1, response_body = $2,
              response_headers = jsonb_strip_nulls(jsonb_build_object('ETag', $3::text, 'Location', $4::text, 'Retry-After',
                $5::text))
            WHERE account_id = $6 AND key = $7
            """
    }
}

extension HTTPField.Name {
    public static let idempotentReplayed = Self("Idempotent-Replayed")!
}
