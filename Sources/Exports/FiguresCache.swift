import BazaarcheCore
import Foundation
import NIOCore
import Synchronization

/// This instance's cache of figures responses, each with the version (sum of
/// `export_figure_versions` over the months it read, and row 0) read in the same snapshot as its
/// figures. An entry is served only while the database still reports that version, so a
/// clearance acknowledged to anyone is in the very next response; with several instances each
/// validates against the database on its own. Bounded in entries and bytes, least recently used
/// out first.
final class FiguresCache: Sendable {
    struct Entry: Sendable {
        var version: Int64
        var headers: HTTPFields
        var body: ByteBuffer
    }

    private struct Slot {
        var entry: Entry
        var used: UInt64
    }

    private struct State {
        var slots: [String: Slot] = [:]
        var bytes = 0
        var clock: UInt64 = 0
    }

    let maxEntries: Int
    let maxBytes: Int
    private let state = Mutex(State())
    /// The computation running per key: requests that miss together wait for one computation
    /// instead of each running the same 15 ms of SQL (after every clearance in their months).
    private let flights = Mutex<[String: Task<Entry, any Error>]>([:])

    init(maxEntries: Int = 256, maxBytes: Int = 32 << 20) {
        self.maxEntries = maxEntries
        self.maxBytes = maxBytes
    }

    /// The entry for `key` if it was computed at `version` or later (counters only grow, so a
    /// later one holds everything `version` saw); an older one is dropped.
    func get(_ key: String, version: Int64) -> Entry? {
        state.withLock { s in
            guard let slot = s.slots[key] else { return nil }
            guard slot.entry.version >= version else {
                s.bytes -= Self.size(key, slot.entry)
                s.slots[key] = nil
                return nil
            }
            s.clock += 1
            s.slots[key]?.used = s.clock
            return slot.entry
        }
    }

    func put(_ key: String, _ entry: Entry) {
        let size = Self.size(key, entry)
        guard size <= maxBytes / 4 else { return }  // one huge export must not empty the cache
        state.withLock { s in
            if let old = s.slots[key] {
                // A slower request that read an older version must not replace a newer entry.
                if old.entry.version > entry.version { return }
                s.bytes -= Self.size(key, old.entry)
            }
            s.clock += 1
            s.slots[key] = Slot(entry: entry, used: s.clock)
            s.bytes += size
            // Misses only, and at most a few hundred entries: a scan is cheap enough.
            while s.slots.count > maxEntries || s.bytes > maxBytes {
                guard let oldest = s.slots.min(by: { $0.value.used < $1.value.used }) else { break }
                s.bytes -= Self.size(oldest.key, oldest.value.entry)
                s.slots[oldest.key] = nil
            }
        }
    }

    var count: Int { state.withLock { $0.slots.count } }

    /// The entry for `key` at `version` or later: cached, or from the computation already running
    /// for the key (if what it read is not older), or from a new one.
    func entry(_ key: String, version: Int64, compute: @escaping @Sendable () async throws -> Entry) async throws -> Entry {
        for _ in 0..<3 {
            if let hit = get(key, version: version) { return hit }
            let flight = flights.withLock { running in
                if let flight = running[key] { return flight }
                let flight = Task {
                    // Leaves the table when done (it was put there under this lock before it could end).
                    defer { _ = self.flights.withLock { $0.removeValue(forKey: key) } }
                    let entry = try await compute()
                    self.put(key, entry)
                    return entry
                }
                running[key] = flight
                return flight
            }
            let entry = try await flight.value
            // An older one began before this request read its version: wait for a newer one.
            if entry.version >= version { return entry }
        }
        // Unreachable in practice (a flight begun after this request's read sees at least its
        // version, the primary's); never answer with an older version all the same.
        return try await compute()
    }

    private static func size(_ key: String, _ entry: Entry) -> Int { key.utf8.count + entry.body.readableBytes + 256 }

    /// FNV-1a, 64 bits: the same on every instance and run (Swift's `Hasher` is seeded per process),
    /// so an entity tag names the same response everywhere.
    static func hash(_ text: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x100_0000_01b3
        }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// Whether `If-None-Match` names `etag` (weak comparison, as RFC 9110 asks for GET).
    static func matches(_ ifNoneMatch: String?, _ etag: String) -> Bool {
        guard let ifNoneMatch else { return false }
        func opaque(_ tag: Substring) -> Substring {
            let t = tag.trimmingCharacters(in: .whitespaces)
            return Substring(t.hasPrefix("W/") ? String(t.dropFirst(2)) : t)
        }
        let wanted = opaque(Substring(etag))
        return ifNoneMatch.split(separator: ",").contains { opaque($0) == wanted || opaque($0) == "*" }
    }
}
