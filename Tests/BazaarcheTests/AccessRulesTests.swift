import BazaarcheCore
import Foundation
import Testing

/// `Access` is the one definition of who reaches what: its Swift check and its SQL condition must
/// give the same answer for every kind, action and role, or a list and a single read could
/// disagree with the check made before a change.
@Suite struct AccessRulesTests {
    static func principal(
        _ role: Role, account: Int64 = 1, province: String? = nil, provinces: [String]? = nil, producer: Int64? = nil,
        partner: Int64? = nil, companyRole: CompanyRole? = nil
    ) -> Principal {
        Principal(
            accountID: account, login: "t\(account)", role: role, provinceCode: province, provinceCodes: provinces,
            producerID: producer, partnerID: partner, companyRole: companyRole)
    }

    /// Every role, plus the odd ones: anonymous, a producer account without a producer, a partner without a company.
    static let callers: [(String, Principal?)] = [
        ("anonymous", nil),
        ("admin", principal(.admin)),
        ("supervisor IR-23", principal(.supervisor, account: 2, province: "IR-23")),
        ("officer", principal(.exportOfficer, account: 3)),
        ("producer 42", principal(.producer, account: 5, province: "IR-23", producer: 42)),
        ("producer without producer", principal(.producer, account: 6, province: "IR-23")),
        ("partner account 7 of company 3", principal(.partner, account: 7, partner: 3)),
        ("partner account 8 without company", principal(.partner, account: 8)),
        ("implementer IR-23 and IR-10", principal(.implementer, account: 9, provinces: ["IR-23", "IR-10"])),
        ("implementer IR-10", principal(.implementer, account: 10, provinces: ["IR-10"])),
        ("viewer account 11 of company 3", principal(.partner, account: 11, partner: 3, companyRole: .viewer)),
    ]

    /// Owners covering every combination of the facts' sample values.
    static let owners: [Access.Owner] = {
        var all: [Access.Owner] = []
        for province in ["IR-23", "IR-10"] {
            for producer: Int64 in [42, 43] {
                for partner: Int64? in [3, 4, nil] {
                    for buyer: Int64 in [7, 8] {
                        for isPublic in [true, false] {
                            for isOpen in [true, false] {
                                for suppliable in [true, false] {
                                    all.append(
                                        Access.Owner(
                                            province: province, producer: producer, partner: partner, buyer: buyer,
                                            isPublic: isPublic, isOpen: isOpen, suppliable: suppliable))
                                }
                            }
                        }
                    }
                }
            }
        }
        return all
    }()

    /// The owners as rows of a VALUES list under alias `x`, with the columns `kind` keeps its facts in.
    static func rows(for kind: Access.Kind) -> SQL {
        var names = ["n", "suppliable"]
        for fact in Access.Fact.allCases {
            guard let column = kind.column(fact) else { continue }
            names.append(fact == .isOpen ? "status" : column)
        }
        let values: [SQL] = owners.enumerated().map { n, owner in
            var row: [SQL] = ["\(n)::int", "\(owner.suppliable)::boolean"]
            for fact in Access.Fact.allCases where kind.column(fact) != nil {
                switch fact {
                case .province: row.append("\(owner.province)::text")
                case .producer: row.append("\(owner.producer)::bigint")
                case .partner: row.append("\(owner.partner)::bigint")
                case .buyer: row.append("\(owner.buyer)::bigint")
                case .isPublic: row.append("\(owner.isPublic)::boolean")
                case .isOpen: row.append("\(owner.isOpen ? "open" : "closed")::text")
                case .suppliable: break
                }
            }
            return "(" + row.joined(separator: ", ") + ")"
        }
        return "(VALUES " + values.joined(separator: ", ") + ") AS x(\(unescaped: names.joined(separator: ", ")))"
    }

    @Test func theSwiftCheckAndTheSQLConditionAgreeForEveryKindActionAndRole() async throws {
        try await withApp { api in
            var compared = 0
            for kind in Access.Kind.allCases {
                let rows = Self.rows(for: kind)
                for action in Access.Action.allCases {
                    for (who, principal) in Self.callers {
                        let rule = Access.rule(for: principal, on: kind, to: action)
                        let condition = rule.condition(alias: "x", suppliable: "x.suppliable")
                        let query: SQL = "SELECT x.n FROM \(rows) WHERE \(condition) ORDER BY x.n"
                        let inSQL = try await api.db.rows(query.query).map { try $0.decode(Int.self) }
                        let inSwift = Self.owners.indices.filter { rule.allows(Self.owners[$0]) }
                        #expect(inSQL == inSwift, "\(kind) \(action) by \(who): SQL \(inSQL.count) rows, Swift \(inSwift.count)")
                        if rule.isUnrestricted { #expect(inSwift.count == Self.owners.count, "\(kind) \(action) by \(who)") }
                        compared += 1
                    }
                }
            }
            #expect(compared == Access.Kind.allCases.count * Access.Action.allCases.count * Self.callers.count)
        }
    }

    /// The rules themselves, as the API promises them (docs/api.md, "Scoping and tenancy").
    @Test func theRulesAreTheOnesTheAPIPromises() {
        func reaches(_ who: Int, _ kind: Access.Kind, _ owner: Access.Owner, to action: Access.Action = .see) -> Bool {
            Access.rule(for: Self.callers[who].1, on: kind, to: action).allows(owner)
        }
        let (anonymous, admin, supervisor, officer, producer, noProducer, partner, noCompany) = (0, 1, 2, 3, 4, 5, 6, 7)
        let tehranOrder = Access.Owner(province: "IR-23", producer: 43, partner: 3, buyer: 7)
        #expect(reaches(admin, .order, tehranOrder))
        #expect(reaches(supervisor, .order, tehranOrder))
        #expect(!reaches(supervisor, .order, Access.Owner(province: "IR-10", producer: 43, partner: 3, buyer: 7)))
        #expect(reaches(partner, .order, tehranOrder))  // its own company's order
        // An order another account of the company placed: every account of the company sees it, viewers too.
        let colleagues = Access.Owner(province: "IR-23", producer: 43, partner: 3, buyer: 11)
        #expect(reaches(partner, .order, colleagues) && reaches(10, .order, colleagues))
        #expect(!reaches(partner, .order, Access.Owner(province: "IR-23", producer: 43, partner: 4, buyer: 8)))
        // A partner account from before companies existed reaches the orders it placed, nothing else.
        #expect(reaches(noCompany, .order, Access.Owner(province: "IR-23", producer: 43, buyer: 8)))
        #expect(!reaches(noCompany, .order, Access.Owner(province: "IR-23", producer: 43, partner: 3, buyer: 7)))
        #expect(!reaches(producer, .order, tehranOrder))
        #expect(reaches(producer, .order, Access.Owner(province: "IR-10", producer: 42)))
        #expect(!reaches(officer, .order, tehranOrder) && !reaches(anonymous, .order, tehranOrder))
        // Products: everyone sees a listed one; a hidden one its producer, its province's staff, admins.
        let hidden = Access.Owner(province: "IR-10", producer: 43, isPublic: false)
        #expect(reaches(anonymous, .product, Access.Owner(province: "IR-10", producer: 43, isPublic: true)))
        #expect(!reaches(anonymous, .product, hidden) && !reaches(partner, .product, hidden))
        #expect(!reaches(officer, .product, hidden) && !reaches(supervisor, .product, hidden))
        #expect(reaches(supervisor, .product, Access.Owner(province: "IR-23", producer: 43)))
        #expect(reaches(admin, .product, hidden, to: .own))
        #expect(!reaches(supervisor, .product, Access.Owner(province: "IR-23"), to: .own))
        #expect(reaches(supervisor, .product, Access.Owner(province: "IR-23"), to: .supervise))
        #expect(!reaches(producer, .product, hidden, to: .supervise))
        // Shipments: officers see all; the recorder is the exporter company, or the producer when none.
        #expect(reaches(officer, .shipment, Access.Owner(province: "IR-10", producer: 43, partner: 4)))
        #expect(reaches(producer, .shipment, Access.Owner(producer: 42), to: .own))
        #expect(reaches(producer, .shipment, Access.Owner(producer: 42, partner: 3), to: .see))
        #expect(!reaches(producer, .shipment, Access.Owner(producer: 42, partner: 3), to: .own))
        #expect(reaches(partner, .shipment, Access.Owner(producer: 42, partner: 3), to: .own))
        #expect(!reaches(officer, .shipment, Access.Owner(partner: 3), to: .own))
        // Demands: a producer sees the open ones it could supply; only the company (or an admin) changes one.
        #expect(reaches(producer, .demand, Access.Owner(partner: 3, isOpen: true, suppliable: true)))
        #expect(!reaches(producer, .demand, Access.Owner(partner: 3, isOpen: false, suppliable: true)))
        #expect(!reaches(producer, .demand, Access.Owner(partner: 3, isOpen: true, suppliable: true), to: .own))
        #expect(reaches(partner, .demand, Access.Owner(partner: 3), to: .own))
        #expect(reaches(admin, .demand, Access.Owner(partner: 3), to: .own))
        // Accounts missing their tie reach nothing by it.
        #expect(!reaches(noProducer, .invitation, Access.Owner(producer: 42)))
        #expect(!reaches(noCompany, .invitation, Access.Owner(partner: 3)))
        #expect(!reaches(noProducer, .producer, Access.Owner(producer: 42), to: .own))
    }

    @Test func conditionsAreTheSQLOneWouldWriteWithEveryValueBound() {
        func sql(_ rule: Access.Rule, _ alias: String) -> (String, [String]) {
            let r = rule.condition(alias: alias, suppliable: "EXISTS (SELECT 1)").render()
            return (r.sql, r.values)
        }
        let supervisor = Self.callers[2].1!
        let producer = Self.callers[4].1!
        let partner = Self.callers[6].1!
        #expect(sql(supervisor.access(.order), "o") == ("o.province_code = $1", ["'IR-23'"]))
        #expect(sql(partner.access(.order), "o") == ("o.partner_id = $1", ["3"]))
        #expect(sql(Self.callers[7].1!.access(.order), "o") == ("o.partner_account_id = $1", ["8"]))
        #expect(sql(producer.access(.product), "p") == ("(p.searchable OR p.producer_id = $1)", ["42"]))
        #expect(sql(Access.rule(for: nil, on: .product), "p") == ("p.searchable", []))
        #expect(
            sql(producer.access(.shipment, to: .own), "s")
                == ("(s.recorded_by_partner_id IS NULL AND s.producer_id = $1)", ["42"]))
        #expect(sql(producer.access(.demand), "d") == ("(d.status = 'open' AND EXISTS (SELECT 1))", []))
        #expect(sql(Self.callers[1].1!.access(.invitation), "i") == ("true", []))
        #expect(sql(Self.callers[3].1!.access(.invitation), "i") == ("false", []))
        #expect(sql(Self.callers[5].1!.access(.order), "o") == ("false", []))
        #expect(Self.callers[1].1!.access(.order).isUnrestricted && !supervisor.access(.order).isUnrestricted)
        // An implementer reaches its provinces' producers, never orders or shipments, and supervises nothing.
        let implementer = Self.callers[8].1!
        #expect(sql(implementer.access(.producer), "p").0 == "p.province_code = ANY($1)")
        #expect(sql(implementer.access(.order), "o") == ("false", []))
        #expect(sql(implementer.access(.shipment), "s") == ("false", []))
        #expect(sql(implementer.access(.product, to: .supervise), "p") == ("false", []))
    }

    @Test func provinceReportsAreFilteredToTheSupervisorsProvinceOnly() throws {
        #expect(try Self.callers[1].1!.access(.provinceRecord).provinceFilter() == nil)
        #expect(try Self.callers[3].1!.access(.provinceRecord).provinceFilter() == nil)
        #expect(try Self.callers[2].1!.access(.provinceRecord).provinceFilter() == ["IR-23"])
        #expect(try Self.callers[8].1!.access(.provinceRecord).provinceFilter() == ["IR-23", "IR-10"])
        #expect(try Self.callers[9].1!.access(.provinceRecord).provinceFilter() == ["IR-10"])
        for who in [4, 6] {
            #expect(throws: APIError.self) { try Self.callers[who].1!.access(.provinceRecord).provinceFilter() }
        }
    }
}
