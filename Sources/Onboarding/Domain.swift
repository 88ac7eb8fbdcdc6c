import BazaarcheCore
import Foundation

/// کد ملی: ten digits; the tenth checks the first nine (weights 10…2, mod 11).
public enum NationalID {
    public static func isValid(_ id: String) -> Bool {
        let digits = id.compactMap { $0.isASCII ? $0.wholeNumberValue : nil }
        guard id.count == 10, digits.count == 10 else { return false }
        if Set(digits).count == 1 { return false }  // 0000000000 … 9999999999 are never issued
        let sum = (0..<9).reduce(0) { $0 + digits[$1] * (10 - $1) }
        let r = sum % 11
        return digits[9] == (r < 2 ? r : 11 - r)
    }
}

/// Iranian mobile numbers: 09 followed by nine digits. +98 / 0098 / 98 prefixes are normalised.
public enum Mobile {
    public static func normalize(_ text: String) -> String {
        var s = Digits.ascii(text).filter { !$0.isWhitespace && $0 != "-" }
        if s.hasPrefix("+98") {
            s = "0" + s.dropFirst(3)
        } else if s.hasPrefix("0098") {
            s = "0" + s.dropFirst(4)
        } else if s.hasPrefix("98") && s.count == 12 {
            s = "0" + s.dropFirst(2)
        }
        return s
    }

    public static func isValid(_ mobile: String) -> Bool {
        mobile.count == 11 && mobile.hasPrefix("09") && mobile.allSatisfy { $0.isASCII && $0.isNumber }
    }
}

public enum ProducerStatus: String, APIEnum {
    case applied, screened, verified, rejected, suspended, withdrawn

    /// applied → screened → verified; applied | screened → rejected | withdrawn (by the applicant);
    /// verified ⇄ suspended.
    public func canMove(to target: ProducerStatus) -> Bool {
        switch (self, target) {
        case (.applied, .screened), (.applied, .rejected), (.screened, .rejected), (.screened, .verified),
            (.verified, .suspended), (.suspended, .verified), (.applied, .withdrawn), (.screened, .withdrawn):
            return true
        default:
            return false
        }
    }

    /// Moves that must carry a reason for the audit trail.
    public var needsReason: Bool { self == .rejected || self == .suspended }

    /// A rejected or withdrawn application is over: its national ID and mobile may apply again.
    public var isClosed: Bool { self == .rejected || self == .withdrawn }
}

public enum CourseKind: String, APIEnum { case general, specialized }
public enum CourseMode: String, APIEnum {
    case online
    case inPerson = "in_person"
}
/// `standards`: preparing for a quality certificate against national standards (INSO and the like).
public enum CounselingTopic: String, APIEnum { case quality, packaging, branding, export, marketing, finance, standards }

/// The certificate a counselling session prepares for: the kinds a product certificate may have
/// (Catalog's `CertificateKind`, the same values as `certificates.kind`).
public enum CounselingCertificateKind: String, APIEnum {
    case inso
    case healthLicense = "health_license"
    case halal, iso22000
    case handicraftSeal = "handicraft_seal"
    case organic, other
}

/// A course module's kind: videos and documents are done when the producer records them; a live
/// session when the implementer records the producer's attendance.
public enum ModuleKind: String, APIEnum {
    case video, document
    case liveSession = "live_session"
}

/// The screening rubric. Each criterion is scored 0 (absent) to 5 (excellent); an assessment can
/// be completed only when every criterion is scored.
public enum AssessmentCriterion: String, APIEnum {
    /// The craft itself: quality and consistency of what the applicant makes.
    case skillLevel = "skill_level"
    /// Whether the applicant can produce regularly now: time, raw materials, a repeatable process.
    case productionReadiness = "production_readiness"
    /// The home workspace and tools, including hygiene where food is made.
    case spaceAndEquipment = "space_and_equipment"
    /// Demand for the product and the applicant's reach to buyers.
    case marketPotential = "market_potential"
    /// Commitment to the programme's path (training, certificates, selling) rather than a one-off
    /// loan; the plan's stated aim is producers who sell.
    case motivation

    public static let maxScore = 5
}

public enum AssessmentStatus: String, APIEnum { case draft, completed }

public enum Rubric {
    /// The criteria not yet scored, in rubric order.
    public static func missing(scored: Set<AssessmentCriterion>) -> [AssessmentCriterion] {
        AssessmentCriterion.allCases.filter { !scored.contains($0) }
    }
}

extension NationalID {
    /// Completes nine digits with their check digit (demo data and tests).
    public static func withCheckDigit(_ nine: String) -> String {
        let digits = nine.compactMap(\.wholeNumberValue)
        precondition(digits.count == 9)
        let r = (0..<9).reduce(0) { $0 + digits[$1] * (10 - $1) } % 11
        return nine + String(r < 2 ? r : 11 - r)
    }
}
