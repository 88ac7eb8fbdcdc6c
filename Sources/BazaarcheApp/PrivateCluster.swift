import BazaarcheCore
import Foundation
import Logging

/// A PostgreSQL cluster private to one working folder, for running without DATABASE_URL.
///
/// It listens on a unix socket only (no TCP port to collide with or expose) and trusts local
/// connections. initdb refuses to run as root, so as root the cluster belongs to the `postgres`
/// system user and every command runs through `runuser`.
public struct PrivateCluster: Sendable {
    public let dataDirectory: String
    public let socketDirectory: String
    public let user = "bazaarche"
    let binDirectory: String
    let runAs: String?
    let logger: Logger

    /// - Parameter fallbackParent: where to put the cluster instead when, started as root, the
    ///   `postgres` user cannot reach `directory` (a checkout under /root, say). Nil: fail instead.
    public init(directory: String, logger: Logger, fallbackParent: String? = nil) throws {
        var dir = URL(fileURLWithPath: directory, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
            .standardizedFileURL.path
        binDirectory = try Self.findBinaries()
        runAs = geteuid() == 0 ? "postgres" : nil
        self.logger = logger
        if let runAs {
            let parent = (dir as NSString).deletingLastPathComponent
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
            let (reachable, _) = try Subprocess.run("/usr/sbin/runuser", ["-u", runAs, "--", "test", "-x", parent])
            if reachable != 0 {
                guard let fallbackParent else { throw ClusterError.unreachable(parent, runAs) }
                dir = fallbackParent + "/bazaarche-" + StableHash.fnv1a(dir) + "/" + (dir as NSString).lastPathComponent
                try FileManager.default.createDirectory(
                    atPath: (dir as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            }
        }
        dataDirectory = dir
        // Unix socket paths are limited to 107 bytes; fall back to /tmp for deep folders.
        let socket = dir + "-socket"
        if (socket + "/.s.PGSQL.5432").utf8.count < 100 {
            socketDirectory = socket
        } else {
            socketDirectory = "/tmp/bazaarche-" + StableHash.fnv1a(dir)
        }
    }

    static func findBinaries() throws -> String {
        if let explicit = ProcessInfo.processInfo.environment["BAZAARCHE_PG_BINDIR"] { return explicit }
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        for version in versions.compactMap(Int.init).sorted(by: >) {
            let bin = "\(root)/\(version)/bin"
            if FileManager.default.isExecutableFile(atPath: bin + "/initdb")
                && FileManager.default.isExecutableFile(atPath: bin + "/postgres")
            {
                return bin
            }
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            if FileManager.default.isExecutableFile(atPath: "\(dir)/initdb")
                && FileManager.default.isExecutableFile(atPath: "\(dir)/postgres")
            {
                return String(dir)
            }
        }
        throw ClusterError.binariesNotFound
    }

    /// Creates the cluster if it does not exist and starts it unless it is already running.
    /// Returns true when this call started it (and so should stop it).
    public func start(extraOptions: String = "") throws -> Bool {
        let fm = FileManager.default
        try fm.createDirectory(atPath: socketDirectory, withIntermediateDirectories: true)
        if !fm.fileExists(atPath: dataDirectory + "/PG_VERSION") {
            try fm.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
            try ownByRunUser(dataDirectory)
            logger.info("creating private PostgreSQL cluster", metadata: ["path": .string(dataDirectory)])
            try run(
                "initdb", ["-D", dataDirectory, "-U", user, "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8"])
        }
        try ownByRunUser(socketDirectory)
        if !fm.fileExists(atPath: dataDirectory + ".log") { _ = fm.createFile(atPath: dataDirectory + ".log", contents: nil) }
        try ownByRunUser(dataDirectory + ".log")
        if (try? run("pg_ctl", ["-D", dataDirectory, "status"])) != nil {
            logger.info("private PostgreSQL cluster already running", metadata: ["path": .string(dataDirectory)])
            return false
        }
        let options =
            """
            -c listen_addresses='' -c unix_socket_directories='\(socketDirectory)' -c unix_socket_permissions=0770 -c\
             max_connections=200 -c shared_buffers=256MB \(extraOptions)
            """
        try run("pg_ctl", ["-D", dataDirectory, "-l", dataDirectory + ".log", "-o", options, "-w", "-t", "60", "start"])
        logger.info("private PostgreSQL cluster started", metadata: ["socket": .string(socketDirectory)])
        return true
    }

    public func stop() {
        do {
            try run("pg_ctl", ["-D", dataDirectory, "-m", "fast", "-w", "stop"])
            logger.info("private PostgreSQL cluster stopped")
        } catch {
            logger.error("could not stop private PostgreSQL cluster", metadata: ["error": "\(error)"])
        }
    }

    func ownByRunUser(_ path: String) throws {
        guard let runAs else { return }
        let (status, output) = try Subprocess.run("/bin/chown", ["-R", "\(runAs):\(runAs)", path])
        guard status == 0 else { throw ClusterError.commandFailed("chown \(path)", output) }
    }

    @discardableResult
    func run(_ tool: String, _ arguments: [String]) throws -> String {
        let (status, output) =
            if let runAs {
                try Subprocess.run("/usr/sbin/runuser", ["-u", runAs, "--", "\(binDirectory)/\(tool)"] + arguments)
            } else {
                try Subprocess.run("\(binDirectory)/\(tool)", arguments)
            }
        guard status == 0 else { throw ClusterError.commandFailed(tool, output) }
        return output
    }
}

/// posix_spawn + waitpid. Foundation's Process occasionally never notices a child's exit on Linux,
/// and output goes to a file, not a pipe: `pg_ctl start` leaves the postmaster holding its
/// output open, so reading a pipe to its end would never return.
enum Subprocess {
    static func run(_ path: String, _ arguments: [String]) throws -> (Int32, String) {
        let outputPath = NSTemporaryDirectory() + "bazaarche-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).out"
        defer { unlink(outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, nil, argv, environ)
        guard spawned == 0 else { throw ClusterError.commandFailed(path, String(cString: strerror(spawned))) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let exited = (status & 0x7f) == 0
        return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), output)
    }
}

public enum ClusterError: Error, CustomStringConvertible {
    case binariesNotFound
    case commandFailed(String, String)
    case unreachable(String, String)
    public var description: String {
        switch self {
        case .binariesNotFound:
            return
                """
                PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin and PATH); install them with `apt-get\
                 install postgresql` or set DATABASE_URL
                """
        case .commandFailed(let tool, let output): return "\(tool) failed: \(output)"
        case .unreachable(let path, let user):
            return
                """
                the \(user) user cannot reach \(path) (a parent folder is not searchable); run from a folder it can reach, set\
                 BAZAARCHE_DATA_DIR, or set DATABASE_URL
                """
        }
    }
}
