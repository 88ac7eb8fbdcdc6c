import BazaarcheCore
import Foundation
import Testing

/// GET /v1/hs-codes and /v1/hs-codes/{code}: the HS2022 nomenclature, browsed and searched in
/// English and Persian. Expected codes are the official nomenclature's (heading 09.10 has six
/// subheadings: 0910.11, .12, .20, .30, .91, .99; chapter 09 has headings 09.01 to 09.10).
@Suite struct HSCodesTests {
    static func codes(_ reply: Reply) -> [String] { reply.items.compactMap { $0["code"] as? String } }

    @Test func browsesByLevelAndParentInTreeOrderWithPersianTitles() async throws {
        try await withApp { api in
            let saffron = ["091011", "091012", "091020", "091030", "091091", "091099"]
            #expect(try await api.hsCodes("parent=0910") == saffron)
            #expect(try await api.hsCodes("parent=09&level=4") == (1...10).map { String(format: "09%02d", $0) })
            #expect(try await api.hsCodes("parent=09&level=6").isEmpty, "a heading's children are not the chapter's")
            // Every chapter, each with a Persian title, paged through cursors.
            var chapters: [[String: Any]] = []
            var cursor: String? = nil
            repeat {
                let reply = try await api.get("/v1/hs-codes?level=2&limit=40" + (cursor.map { "&cursor=\($0)" } ?? ""))
                #expect(reply.status == .ok && reply.headers[.cacheControl] == "public, max-age=3600")
                chapters += reply.items
                cursor = reply.json["next_cursor"] as? String
            } while cursor != nil
            #expect(chapters.count == 97)
            #expect(chapters.compactMap { $0["title_fa"] as? String }.count == 97)
            #expect(chapters.first?["code"] as? String == "01" && chapters.last?["code"] as? String == "99")
            // All 1,229 headings, each once, in code order.
            var headings: [String] = []
            cursor = nil
            repeat {
                let reply = try await api.get("/v1/hs-codes?level=4&limit=200" + (cursor.map { "&cursor=\($0)" } ?? ""))
                headings += Self.codes(reply)
                cursor = reply.json["next_cursor"] as? String
            } while cursor != nil
            #expect(headings.count == 1229 && Set(headings).count == 1229 && headings == headings.sorted())
            // A heading precedes its subheadings, which precede the next heading.
            #expect(try await api.hsCodes("q=0910&limit=3") == ["0910", "091011", "091012"])
            let row = try #require(try await api.get("/v1/hs-codes?q=091020").items.first)
            #expect(row["level"] as? Int == 6 && row["parent"] as? String == "0910" && row["section"] as? String == "II")
            #expect(row["title_en"] as? String == "Spices; saffron" && row["title_fa"] as? String == "زعفران")
            // Codes Bazaarche has no Persian title for say so with null (computers, 84.71).
            let computers = try #require(try await api.get("/v1/hs-codes?q=8471&level=4").items.first)
            #expect(computers["title_fa"] is NSNull && (computers["title_en"] as? String)?.isEmpty == false)
        }
    }

    @Test func searchFindsEnglishAndPersianTitlesAndCodePrefixes() async throws {
        try await withApp { api in
            // Persian, as typed with Arabic kaf and yeh and without the ZWNJ of «کفپوش‌های».
            let carpets = ["57", "5701", "5702", "5703", "5704", "5705"]
            let arabicLetters = try await api.hsCodes("q=" + encoded("كفپوشهاي"))
            #expect(arabicLetters == carpets)
            #expect(try await api.hsCodes("q=" + encoded("کفپوش‌های")) == carpets)
            #expect(try await api.hsCodes("q=" + encoded("کف پوش")) == carpets, "a space inside a word still matches")
            #expect(try await api.hsCodes("q=" + encoded("زعفران")) == ["0910", "091020"])
            #expect(try await api.hsCodes("q=" + encoded("عسل طبیعی")).starts(with: ["04", "0409", "040900"]))
            // English, case-insensitively; every word must match.
            #expect(try await api.hsCodes("q=SAFFRON") == ["0910", "091020"])
            #expect(try await api.hsCodes("q=" + encoded("saffron spices")) == ["0910", "091020"])
            #expect(try await api.hsCodes("q=" + encoded("saffron carpets")).isEmpty)
            // Code prefixes: dotted, in Persian digits, and a national 8-digit code finds its subheading.
            #expect(try await api.hsCodes("q=0910.20") == ["091020"])
            #expect(try await api.hsCodes("q=" + encoded("۰۹۱۰۲۰۱۰")) == ["091020"])
            #expect(try await api.hsCodes("q=" + encoded("0910 زعفران")) == ["0910", "091020"])
            #expect(try await api.hsCodes("q=0902&level=6") == ["090210", "090220", "090230", "090240"])
            // Distilled waters (rosewater) are the aqueous distillates of heading 33.01, «عرقیات».
            #expect(try await api.hsCodes("q=" + encoded("عرقيات")) == ["3301", "330190"])
        }
    }

    @Test func badParametersAre422AndUnknownCodes404() async throws {
        try await withApp { api in
            for (query, field) in [
                ("level=3", "level"), ("level=x", "level"), ("parent=abc", "parent"), ("parent=1", "parent"),
                ("q=" + String(repeating: "a", count: 201), "q"), ("limit=0", "limit"), ("cursor=zzz", "cursor"),
            ] {
                let reply = try await api.get("/v1/hs-codes?" + query)
                #expect(reply.status == .unprocessableContent && reply.fields == [field], "\(query): \(reply.text)")
            }
            // One code: a chapter, a heading, a subheading; a national code resolves to its subheading.
            #expect(try await api.get("/v1/hs-codes/09").string("title_fa") == "قهوه، چای، ماته و ادویه")
            #expect(try await api.get("/v1/hs-codes/0910").int("level") == 4)
            let national = try await api.get("/v1/hs-codes/09102010")
            #expect(national.status == .ok && national.string("code") == "091020" && national.string("title_fa") == "زعفران")
            #expect(try await api.get("/v1/hs-codes/" + encoded("۵۷۰۱۱۰")).string("code") == "570110")
            for code in ["091013", "0999", "77", "091", "abc", "12345678901"] {
                let reply = try await api.get("/v1/hs-codes/\(code)")
                #expect(reply.status == .notFound && reply.code == "not_found", "\(code): \(reply.text)")
            }
        }
    }

    @Test func chaptersCarryTheirPersianTitles() async throws {
        try await withApp { api in
            let items = try await api.get("/v1/hs-chapters").items
            #expect(items.count == 97)
            let byCode = Dictionary(uniqueKeysWithValues: items.map { ($0["code"] as! String, $0) })
            #expect(byCode["09"]?["title_fa"] as? String == "قهوه، چای، ماته و ادویه")
            #expect(byCode["57"]?["title_fa"] as? String == "فرش و سایر کفپوش‌های نسجی")
            #expect(byCode["77"]?["title_fa"] is NSNull && byCode["77"]?["reserved"] as? Bool == true)
            #expect(items.filter { $0["title_fa"] is String }.count == 96)
        }
    }
}

extension API {
    /// The codes GET /v1/hs-codes answers for `query`, in order.
    func hsCodes(_ query: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [String] {
        let reply = try await get("/v1/hs-codes?" + query, sourceLocation: sourceLocation)
        #expect(reply.status == .ok, "\(query): \(reply.text)", sourceLocation: sourceLocation)
        return HSCodesTests.codes(reply)
    }
}
