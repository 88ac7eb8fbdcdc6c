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
            // (the subheadings of chapter 57 follow: they are «… کفپوش‌های نسجی …» too).
            let arabicLetters = try await api.hsCodes("q=" + encoded("كفپوشهاي"))
            #expect(
                Array(arabicLetters.prefix(6)) == carpets
                    && arabicLetters.dropFirst(6).allSatisfy { $0.count == 6 && $0.hasPrefix("57") })
            #expect(try await api.hsCodes("q=" + encoded("کفپوش‌های")) == arabicLetters)
            let spaced = try await api.hsCodes("q=" + encoded("کف پوش"))
            #expect(
                Array(spaced.prefix(6)) == carpets && Set(spaced) == Set(arabicLetters), "a space inside a word still matches")
            #expect(try await api.hsCodes("q=" + encoded("زعفران")) == ["091020", "0910"], "the title that is the word first")
            #expect(try await api.hsCodes("q=" + encoded("عسل طبیعی")).starts(with: ["0409", "040900", "04"]))
            // English, case-insensitively; every word must match.
            #expect(try await api.hsCodes("q=SAFFRON") == ["0910", "091020"])
            #expect(try await api.hsCodes("q=" + encoded("saffron spices")) == ["0910", "091020"])
            #expect(try await api.hsCodes("q=" + encoded("saffron carpets")).isEmpty)
            // Code prefixes: dotted, in Persian digits, and a national 8-digit code finds its subheading.
            #expect(try await api.hsCodes("q=0910.20") == ["091020"])
            #expect(try await api.hsCodes("q=" + encoded("۰۹۱۰۲۰۱۰")) == ["091020"])
            #expect(try await api.hsCodes("q=" + encoded("0910 زعفران")) == ["0910", "091020"], "the code itself first")
            #expect(try await api.hsCodes("q=0902&level=6") == ["090210", "090220", "090230", "090240"])
            // Distilled waters (rosewater) are the aqueous distillates of heading 33.01, «عرقیات».
            #expect(try await api.hsCodes("q=" + encoded("عرقيات")) == ["3301", "330190"])
            // («گلابی», pears, also begins with «گلاب»: a word prefix cannot tell them apart; the whole word ranks first.)
            #expect(try await api.hsCodes("q=" + encoded("گلاب")).first == "330190", "rosewater is an aqueous distillate")
        }
    }

    @Test func searchMatchesWordBeginningsAndRanksTheBestFirst() async throws {
        try await withApp { api in
            // «tea» is a word, not the middle of «steaming» (crustaceans, 03.06) or «steam» (84.02).
            // The heading titled «Tea» itself, then the chapter; then other headings with the word.
            let tea = try await api.hsCodes("q=tea")
            #expect(Array(tea.prefix(2)) == ["0902", "09"], "\(tea.prefix(5))")
            #expect(!tea.contains { $0.hasPrefix("0306") || $0.hasPrefix("8402") }, "\(tea)")
            #expect(tea.count <= 50, "a search answers at most 50 rows")
            let teaRows = try await api.get("/v1/hs-codes?q=tea")
            #expect(teaRows.json["next_cursor"] is NSNull, "a search is one page")
            // Among whole-word matches, headings before subheadings: extracts of tea (21.01), then 0902.10….
            #expect(Array(tea.prefix(4)) == ["0902", "09", "2101", "090210"], "\(tea)")
            // Rugs and carpets: chapter 57's headings come first, not manganese ores or corrugated paper.
            let rug = try await api.hsCodes("q=rug")
            #expect(rug.first == "5702", "hand-woven rugs (kelem): \(rug.prefix(5))")
            #expect(!rug.contains { $0.hasPrefix("2602") || $0.hasPrefix("4808") }, "\(rug)")
            let carpet = try await api.hsCodes("q=carpet")
            #expect(Array(carpet.prefix(6)) == ["57", "5701", "5702", "5703", "5704", "5705"], "\(carpet.prefix(8))")
            #expect(Array(try await api.hsCodes("q=" + encoded("فرش")).prefix(2)) == ["57", "5701"])
            // A word prefix: «pistach» finds pistachios; the code is one of Bazaarche's export lines.
            #expect(try await api.hsCodes("q=pistach&level=6") == ["080251", "080252"])
            // A typo finds the close title when nothing matches exactly (زعفرن for زعفران, saffon).
            #expect(try await api.hsCodes("q=" + encoded("زعفرن")).prefix(2).contains("091020"))
            #expect(try await api.hsCodes("q=saffon") == ["0910", "091020"], "not safflower")
            #expect(try await api.hsCodes("q=" + encoded("saffon carpetz")).isEmpty, "every word must be close")
            // Nothing close: an empty page, not an error; nor for punctuation alone.
            #expect(try await api.hsCodes("q=qqqqzzzzxxxx").isEmpty)
            #expect(try await api.hsCodes("q=" + encoded("«»،؛")).isEmpty)
            #expect(try await api.hsCodes("q=" + encoded("%_\\")).isEmpty, "LIKE metacharacters are not wildcards")
            // Filters still apply to a search; a long but valid query is answered.
            #expect(Array(try await api.hsCodes("q=tea&level=6").prefix(4)) == ["090210", "090220", "090230", "090240"])
            let long = Array(repeating: "tea", count: 50).joined(separator: " ")
            #expect(try await api.hsCodes("q=" + encoded(long)).contains("0902"))
        }
    }

    @Test func searchRefusesWhatItCannotAnswer() async throws {
        try await withApp { api in
            // A NUL never reaches the search: the URL itself is refused.
            let nul = try await api.get("/v1/hs-codes?q=tea%00")
            #expect(nul.status == .badRequest && nul.code == "invalid_character", "\(nul.text)")
            for (query, field) in [
                ("q=" + encoded(String(repeating: "چ", count: 201)), "q"), ("q=tea&cursor=azEw", "cursor"),
            ] {
                let reply = try await api.get("/v1/hs-codes?" + query)
                #expect(reply.status == .unprocessableContent && reply.fields == [field], "\(query): \(reply.text)")
            }
        }
    }

    @Test func keySubheadingsHavePersianTitles() async throws {
        try await withApp { api in
            let expected = [
                "570110": "گره‌باف، از پشم", "570210": "گلیم", "040690": "سایر پنیرها", "190590": "نانوایی",
                "210690": "فرآورده‌های خوراکی", "130219": "شیره‌ها و عصاره‌های گیاهی", "711311": "زیورآلات از نقره",
            ]
            for (code, words) in expected {
                let title = try await api.get("/v1/hs-codes/\(code)").string("title_fa")
                #expect(title?.contains(words) == true, "\(code): \(title ?? "null")")
            }
            // Every subheading of the home-product headings the dashboard drills into has one.
            for heading in [
                "5701", "5702", "5703", "5704", "5705", "0406", "1905", "2106", "1302", "0802", "0806", "0813", "0910", "3301",
                "3401", "7113",
            ] {
                let rows = try await api.get("/v1/hs-codes?parent=\(heading)").items
                #expect(!rows.isEmpty && rows.allSatisfy { $0["title_fa"] is String }, "\(heading)")
            }
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
