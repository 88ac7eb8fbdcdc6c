import BazaarcheCore
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where a webhook may be sent. Outside development an endpoint must be https and every address
/// its host resolves to must be public: no loopback, private, link-local (cloud metadata at
/// 169.254.169.254), unique-local, CGNAT, multicast or unspecified address, so that a partner cannot
/// make the service call into the operator's own network. Checked at registration and again before
/// every delivery, since DNS answers change.
public enum WebhookAddress {
    /// Why `text` is not an acceptable endpoint URL, or nil. `allowPrivate` (development) also
    /// accepts http, but only to loopback.
    public static func problem(_ text: String, allowPrivate: Bool) async -> String? {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty
        else { return "must be an absolute https URL" }
        guard scheme == "https" || scheme == "http" else { return "must be an absolute https URL" }
        if url.user != nil || url.password != nil { return "must not contain a user name or password" }
        if url.fragment != nil { return "must not contain a fragment (#…)" }
        let addresses: [Address]
        do {
            addresses = try await resolve(host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host)
        } catch {
            return "has a host that does not resolve (\(host))"
        }
        if addresses.isEmpty { return "has a host that does not resolve (\(host))" }
        if scheme == "http" {
            guard allowPrivate else { return "must use https" }
            return addresses.allSatisfy(\.isLoopback) ? nil : "must use https (http only to loopback in development)"
        }
        if allowPrivate { return nil }
        if let bad = addresses.first(where: { !$0.isPublic }) {
            return "resolves to a private or reserved address (\(bad)); webhooks go to public addresses only"
        }
        return nil
    }

    /// An IPv4 or IPv6 address as bytes.
    public struct Address: Sendable, Equatable, CustomStringConvertible {
        public let bytes: [UInt8]

        public init?(_ text: String) {
            var v4 = in_addr()
            var v6 = in6_addr()
            if inet_pton(AF_INET, text, &v4) == 1 {
                bytes = withUnsafeBytes(of: &v4) { Array($0) }
            } else if inet_pton(AF_INET6, text, &v6) == 1 {
                bytes = withUnsafeBytes(of: &v6) { Array($0) }
            } else {
                return nil
            }
        }

        init(bytes: [UInt8]) { self.bytes = bytes }

        public var description: String {
            if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
            return stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
                .joined(separator: ":")
        }

        /// The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::a.b.c.d) one.
        var embeddedV4: Address? {
            guard bytes.count == 16 else { return nil }
            let mapped = bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff
            let nat64 = bytes[0..<12] == [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0][...]
            return mapped || nat64 ? Address(bytes: Array(bytes[12..<16])) : nil
        }

        var isLoopback: Bool {
            if let v4 = embeddedV4 { return v4.isLoopback }
            if bytes.count == 4 { return bytes[0] == 127 }
            return bytes == [UInt8](repeating: 0, count: 15) + [1]
        }

        /// Globally routable unicast: none of the ranges a webhook must not reach.
        public var isPublic: Bool {
            if let v4 = embeddedV4 { return v4.isPublic }
            let b = bytes
            if b.count == 4 {
                switch (b[0], b[1]) {
                case (0, _), (10, _), (127, _): return false  // "this network", private, loopback
                case (100, 64...127): return false  // CGNAT (RFC 6598)
                case (169, 254): return false  // link-local, cloud metadata
                case (172, 16...31), (192, 168): return false  // private
                case (192, 0) where b[2] == 0: return false  // IETF protocol assignments
                case (198, 18...19): return false  // benchmarking
                case (224...255, _): return false  // multicast, reserved, broadcast
                default: return true
                }
            }
            if b.allSatisfy({ $0 == 0 }) || isLoopback { return false }  // :: and ::1
            if b[0] == 0xfe && b[1] & 0xc0 == 0x80 { return false }  // fe80::/10 link-local
            if b[0] & 0xfe == 0xfc { return false }  // fc00::/7 unique-local
            if b[0] == 0xff { return false }  // multicast
            if b[0] == 0xfe && b[1] & 0xc0 == 0xc0 { return false }  // fec0::/10 site-local (deprecated)
            return true
        }
    }

    /// Every address `host` resolves to (getaddrinfo, off the cooperative pool: it blocks).
    public static func resolve(_ host: String) async throws -> [Address] {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                var hints = addrinfo()
                hints.ai_family = AF_UNSPEC
                #if canImport(Glibc)
                    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                #else
                    hints.ai_socktype = SOCK_STREAM
                #endif
                var result: UnsafeMutablePointer<addrinfo>?
                let status = getaddrinfo(host, nil, &hints, &result)
                guard status == 0 else {
                    continuation.resume(throwing: ResolveError(host: host, status: status))
                    return
                }
                defer { freeaddrinfo(result) }
                var addresses: [Address] = []
                var next = result
                while let info = next {
                    if info.pointee.ai_family == AF_INET, let raw = info.pointee.ai_addr {
                        raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                            var a = $0.pointee.sin_addr
                            addresses.append(Address(bytes: withUnsafeBytes(of: &a) { Array($0) }))
                        }
                    } else if info.pointee.ai_family == AF_INET6, let raw = info.pointee.ai_addr {
                        raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                            var a = $0.pointee.sin6_addr
                            addresses.append(Address(bytes: withUnsafeBytes(of: &a) { Array($0) }))
                        }
                    }
                    next = info.pointee.ai_next
                }
                continuation.resume(returning: addresses)
            }
        }
    }

    struct ResolveError: Error, CustomStringConvertible {
        let host: String
        let status: Int32
        var description: String { "\(host) does not resolve (\(String(cString: gai_strerror(status))))" }
    }
}
