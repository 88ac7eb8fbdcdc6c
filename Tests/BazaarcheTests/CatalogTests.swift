import BazaarcheCore
import Catalog
import Foundation
import Testing

@Suite struct PersianTextTests {
    static let cases: [(String, String)] = [
        ("كيك", "کیک"),  // Arabic kaf and yeh
        ("کتاب‌ها", "کتابها"),  // ZWNJ joins
        ("مُرَبّای", "مربای"),  // diacritics removed
        ("شـــیرینی", "شیرینی"),  // tatweel removed
        ("عسل ۱۰۰٪ طبیعی ٢", "عسل 100٪ طبیعی 2"),  // Persian and Arabic-Indic digits
        ("  Saffron   ZAFARAN ", "saffron zafaran"),
        ("آش رشته", "اش رشته"),
        ("ى ۀ ة", "ی ه ه"),
    ]

    @Test func normalisesPersianVariants() {
        for (input, expected) in Self.cases {
            #expect(PersianText.normalize(input) == expected, "\(input)")
        }
        #expect(PersianText.compact("کتاب ها") == PersianText.compact("کتاب‌ها"))
        #expect(PersianText.compact("کتاب ها") == PersianText.compact("کتابها"))
    }

    /// The SQL twin (used on stored text) must agree with the Swift one (used on queries).
    @Test func sqlAndSwiftNormalisersAgree() async throws {
        try await withApp { api in
            for (input, _) in Self.cases + [("سلام\u{200D}دنیا", ""), ("ٱبر ؤ ئ", "")] {
                let rows = try await api.db.rows("SELECT fa_normalize(\(input))")
                #expect(try rows[0].decode(String.self) == PersianText.normalize(input), "\(input)")
            }
        }
    }

    @Test func gtinCheckDigit() {
        #expect(GTIN.isValid("4006381333931"))
        #expect(GTIN.isValid("5901234123457"))
        #expect(!GTIN.isValid("5901234123458"))
        #expect(!GTIN.isValid("590123412345"))
    }

    @Test func productAndCertificateLifecycles() {
        #expect(ProductStatus.draft.canMove(to: .listed))
        #expect(ProductStatus.listed.canMove(to: .paused))
        #expect(ProductStatus.paused.canMove(to: .listed))
        #expect(!ProductStatus.archived.canMove(to: .listed))
        #expect(!ProductStatus.draft.canMove(to: .paused))
        #expect(CertificateStatus.applied.canMove(to: .underReview))
        #expect(!CertificateStatus.applied.canMove(to: .granted))
        #expect(CertificateStatus.granted.canMove(to: .revoked))
        #expect(!CertificateStatus.revoked.canMove(to: .granted))
        #expect(Slug.isValid("golab-kashan-2"))
        #expect(!Slug.isValid("Golab"))
        #expect(!Slug.isValid("golab--kashan"))
        #expect(!Slug.isValid("-golab"))
    }
}

@Suite struct ProductTests {
    @Test func producerCreatesEditsAndListsItsProduct() async throws {
        try await withApp { api in
            let producer = try await api.producer(status: .verified)
            let created = try await api.post(
                "/v1/products",
                #"""
                {"title_fa":"مربای بالنگ","title_en":"Citron jam","category_code":"food.jams_syrups","unit":"jar",\#
                "price_rials":2500000,"stock":40,"monthly_capacity":200,"min_order_qty":10,"hs_code":"200799"}
                """#,
                token: producer.token)
            #expect(created.status == .created)
            #expect(created.string("status") == "draft")
            #expect(created.int("price_rials") == 2_500_000)
            #expect(created.headers[.eTag] == "\"1\"")
            let id = try #require(created.int("id"))
            // Drafts are invisible to the public.
            #expect(try await api.get("/v1/products/\(id)").status == .notFound)
            let listed = try await api.post("/v1/products/\(id)/transitions", #"{"to":"listed"}"#, token: producer.token)
            #expect(listed.status == .ok)
            #expect(listed.string("listed_at") != nil)
            let anonymousRead = try await api.get("/v1/products/\(id)")
            #expect(anonymousRead.status == .ok)
            #expect((anonymousRead.json["producer"] as? [String: Any])?["province_code"] as? String == "IR-00")
            let etag = try #require(anonymousRead.headers[.eTag])
            let patched = try await api.call(
                .patch, "/v1/products/\(id)", json: #"{"price_rials":2400000,"title_en":null}"#, token: producer.token,
                headers: [.ifMatch: etag])
            #expect(patched.status == .ok)
            #expect(patched.int("price_rials") == 2_400_000)
            #expect(patched.json["title_en"] is NSNull)
            #expect(patched.headers[.eTag] != etag)
            // A second writer holding the old ETag loses.
            let stale = try await api.call(
                .patch, "/v1/products/\(id)", json: #"{"stock":1}"#, token: producer.token, headers: [.ifMatch: etag])
            #expect(stale.status == .preconditionFailed)
            #expect(stale.code == "stale_version")
            let rows = try await api.db.rows("SELECT stock FROM products WHERE id = \(id)")
            #expect(try rows[0].decode(Int.self) == 40)
            let audit = try await api.db.rows(
                "SELECT from_status, to_status FROM audit_events WHERE entity_type = 'product' AND entity_id = \(id)")
            #expect(try audit.map { try $0.decode((String, String).self) }.map { "\($0.0)>\($0.1)" } == ["draft>listed"])
        }
    }

    @Test func onlyVerifiedProducersList() async throws {
        try await withApp { api in
            let applicant = try await api.producer(status: .screened)
            let id = try await api.product(applicant, list: false)
            let refused = try await api.post("/v1/products/\(id)/transitions", #"{"to":"listed"}"#, token: applicant.token)
            #expect(refused.status == .conflict)
            #expect(refused.code == "producer_not_verified")
            #expect(refused.string("producer_status") == "screened")
            let status = try await api.db.rows("SELECT status FROM products WHERE id = \(id)")
            #expect(try status[0].decode(String.self) == "draft")
        }
    }

    @Test func suspendingAProducerHidesItsListings() async throws {
        try await withApp { api in
            let producer = try await api.producer(status: .verified)
            let id = try await api.product(producer)
            #expect(try await api.searchIDs("") == [id])
            let admin = try await api.token(.admin)
            try await api.must(
                .post, "/v1/producers/\(producer.id)/transitions", json: #"{"to":"suspended","reason":"complaint"}"#, token: admin
            )
            #expect(try await api.searchIDs("") == [])
            #expect(try await api.get("/v1/products/\(id)").status == .notFound)
            // The producer still sees its own.
            #expect(try await api.searchIDs("", token: producer.token) == [id])
            try await api.must(.post, "/v1/producers/\(producer.id)/transitions", json: #"{"to":"verified"}"#, token: admin)
            #expect(try await api.searchIDs("") == [id])
        }
    }

    @Test func transitionsFollowTheLifecycle() async throws {
        try await withApp { api in
            let producer = try await api.producer(status: .verified)
            let id = try await api.product(producer)
            #expect(
                try await api.post("/v1/products/\(id)/transitions", #"{"to":"paused"}"#, token: producer.token).status == .ok)
            #expect(try await api.searchIDs("") == [])
            #expect(
                try await api.post("/v1/products/\(id)/transitions", #"{"to":"listed"}"#, token: producer.token).status == .ok)
            #expect(
                try await api.post("/v1/products/\(id)/transitions", #"{"to":"archived"}"#, token: producer.token).status == .ok)
            let back = try await api.post("/v1/products/\(id)/transitions", #"{"to":"listed"}"#, token: producer.token)
            #expect(back.status == .conflict)
            #expect(back.string("current_status") == "archived")
            let edit = try await api.call(.patch, "/v1/products/\(id)", json: #"{"stock":3}"#, token: producer.token)
            #expect(edit.status == .conflict)
        }
    }

    @Test func validationAndReferences() async throws {
        try await withApp { api in
            let producer = try await api.producer(status: .verified)
            let bad = try await api.post(
                "/v1/products", #"{"title_fa":" ","category_code":"food","unit":"piece","price_rials":0,"stock":-1}"#,
                token: producer.token)
            #expect(bad.status == .unprocessableContent)
            #expect(Set(bad.fields) == ["title_fa", "price_rials", "stock"])
            let floatPrice = try await api.post(
                "/v1/products", #"{"title_fa":"x","category_code":"food","unit":"piece","price_rials":10.5,"stock":1}"#,
                token: producer.token)
            #expect(floatPrice.fields == ["price_rials"], "\(floatPrice.text)")
            let unknownCategory = try await api.post(
                "/v1/products", #"{"title_fa":"x","category_code":"spaceships","unit":"piece","price_rials":10,"stock":1}"#,
                token: producer.token)
            #expect(unknownCategory.fields == ["category_code"])
            let reservedChapter = try await api.post(
                "/v1/products",
                #"{"title_fa":"x","category_code":"food","unit":"piece","price_rials":10,"stock":1,"hs_code":"770000"}"#,
                token: producer.token)
            #expect(reservedChapter.fields == ["hs_code"])
            let shortHS = try await api.post(
                "/v1/products",
                #"{"title_fa":"x","category_code":"food","unit":"piece","price_rials":10,"stock":1,"hs_code":"0901"}"#,
                token: producer.token)
            #expect(shortHS.fields == ["hs_code"])
            let badUnit = try await api.post(
                "/v1/products", #"{"title_fa":"x","category_code":"food","unit":"barrel","price_rials":10,"stock":1}"#,
                token: producer.token)
            #expect(badUnit.fields == ["unit"])
            let partner = try await api.token(.partner)
            #expect(
                try await api.post(
                    "/v1/products", #"{"title_fa":"x","category_code":"food","unit":"piece","price_rials":10,"stock":1}"#,
                    token: partner
                ).status == .forbidden)
            let count = try await api.db.rows("SELECT count(*)::int FROM products")
            #expect(try count[0].decode(Int.self) == 0)
        }
    }

    @Test func anotherProducerCannotTouchIt() async throws {
        try await withApp { api in
            let owner = try await api.producer(status: .verified)
            let intruder = try await api.producer(status: .verified)
            let id = try await api.product(owner)
            let draft = try await api.product(owner, title: "پیش‌نویس", list: false)
            #expect(
                try await api.call(.patch, "/v1/products/\(id)", json: #"{"stock":0}"#, token: intruder.token).status == .notFound
            )
            #expect(
                try await api.post("/v1/products/\(id)/transitions", #"{"to":"paused"}"#, token: intruder.token).status
                    == .notFound)
            #expect(
                try await api.call(.put, "/v1/products/\(id)/packaging", json: #"{"level":"basic"}"#, token: intruder.token)
                    .status == .notFound)
            #expect(
                try await api.post(
                    "/v1/products/\(id)/certificates",
                    #"{"kind":"halal","number":"1","issuer":"x","issued_on":"2026-01-01","expires_on":"2027-01-01"}"#,
                    token: intruder.token
                ).status == .notFound)
            #expect(try await api.get("/v1/products/\(draft)", token: intruder.token).status == .notFound)
            #expect(!(try await api.searchIDs("", token: intruder.token)).contains(draft))
            let rows = try await api.db.rows("SELECT stock, status FROM products WHERE id = \(id)")
            #expect(try rows[0].decode((Int, String).self) == (10, "listed"))
            let packaging = try await api.db.rows("SELECT count(*)::int FROM product_packaging")
            #expect(try packaging[0].decode(Int.self) == 0)
        }
    }
}

@Suite struct BrandTests {
    @Test func cooperativeBrandsAndOwnership() async throws {
        try await withApp { api in
            let a = try await api.producer(status: .verified)
            let b = try await api.producer(status: .verified)
            let outsider = try await api.producer(status: .verified)
            let created = try await api.post(
                "/v1/brands",
                #"""
                {"slug":"golab-kashan","name_fa":"گلاب کاشان","name_en":"Kashan Rosewater","owners":[\#(b.id)],\#
                "logo_url":"https://example.org/logo.png"}
                """#,
                token: a.token)
            #expect(created.status == .created)
            let id = try #require(created.int("id"))
            #expect((created.json["owners"] as? [NSNumber])?.map(\.int64Value) == [a.id, b.id].sorted())
            #expect(try await api.call(.patch, "/v1/brands/\(id)", json: #"{"story":"از ۱۳۸۰"}"#, token: b.token).status == .ok)
            #expect(
                try await api.call(.patch, "/v1/brands/\(id)", json: #"{"story":"hijack"}"#, token: outsider.token).status
                    == .notFound)
            let duplicate = try await api.post("/v1/brands", #"{"slug":"golab-kashan","name_fa":"x"}"#, token: outsider.token)
            #expect(duplicate.status == .conflict)
            #expect(duplicate.fields == ["slug"])
            let badSlug = try await api.post("/v1/brands", #"{"slug":"Golab Kashan","name_fa":"x"}"#, token: outsider.token)
            #expect(badSlug.fields == ["slug"])
            let badURL = try await api.post(
                "/v1/brands", #"{"slug":"ok","name_fa":"x","logo_url":"javascript:alert(1)"}"#, token: outsider.token)
            #expect(badURL.fields == ["logo_url"])
            // A brand the producer does not own cannot go on its product.
            let foreign = try await api.post(
                "/v1/products",
                #"{"title_fa":"x","category_code":"herbal","unit":"bottle","price_rials":10,"stock":1,"brand_id":\#(id)}"#,
                token: outsider.token)
            #expect(foreign.fields == ["brand_id"])
            let publicRead = try await api.get("/v1/brands/\(id)")
            #expect(publicRead.string("story") == "از ۱۳۸۰")
            #expect(try await api.get("/v1/brands?q=" + encoded("گلاب")).items.count == 1)
            #expect(try await api.get("/v1/brands?producer_id=\(outsider.id)").items.isEmpty)
        }
    }
}

@Suite struct QualityTests {
    @Test func packagingIsDeclaredWithEveryDetail() async throws {
        try await withApp { api in
            let producer = try await api.producer(status: .verified)
            let id = try await api.product(producer)
            let body =
                #"""
                {"level":"retail","materials":["شیشه","کاغذ"],"net_weight_g":450,"dimensions_mm":{"l":80,"w":80,"h":120},\#
                "label_languages":["fa","en"],"gtin":"5901234123457"}
                """#
            let put = try await api.call(.put, "/v1/products/\(id)/packaging", json: body, token: producer.token)
            #expect(put.status == .ok)
            #expect(put.string("declared_level") == "retail")
            #expect(put.json["materials"] as? [String] == ["شیشه", "کاغذ"])
            #expect((put.json["dimensions_mm"] as? [String: Any])?["h"] as? Int == 120)
            // Declared is not approved (PackagingReviewTests).
            #expect(try await api.get("/v1/products/\(id)").string("packaging_level") == "none")
            let elsewhere = try await api.token(.supervisor, province: "IR-23")
            #expect(try await api.call(.put, "/v1/products/\(id)/packaging", json: body, token: elsewhere).status == .notFound)
            #expect(
                try await api.call(.put, "/v1/products/\(id)/packaging", json: body, token: try await api.token(.partner)).status
                    == .forbidden)
            let badGTIN = try await api.call(
                .put, "/v1/products/\(id)/packaging", json: #"{"level":"basic","gtin":"5901234123458"}"#, token: producer.token)
            #expect(badGTIN.fields == ["gtin"])
            #expect(try await api.get("/v1/products/\(id)/packaging").string("gtin") == "5901234123457")
        }
    }

    @Test func certificatesExpireWithoutAnyJob() async throws {
        try await withApp { api in
            let producer = try await api.producer(status: .verified)
            let id = try await api.product(producer)
            let cert = try await api.post(
                "/v1/products/\(id)/certificates",
                #"""
                {"kind":"health_license","number":"12/3456","issuer":"سازمان غذا و دارو","issued_on":"2025-01-01",\#
                "expires_on":"2030-01-01"}
                """#,
                token: producer.token)
            #expect(cert.status == .created)
            #expect(cert.string("status") == "applied")
            let certID = try #require(cert.int("id"))
            let supervisor = try await api.token(.supervisor, province: "IR-00")
            // Producers do not grant their own certificates; no skipping review.
            #expect(
                try await api.post("/v1/certificates/\(certID)/transitions", #"{"to":"granted"}"#, token: producer.token).status
                    == .forbidden)
            let skip = try await api.post("/v1/certificates/\(certID)/transitions", #"{"to":"granted"}"#, token: supervisor)
            #expect(skip.status == .conflict)
            #expect(
                try await api.post("/v1/certificates/\(certID)/transitions", #"{"to":"under_review"}"#, token: supervisor).status
                    == .ok)
            let granted = try await api.post("/v1/certificates/\(certID)/transitions", #"{"to":"granted"}"#, token: supervisor)
            #expect(granted.string("effective_status") == "granted")
            #expect(try await api.get("/v1/products/\(id)").json["valid_certificates"] as? [String] == ["health_license"])
            #expect(try await api.searchIDs("certificate=health_license") == [id])

            // Time passes: the expiry date is now in the past. Nothing runs; every read says expired.
            try await api.db.execute(
                "UPDATE certificates SET issued_on = current_date - 400, expires_on = current_date - 1 WHERE id = \(certID)")
            let list = try await api.get("/v1/products/\(id)/certificates")
            #expect(list.items.first?["status"] as? String == "granted")
            #expect(list.items.first?["effective_status"] as? String == "expired")
            #expect(try await api.get("/v1/products/\(id)").json["valid_certificates"] as? [String] == [])
            #expect(try await api.searchIDs("certificate=health_license") == [])

            let elsewhere = try await api.token(.supervisor, province: "IR-23")
            #expect(
                try await api.post(
                    "/v1/certificates/\(certID)/transitions", #"{"to":"revoked","reason":"x"}"#, token: elsewhere
                ).status == .notFound)
            let noReason = try await api.post("/v1/certificates/\(certID)/transitions", #"{"to":"revoked"}"#, token: supervisor)
            #expect(noReason.fields == ["reason"])
            let audit = try await api.db.rows(
                "SELECT to_status FROM audit_events WHERE entity_type = 'certificate' AND entity_id = \(certID) ORDER BY id")
            #expect(try audit.map { try $0.decode(String.self) } == ["applied", "under_review", "granted"])
        }
    }

    @Test func certificateDatesAreValidated() async throws {
        try await withApp { api in
            let producer = try await api.producer(status: .verified)
            let id = try await api.product(producer)
            let backwards = try await api.post(
                "/v1/products/\(id)/certificates",
                #"{"kind":"halal","number":"1","issuer":"x","issued_on":"2026-01-01","expires_on":"2025-01-01"}"#,
                token: producer.token)
            #expect(backwards.fields == ["expires_on"])
            let badKind = try await api.post(
                "/v1/products/\(id)/certificates",
                #"{"kind":"gold_star","number":"1","issuer":"x","issued_on":"2026-01-01","expires_on":"2027-01-01"}"#,
                token: producer.token)
            #expect(badKind.fields == ["kind"])
        }
    }
}

@Suite struct CatalogEdgeTests {
    @Test func weakOrStaleTagsNeverMatchIfMatch() async throws {
        try await withApp { api in
            let producer = try await api.producer(status: .verified)
            let id = try await api.product(producer)
            let etag = try #require(try await api.get("/v1/products/\(id)").headers[.eTag])
            let weak = try await api.call(
                .patch, "/v1/products/\(id)", json: #"{"stock":1}"#, token: producer.token, headers: [.ifMatch: "W/\(etag)"])
            #expect(weak.status == .preconditionFailed)
            let any = try await api.call(
                .patch, "/v1/products/\(id)", json: #"{"stock":2}"#, token: producer.token, headers: [.ifMatch: "*"])
            #expect(any.status == .ok)
            #expect(any.int("stock") == 2)
        }
    }

    @Test func archivedProductsKeepTheirPackaging() async throws {
        try await withApp { api in
            let producer = try await api.producer(status: .verified)
            let id = try await api.product(producer)
            try await api.approvedPackaging(id, "export", token: producer.token)
            try await api.must(.post, "/v1/products/\(id)/transitions", json: #"{"to":"archived"}"#, token: producer.token)
            let archived = try await api.call(
                .put, "/v1/products/\(id)/packaging", json: #"{"level":"retail"}"#, token: producer.token)
            #expect(archived.status == .conflict)
            #expect(archived.code == "product_archived")
            #expect(try await api.get("/v1/products/\(id)/packaging", token: producer.token).string("declared_level") == "export")
        }
    }

    @Test func buyersSeeOnlyGrantedCertificates() async throws {
        try await withApp { api in
            let producer = try await api.producer(status: .verified)
            let id = try await api.product(producer)
            try await api.must(
                .post, "/v1/products/\(id)/certificates",
                json: #"{"kind":"organic","number":"O-1","issuer":"x","issued_on":"2026-01-01","expires_on":"2028-01-01"}"#,
                token: producer.token, status: .created)
            #expect(try await api.get("/v1/products/\(id)/certificates").items.isEmpty)
            let partner = try await api.token(.partner)
            #expect(try await api.get("/v1/products/\(id)/certificates", token: partner).items.isEmpty)
            #expect(try await api.get("/v1/products/\(id)/certificates", token: producer.token).items.count == 1)
        }
    }

    @Test func cursorsBelongToTheirSearch() async throws {
        try await withApp { api in
            let producer = try await api.producer(status: .verified)
            for i in 0..<3 { _ = try await api.product(producer, title: "کیک \(i)", category: "food.bakery") }
            let first = try await api.get("/v1/products?category_code=food&limit=1")
            let cursor = try #require(first.json["next_cursor"] as? String)
            #expect(try await api.get("/v1/products?category_code=food&limit=1&cursor=\(cursor)").status == .ok)
            #expect(
                try await api.get("/v1/products?category_code=dairy&limit=1&cursor=\(cursor)").status == .unprocessableContent)
        }
    }
}

@Suite struct CatalogScopeTests {
    @Test func draftsAreVisibleToTheirProvinceOnly() async throws {
        try await withApp { api in
            let producer = try await api.producer(province: "IR-00", status: .verified)
            let draft = try await api.product(producer, list: false)
            let markazi = try await api.token(.supervisor, province: "IR-00")
            let tehran = try await api.token(.supervisor, province: "IR-23")
            #expect(try await api.get("/v1/products/\(draft)", token: markazi).status == .ok)
            #expect(try await api.get("/v1/products/\(draft)", token: tehran).status == .notFound)
            #expect(try await api.get("/v1/products/\(draft)/packaging", token: tehran).status == .notFound)
            #expect(try await api.get("/v1/products/\(draft)/certificates", token: tehran).status == .notFound)
            // A supervisor reviews but does not edit listings.
            #expect(
                try await api.call(.patch, "/v1/products/\(draft)", json: #"{"stock":1}"#, token: markazi).status == .forbidden)
        }
    }

    @Test func brandOwnersCannotDropThemselvesOrBeDroppedByOutsiders() async throws {
        try await withApp { api in
            let a = try await api.producer(status: .verified)
            let b = try await api.producer(status: .verified)
            let id = try #require(
                try await api.post(
                    "/v1/brands", #"{"slug":"shared","name_fa":"مشترک","owners":[\#(b.id)]}"#, token: a.token
                ).int("id"))
            let selfRemoval = try await api.call(.patch, "/v1/brands/\(id)", json: #"{"owners":[\#(b.id)]}"#, token: a.token)
            #expect(selfRemoval.status == .unprocessableContent)
            #expect(selfRemoval.fields == ["owners"])
            let owners = try await api.db.rows("SELECT count(*)::int FROM brand_owners WHERE brand_id = \(id)")
            #expect(try owners[0].decode(Int.self) == 2)
            let admin = try await api.token(.admin)
            #expect(try await api.call(.patch, "/v1/brands/\(id)", json: #"{"owners":[\#(a.id)]}"#, token: admin).status == .ok)
        }
    }
}
