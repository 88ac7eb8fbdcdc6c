import PostgresNIO

/// Who may see or change what, in one place. A `Rule` is one definition read two ways:
/// `allows(_:)` checks an object's owner in Swift, `condition(alias:)` is the same rule as a SQL
/// condition for a WHERE clause, so a list, a single read and a locking `SELECT … FOR UPDATE`
/// apply the very rule the Swift check does. `AccessRulesTests` evaluates both on PostgreSQL for every
/// kind, action and role. Role gates (403 for a role that never may) stay at the route; a rule
/// decides which objects of a kind a caller reaches (404 for the others).
public enum Access {
    /// The kinds of object whose reach depends on the caller.
    public enum Kind: String, CaseIterable, Sendable {
        case producer, product, order, shipment, demand, invitation, partner
        /// The event log: an event concerns a province, a producer and a partner company (each may be NULL).
        case event
        /// Rows kept per province: reports, quotas, audit events, enrolments (by the producer's province).
        case provinceRecord
    }

    public enum Action: String, CaseIterable, Sendable {
        /// Read it; unless a stricter action applies, also act on it (the role decides which moves).
        case see
        /// Change it as its owner: a product's producer, a shipment's recorder, a demand's company,
        /// the invited producer, the producer withdrawing itself. Admins own products and demands.
        case own
        /// Act as staff over it: an admin, or the supervisor of its province.
        case supervise
    }

    /// What says whose an object is. A kind has some of these, in the columns `Kind.column` names.
    public enum Fact: String, CaseIterable, Sendable {
        case province, producer
        /// The partner company: of a demand, invitation or order (the buying company), or the one
        /// that recorded a shipment.
        case partner
        /// The account that placed an order (reaches it only when that account has no company).
        case buyer
        /// Seen by everyone: a listed product of a verified producer (`searchable`).
        case isPublic
        /// An open demand.
        case isOpen
        /// For demands: the calling producer has a product passing the demand's hard filters.
        /// Only Matching can phrase that in SQL; it passes the fragment to `condition`.
        case suppliable
    }

    /// The ownership facts of one object, for the Swift check.
    public struct Owner: Sendable, Equatable {
        public var province: String?
        public var producer: Int64?
        public var partner: Int64?
        public var buyer: Int64?
        public var isPublic: Bool
        public var isOpen: Bool
        public var suppliable: Bool

        public init(
            province: String? = nil, producer: Int64? = nil, partner: Int64? = nil, buyer: Int64? = nil,
            isPublic: Bool = false, isOpen: Bool = false, suppliable: Bool = false
        ) {
            (self.province, self.producer, self.partner, self.buyer) = (province, producer, partner, buyer)
            (self.isPublic, self.isOpen, self.suppliable) = (isPublic, isOpen, suppliable)
        }
    }

    /// The rule for `principal` (nil: anonymous) on objects of `kind`.
    public static func rule(for principal: Principal?, on kind: Kind, to action: Action = .see) -> Rule {
        Rule(kind: kind, term: term(for: principal, on: kind, to: action))
    }

    // The one definition. Every case a role is not named in reaches nothing.
    static func term(for principal: Principal?, on kind: Kind, to action: Action) -> Term {
        // Everyone sees a listed product of a verified producer; whoever sees its producer sees the rest.
        if kind == .product && action == .see {
            guard let principal else { return .isTrue(.isPublic) }
            return .any([.isTrue(.isPublic), term(for: principal, on: .producer, to: .see)])
        }
        guard let p = principal else { return .never }
        let myProvince = Term.equals(
            .province, p.provinceCodes.count > 1 ? .texts(p.provinceCodes) : p.provinceCodes.first.map(Value.text))
        let myProducer = Term.equals(.producer, p.producerID.map(Value.int))
        let myCompany = Term.equals(.partner, p.partnerID.map(Value.int))
        let hasProvince = kind.column(.province) != nil
        switch (action, p.role) {
        case (.supervise, .admin): return .always
        case (.supervise, .supervisor): return hasProvince ? myProvince : .never
        case (.supervise, _): return .never
        case (.see, .admin): return .always
        case (.see, .exportOfficer): return kind == .shipment || kind == .provinceRecord ? .always : .never
        case (.see, .supervisor):
            return [.producer, .product, .order, .shipment, .provinceRecord, .event].contains(kind) ? myProvince : .never
        // The implementing body works with applicants and producers; orders and shipments are not its business.
        case (.see, .implementer): return [.producer, .product, .provinceRecord].contains(kind) ? myProvince : .never
        case (.see, .producer):
            switch kind {
            case .producer, .product, .order, .shipment, .invitation, .event: return myProducer
            case .demand: return .all([.isTrue(.isOpen), .isTrue(.suppliable)])
            case .partner, .provinceRecord: return .never
            }
        case (.see, .partner):
            switch kind {
            // Every account of the company sees its orders; a partner account from before companies
            // existed (no company) still sees the ones it placed itself.
            case .order: return p.partnerID == nil ? .equals(.buyer, .int(p.accountID)) : myCompany
            case .shipment, .demand, .invitation, .partner, .event: return myCompany
            case .producer, .product, .provinceRecord: return .never
            }
        case (.see, _): return .never
        case (.own, .admin): return kind == .product || kind == .demand ? .always : .never
        case (.own, .producer):
            switch kind {
            case .product, .producer, .invitation: return myProducer
            // The producer recorded a shipment itself when no exporter company did.
            case .shipment: return .all([.isNull(.partner), myProducer])
            default: return .never
            }
        case (.own, .partner): return kind == .shipment || kind == .demand ? myCompany : .never
        case (.own, _): return .never
        }
    }

    enum Value: Sendable, Equatable {
        case int(Int64)
        case text(String)
        /// One of several (an implementer's provinces).
        case texts([String])
    }

    indirect enum Term: Sendable, Equatable {
        case always, never
        /// The fact equals the caller's value; a caller without that value (nil) matches nothing.
        case equals(Fact, Value?)
        case isTrue(Fact)
        case isNull(Fact)
        case all([Term])
        case any([Term])

        /// Folds `always`/`never` and single-term lists, so `condition` stays the SQL one would write.
        var simplified: Term {
            switch self {
            case .equals(_, nil): return .never
            case .all(let terms):
                let kept = terms.map(\.simplified).filter { $0 != .always }
                if kept.contains(.never) { return .never }
                return kept.isEmpty ? .always : kept.count == 1 ? kept[0] : .all(kept)
            case .any(let terms):
                let kept = terms.map(\.simplified).filter { $0 != .never }
                if kept.contains(.always) { return .always }
                return kept.isEmpty ? .never : kept.count == 1 ? kept[0] : .any(kept)
            default: return self
            }
        }
    }

    /// One caller's reach over one kind of object.
    public struct Rule: Sendable {
        public let kind: Kind
        let term: Term

        init(kind: Kind, term: Term) {
            self.kind = kind
            self.term = term.simplified
        }

        /// Every object of the kind: no condition needed.
        public var isUnrestricted: Bool { term == .always }

        /// Either rule suffices (e.g. the owner or the province's staff).
        public func or(_ other: Rule) -> Rule {
            precondition(kind == other.kind, "rules of different kinds")
            return Rule(kind: kind, term: .any([term, other.term]))
        }

        public func allows(_ owner: Owner) -> Bool { Self.evaluate(term, owner) }

        /// For reads filtered by province (reports, rollups): nil for every province, else the
        /// provinces the rule reaches; 403 when it reaches none or depends on more than the province.
        /// In SQL: `(\(provinces)::text[] IS NULL OR x.province_code = ANY(\(provinces)))`.
        public func provinceFilter() throws -> [String]? {
            switch term {
            case .always: return nil
            case .equals(.province, .text(let code)?): return [code]
            case .equals(.province, .texts(let codes)?): return codes
            default: throw APIError.forbidden("No province's records are available to this account.")
            }
        }

        static func evaluate(_ term: Term, _ owner: Owner) -> Bool {
            switch term {
            case .always: return true
            case .never: return false
            case .equals(let fact, let value):
                switch (fact, value) {
                case (.province, .text(let v)?): return owner.province == v
                case (.province, .texts(let v)?): return owner.province.map(v.contains) ?? false
                case (.producer, .int(let v)?): return owner.producer == v
                case (.partner, .int(let v)?): return owner.partner == v
                case (.buyer, .int(let v)?): return owner.buyer == v
                default: return false
                }
            case .isTrue(let fact):
                switch fact {
                case .isPublic: return owner.isPublic
                case .isOpen: return owner.isOpen
                case .suppliable: return owner.suppliable
                default: return false
                }
            case .isNull(let fact):
                switch fact {
                case .province: return owner.province == nil
                case .producer: return owner.producer == nil
                case .partner: return owner.partner == nil
                case .buyer: return owner.buyer == nil
                default: return false
                }
            case .all(let terms): return terms.allSatisfy { evaluate($0, owner) }
            case .any(let terms): return terms.contains { evaluate($0, owner) }
            }
        }

        /// The rule as a SQL condition on the kind's table under `alias` (a name in code).
        /// `suppliable` is the SQL for `Fact.suppliable`, needed only by a producer's demand rule.
        public func condition(alias: String, suppliable: SQL? = nil) -> SQL {
            render(term, alias: alias, suppliable: suppliable)
        }

        func render(_ term: Term, alias: String, suppliable: SQL?) -> SQL {
            func column(_ fact: Fact) -> SQL {
                if fact == .suppliable {
                    guard let suppliable else { preconditionFailure("the demand rule needs the suppliable fragment") }
                    return suppliable
                }
                guard let name = kind.column(fact) else { preconditionFailure("\(kind) has no \(fact)") }
                return "\(unescaped: alias).\(unescaped: name)"
            }
            switch term {
            case .always: return "true"
            case .never: return "false"
            case .equals(let fact, .int(let v)?): return "\(column(fact)) = \(v)"
            case .equals(let fact, .text(let v)?): return "\(column(fact)) = \(v)"
            case .equals(let fact, .texts(let v)?): return "\(column(fact)) = ANY(\(v))"
            case .equals: return "false"
            case .isTrue(let fact): return column(fact)
            case .isNull(let fact): return "\(column(fact)) IS NULL"
            case .all(let terms):
                return "(" + terms.map { render($0, alias: alias, suppliable: suppliable) }.joined(separator: " AND ") + ")"
            case .any(let terms):
                return "(" + terms.map { render($0, alias: alias, suppliable: suppliable) }.joined(separator: " OR ") + ")"
            }
        }
    }
}

extension Access.Kind {
    /// The column (or expression over the row) that holds `fact`, nil when the kind has none.
    public func column(_ fact: Access.Fact) -> String? {
        switch (self, fact) {
        case (.producer, .province), (.product, .province), (.order, .province), (.shipment, .province),
            (.provinceRecord, .province), (.event, .province):
            return "province_code"
        case (.producer, .producer), (.partner, .partner): return "id"
        case (.product, .producer), (.order, .producer), (.shipment, .producer), (.invitation, .producer), (.event, .producer):
            return "producer_id"
        case (.event, .partner): return "partner_id"
        case (.product, .isPublic): return "searchable"
        case (.order, .buyer): return "partner_account_id"
        case (.shipment, .partner): return "recorded_by_partner_id"
        case (.demand, .partner), (.invitation, .partner), (.order, .partner): return "partner_id"
        case (.demand, .isOpen): return "status = 'open'"
        default: return nil
        }
    }
}
