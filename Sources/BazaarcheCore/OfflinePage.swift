import Hummingbird

/// The service's own HTML pages (the export dashboard, the programme page): everything inline and
/// same-origin, so they work offline and nothing may load from elsewhere.
public enum OfflinePage {
    public static func response(_ html: String) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: "text/html; charset=utf-8",
                .contentSecurityPolicy:
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
                .cacheControl: "no-store",
            ],
            body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}
