import Foundation
import Mesh
import NetKit
import SignalRMesh

/// Prints one line to stderr and exits: bad flags and bad config never produce a stack trace.
func fail(_ text: String, code: Int32 = 2) -> Never {
    FileHandle.standardError.write(Data("error: \(text)\n".utf8))
    exit(code)
}

ignoreSIGPIPE()

// Block SIGTERM/SIGINT before any thread exists (threads inherit the mask), and take them with sigwait below: a signal
// that arrives early stays pending instead of being lost (a DispatchSource registers asynchronously, and until it does
// an ignored signal is simply discarded).
var shutdownSignals = sigset_t()
sigemptyset(&shutdownSignals)
sigaddset(&shutdownSignals, SIGTERM)
sigaddset(&shutdownSignals, SIGINT)
pthread_sigmask(SIG_BLOCK, &shutdownSignals, nil)
MembershipReloader.blockReloadSignal()  // SIGHUP: reload the peers file (taken by the reloader's thread)

let commandLine: ServerCommandLine
do {
    switch try ServerCommandLine.parse(Array(CommandLine.arguments.dropFirst())) {
    case .help:
        print(ServerCommandLine.usage)
        exit(0)
    case .run(let c):
        commandLine = c
    case .listReplicas(let path):
        do {
            print(try ReplicaListing.render(path: path, environment: ProcessInfo.processInfo.environment), terminator: "")
            exit(0)
        } catch {
            fail("\(error)")
        }
    }
} catch {
    fail(error.text)
}

// Every line names the replica (`node=`), so logs of several replicas can be read together.
LoggingSystem.bootstrap(level: commandLine.logLevel, format: commandLine.logFormat, metadata: ["node": commandLine.node])
let logger = Logger(label: "main")

var serverOptions = commandLine.options
if serverOptions.jwtKey == nil, let key = ProcessInfo.processInfo.environment["JWT_KEY"], !key.isEmpty {
    do {
        serverOptions.jwtKey = try ServerCommandLine.jwtKey(key, source: "JWT_KEY")
    } catch {
        fail(error.text)
    }
}

let config: MeshConfig

do {
    config = try MeshConfig.load(path: commandLine.peersPath, environment: ProcessInfo.processInfo.environment)
    try config.validateForNode(commandLine.node)
} catch {
    fail("\(error)")
}

// The first log line: what runs, as whom, where, and from which file (never the secret).
if let entry = config.replicas.first(where: { $0.id == commandLine.node }) {
    logger.info("starting", [
        "version": SignalRMeshVersion.current, "http": "\(entry.http)", "mesh": "\(entry.mesh)",
        "peers": URL(fileURLWithPath: commandLine.peersPath).standardizedFileURL.path, "cluster": config.cluster,
        "replicas": "\(config.replicas.count)", "log_format": commandLine.logFormat.rawValue,
        "log_level": "\(commandLine.logLevel)", "pid": "\(getpid())",
    ])
}

let replica: ReplicaServer
let httpAddress: SocketAddress
do {
    guard let entry = config.replicas.first(where: { $0.id == commandLine.node }) else { fail("unknown node '\(commandLine.node)'") }
    replica = try ReplicaServer(config: config, options: serverOptions)
    httpAddress = try replica.start(httpAddress: SocketAddress(host: entry.http.host, port: entry.http.port))
} catch {
    fail("\(error)", code: 1)
}

let meshAddress = config.replicas.first { $0.id == commandLine.node }!.mesh
// Written unbuffered: scripts wait for this line.
FileHandle.standardOutput.write(Data("ready node=\(commandLine.node) http=\(httpAddress) mesh=\(meshAddress) page=http://\(httpAddress)/\n".utf8))
logger.info("serving", ["http": "\(httpAddress)", "mesh": "\(meshAddress)", "page": "http://\(httpAddress)/"])

let reloader = MembershipReloader(replica: replica, path: commandLine.peersPath, logger: logger)
reloader.handleSignals()
if commandLine.watchPeers { reloader.watch() }

// SIGTERM/SIGINT: /readyz turns 503 for --drain-delay while everyone is still served, then the graceful shutdown
// (clients told to reconnect, peers told we leave), exit 0 within the drain delay + 5 s. A second signal exits at once.
var received: Int32 = 0
sigwait(&shutdownSignals, &received)
logger.info("draining", ["signal": "\(received)", "drain_delay": "\(serverOptions.drainDelay)s", "then": "shutting down"])
replica.drain(delay: serverOptions.drainDelay, timeout: 4) {
    logger.info("stopped")
    exit(0)
}
sigwait(&shutdownSignals, &received)
exit(0)
